package dev.onceflow.dispatcher;

import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.common.WorkflowStore;
import dev.onceflow.common.workflow.DefinitionException;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.common.workflow.Workflows;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Set;
import javax.sql.DataSource;
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
 * stop dispatching for the workflows already known. A stored definition that no longer parses
 * (stored by an older version whose rules have since tightened, or edited in the table) is
 * reported once (WARN naming workflow id, version and the cause) and left out of the snapshot;
 * the other workflows are refreshed as usual. Its records are then dead-lettered as
 * {@code UNKNOWN_WORKFLOW} until a definition that parses is deployed.
 *
 * <p>Thread-safe. Created and closed by its owner (the command that runs the dispatcher); the
 * constructor loads the first snapshot and starts the refresh thread.
 */
public final class StoreCatalog implements WorkflowCatalog, AutoCloseable {

    /** Reads the latest version of every workflow, each definition parsed on its own. */
    @FunctionalInterface
    public interface Loader {
        List<Row> latest() throws Exception;
    }

    /** Parses one stored definition; may fail for that definition alone. */
    @FunctionalInterface
    public interface Definition {
        Workflow parse() throws DefinitionException;
    }

    /** The latest stored version of one workflow, not yet parsed. */
    public record Row(String id, int version, boolean enabled, Definition definition) {
        public Row {
            Objects.requireNonNull(id, "id");
            Objects.requireNonNull(definition, "definition");
        }

        /** A row whose definition is parsed already. */
        public static Row of(WorkflowStore.Stored stored) {
            Workflow wf = stored.workflow();
            return new Row(wf.id(), wf.version(), stored.enabled(), () -> wf);
        }
    }

    /** The latest version of every workflow, enabled or not; each definition parsed when the catalog refreshes. */
    static final String LATEST = "SELECT DISTINCT ON (id) id, version, definition::text, enabled FROM workflows "
            + "ORDER BY id, version DESC";

    static final Duration MISS_REFRESH_INTERVAL = Duration.ofMillis(500);

    private static final Logger log = LoggerFactory.getLogger(StoreCatalog.class);

    private final Loader loader;
    private final Clock clock;
    private final ScheduledExecutorService refresher;
    private final AtomicLong lastMissRefresh;
    private volatile Map<String, Entry> snapshot = Map.of();
    /** Definitions already reported as not parsing ("id@version"), so each is reported once. Guarded by this. */
    private final Set<String> reported = new HashSet<>();

    /**
     * The catalog of the {@code workflows} table in {@code dataSource}. Reads the rows itself, so
     * that a definition that no longer parses is skipped alone.
     */
    public StoreCatalog(DataSource dataSource, OnceflowConfig config) {
        this(rows(dataSource), Duration.ofMillis(config.getLong(OnceflowConfig.DISPATCHER_REFRESH_MS)), Clock.systemUTC());
    }

    /**
     * The catalog of the {@code workflows} table that {@code store} writes to; as
     * {@link #StoreCatalog(DataSource, OnceflowConfig)}: each definition parsed on its own, one that
     * no longer parses reported and skipped.
     */
    public StoreCatalog(WorkflowStore store, OnceflowConfig config) {
        this(store.dataSource(), config);
    }

    private static Loader rows(DataSource dataSource) {
        Objects.requireNonNull(dataSource, "dataSource");
        return () -> {
            List<Row> rows = new ArrayList<>();
            try (Connection c = dataSource.getConnection();
                 Statement s = c.createStatement();
                 ResultSet rs = s.executeQuery(LATEST)) {
                while (rs.next()) {
                    String id = rs.getString(1);
                    int version = rs.getInt(2);
                    byte[] json = rs.getString(3).getBytes(StandardCharsets.UTF_8);
                    rows.add(new Row(id, version, rs.getBoolean(4),
                            () -> Workflows.parse("stored workflow '" + id + "' version " + version, json)));
                }
            }
            return rows;
        };
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
            for (Row row : loader.latest()) {
                Workflow wf = parse(row);
                if (wf != null) {
                    next.put(row.id(), new Entry(row.id(), row.version(), row.enabled(), wf.trigger(), wf.ordered()));
                }
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

    /** The row's workflow, or null (reported once) when its definition does not parse: that workflow only is skipped. */
    private Workflow parse(Row row) {
        String which = row.id() + "@" + row.version();
        try {
            Workflow wf = row.definition().parse();
            reported.remove(which);
            return wf;
        } catch (DefinitionException | RuntimeException e) {
            if (reported.add(which)) {
                log.warn("workflow '{}' version {} is skipped: its stored definition no longer parses ({}); its records go to "
                        + "the DLQ as unknown until a definition that parses is deployed; the other workflows are not affected",
                        row.id(), row.version(), String.valueOf(e.getMessage()).replace('\n', ' '));
            } else {
                log.debug("workflow '{}' version {} still skipped: {}", row.id(), row.version(), e.getMessage());
            }
            return null;
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
