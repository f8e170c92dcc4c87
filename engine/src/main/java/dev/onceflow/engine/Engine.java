package dev.onceflow.engine;

import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.common.WorkflowStore;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The engine role: {@code engine.workers} worker threads ({@link EngineLoop}) in one consumer
 * group. Start as many engine processes as the partition count allows; they share the group.
 * Thread-safe; owned by whoever started it, who must {@link #close()} it.
 */
public final class Engine implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Engine.class);
    private static final AtomicInteger INSTANCES = new AtomicInteger();

    private final EngineSettings settings;
    private final DataSource dataSource;
    private final EngineHooks hooks;
    private final Clock clock;
    private final EngineMetrics metrics = new EngineMetrics();
    private final List<EngineLoop> loops = new ArrayList<>();
    private final List<Thread> threads = new ArrayList<>();
    private final String name;
    private StallWatch stallWatch;
    private final RetentionSettings retentionSettings;
    private Retention retention;

    public Engine(OnceflowConfig config, DataSource dataSource) {
        this(config, dataSource, EngineHooks.NONE, Clock.systemUTC(), false);
    }

    /** @param unsafe the negative control: no processed-key check, every delivered event runs again. Never in production. */
    public Engine(OnceflowConfig config, DataSource dataSource, EngineHooks hooks, Clock clock, boolean unsafe) {
        this.settings = EngineSettings.from(config, unsafe);
        this.retentionSettings = RetentionSettings.from(config);
        this.dataSource = dataSource;
        this.hooks = hooks;
        this.clock = clock;
        this.name = processName(INSTANCES.incrementAndGet());
    }

    /**
     * A name unique in the group and readable in it: host, pid, and the engine's number in this
     * process ({@code engine-web-3-4711-1}); restarts and replicas no longer all call themselves
     * {@code engine-1}. Member and transactional ids carry it.
     */
    static String processName(int instance) {
        String host = System.getenv().getOrDefault("HOSTNAME", "");
        if (host.isBlank()) {
            try {
                host = java.net.InetAddress.getLocalHost().getHostName();
            } catch (java.io.IOException e) {
                host = "host";
            }
        }
        host = host.replaceAll("[^A-Za-z0-9.-]", "-");
        return "engine-" + host + "-" + ProcessHandle.current().pid() + "-" + instance;
    }

    public synchronized void start() {
        if (!loops.isEmpty()) {
            throw new IllegalStateException(name + " already started");
        }
        if (settings.unsafe()) {
            LOG.warn("{} runs UNSAFE: no processed-key check. Nodes will run twice after failures.", name);
        }
        WorkflowCache workflows = new WorkflowCache(new WorkflowStore(dataSource));
        for (int i = 0; i < settings.workers(); i++) {
            EngineLoop loop = new EngineLoop(name + "-w" + i, settings, dataSource, workflows, metrics, hooks, clock);
            Thread t = new Thread(loop, "onceflow-" + name + "-w" + i);
            loops.add(loop);
            threads.add(t);
            t.start();
        }
        stallWatch = new StallWatch(settings, dataSource, clock);
        stallWatch.start();
        retention = new Retention(retentionSettings, dataSource, metrics);
        retention.start();
        LOG.info("{} started with {} workers in group {}", name, settings.workers(), settings.groupId());
    }

    /**
     * What a person should look at now: stalled partitions (a hanging transaction, offsets that
     * stopped moving while records wait) and executions that have not finished for too long.
     * Empty when all is well; refreshed every few seconds.
     */
    public List<String> problems() {
        StallWatch w = stallWatch;
        return w == null ? List.of() : w.problems();
    }

    public EngineMetrics metrics() {
        return metrics;
    }

    public String name() {
        return name;
    }

    /** Stops every worker: each finishes or aborts its batch, then leaves the group. */
    @Override
    public synchronized void close() {
        loops.forEach(EngineLoop::stop);
        for (EngineLoop loop : loops) {
            try {
                if (!loop.awaitStopped(Duration.ofSeconds(30))) {
                    LOG.warn("{}: a worker did not stop within 30 s", name);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
        if (stallWatch != null) {
            stallWatch.close();
        }
        if (retention != null) {
            retention.close();
        }
        LOG.info("{} stopped", name);
    }
}
