package dev.onceflow.dispatcher;

import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.common.WorkflowStore;
import dev.onceflow.common.workflow.Workflow;
import java.time.Clock;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A {@link WorkflowCatalog} over the {@code workflows} table: a snapshot of the latest version of
 * every workflow, replaced as a whole every {@code dispatcher.catalog.refresh.ms} by a daemon
 * thread. A lookup that misses refreshes at once (at most every {@link #MISS_REFRESH_INTERVAL}),
 * so a workflow deployed a moment ago is found without waiting for the next refresh, while a
 * flood of records naming unknown workflows cannot flood the database.
 *
 * <p>A failed refresh logs a warning and keeps the previous snapshot: a database outage does not
 * stop dispatching for the workflows already known.
 *
 * <p>Thread-safe. Created and closed by its owner (the command that runs the dispatcher); the
 * constructor loads the first snapshot and starts the refresh thread.
 */
public final class StoreCatalog implements WorkflowCatalog, AutoCloseable {

    /** Reads the latest version of every workflow; {@link WorkflowStore#latest()} in production. */
    @FunctionalInterface
    public interface Loader {
        List<WorkflowStore.Stored> latest() throws Exception;
    }

    static final Duration MISS_REFRESH_INTERVAL = Duration.ofMillis(500);

    private static final Logger log = LoggerFactory.getLogger(StoreCatalog.class);

    private final Loader loader;
    private final Clock clock;
    private final ScheduledExecutorService refresher;
    private final AtomicLong lastMissRefresh;
    private volatile Map<String, Entry> snapshot = Map.of();

    public StoreCatalog(WorkflowStore store, OnceflowConfig config) {
        this(store::latest, Duration.ofMillis(config.getLong(OnceflowConfig.DISPATCHER_REFRESH_MS)), Clock.systemUTC());
    }

    public StoreCatalog(Loader loader, Duration refreshInterval, Clock clock) {
        this.loader = Objects.requireNonNull(loader, "loader");
        this.clock = Objects.requireNonNull(clock, "clock");
        // The first miss may refresh at once (not Long.MIN_VALUE: now - MIN_VALUE overflows).
        this.lastMissRefresh = new AtomicLong(clock.millis() - MISS_REFRESH_INTERVAL.toMillis());
        refresh();
        this.refresher = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "onceflow-catalog-refresh");
            t.setDaemon(true);
            return t;
        });
        long ms = refreshInterval.toMillis();
        refresher.scheduleWithFixedDelay(this::refresh, ms, ms, TimeUnit.MILLISECONDS);
    }

    @Override
    public Optional<Entry> find(String workflowId) {
        Entry entry = snapshot.get(workflowId);
        if (entry == null && missRefreshAllowed()) {
            refresh();
            entry = snapshot.get(workflowId);
        }
        return Optional.ofNullable(entry);
    }

    /** Only one caller per interval refreshes on a miss; the others answer from the snapshot. */
    private boolean missRefreshAllowed() {
        long now = clock.millis();
        long last = lastMissRefresh.get();
        return now - last >= MISS_REFRESH_INTERVAL.toMillis() && lastMissRefresh.compareAndSet(last, now);
    }

    /**
     * Reloads the snapshot now. Never throws: on failure the previous snapshot stays. Synchronized
     * so that a slow refresh cannot overwrite a newer one.
     */
    public synchronized void refresh() {
        try {
            Map<String, Entry> next = new HashMap<>();
            for (WorkflowStore.Stored stored : loader.latest()) {
                Workflow wf = stored.workflow();
                next.put(wf.id(), new Entry(wf.id(), wf.version(), stored.enabled(), wf.trigger()));
            }
            snapshot = Map.copyOf(next);
            log.debug("workflow catalog refreshed: {} workflows", next.size());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            log.warn("workflow catalog refresh interrupted; keeping the previous {} workflows", snapshot.size());
        } catch (Exception e) {
            log.warn("workflow catalog refresh failed; keeping the previous {} workflows and retrying: {}",
                    snapshot.size(), e.toString());
        }
    }

    /** The current snapshot, for operators and tests. */
    @Override
    public java.util.Collection<Entry> all() {
        return snapshot.values();
    }

    public Map<String, Entry> snapshot() {
        return snapshot;
    }

    @Override
    public void close() {
        refresher.shutdownNow();
    }
}
