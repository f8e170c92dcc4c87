package dev.onceflow.engine;

import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.common.WorkflowStore;
import dev.onceflow.common.metrics.MeterNames;
import dev.onceflow.common.metrics.OnceflowMeters;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
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
    private final OnceflowMeters meters;
    /** Whether this engine created {@link #meters} and so closes them. */
    private final boolean ownsMeters;
    private final EngineMetrics metrics;
    private final List<OnceflowMeters.Registration> gauges = new ArrayList<>();
    private final List<EngineLoop> loops = new ArrayList<>();
    private final List<Thread> threads = new ArrayList<>();
    private final String name;
    private volatile StallWatch stallWatch;
    /** The started workers, for readers on other threads (a metrics scrape). */
    private volatile List<EngineLoop> started = List.of();
    private final int httpPort;
    private dev.onceflow.common.http.RoleServer http;
    private final RetentionSettings retentionSettings;
    private Retention retention;
    private dev.onceflow.common.metrics.AbsorbedDuplicatesReport duplicatesReport;
    private final dev.onceflow.common.tracing.Tracing givenTracing;
    /** Traces set up from the environment by {@link #start()}, closed by {@link #close()}; null otherwise. */
    private dev.onceflow.common.tracing.Tracing ownTracing;

    public Engine(OnceflowConfig config, DataSource dataSource) {
        this(config, dataSource, EngineHooks.NONE, Clock.systemUTC(), false);
    }

    /**
     * An engine with meters of its own.
     *
     * @param unsafe the negative control: no processed-key check, every delivered event runs again. Never in production.
     */
    public Engine(OnceflowConfig config, DataSource dataSource, EngineHooks hooks, Clock clock, boolean unsafe) {
        this(config, dataSource, hooks, clock, unsafe, null);
    }

    /**
     * An engine that registers its meters on the process's {@code meters} (shared with the other
     * roles of the process, not closed by this engine); null: meters of its own.
     */
    public Engine(OnceflowConfig config, DataSource dataSource, EngineHooks hooks, Clock clock, boolean unsafe,
                  OnceflowMeters meters) {
        this(config, dataSource, hooks, clock, unsafe, meters, null);
    }

    /**
     * An engine whose spans go to {@code tracing} (owned by the caller); null: traces as the
     * process's {@code OTEL_*} environment says (ADR 0019), set up at {@link #start()}, closed by {@link #close()}.
     */
    public Engine(OnceflowConfig config, DataSource dataSource, EngineHooks hooks, Clock clock, boolean unsafe,
                  OnceflowMeters meters, dev.onceflow.common.tracing.Tracing tracing) {
        this.givenTracing = tracing;
        this.settings = EngineSettings.from(config, unsafe);
        this.retentionSettings = RetentionSettings.from(config);
        this.dataSource = dataSource;
        this.hooks = hooks;
        this.clock = clock;
        this.name = processName(INSTANCES.incrementAndGet());
        this.httpPort = config.getInt(dev.onceflow.common.OnceflowConfig.ENGINE_HTTP_PORT);
        this.ownsMeters = meters == null;
        this.meters = ownsMeters ? new OnceflowMeters() : meters;
        this.metrics = new EngineMetrics(this.meters);
        gauges.add(this.meters.gauges(MeterNames.CONSUMER_LAG,
                "Records not yet consumed, per partition this process's consumers own",
                List.of(MeterNames.GROUP, MeterNames.TOPIC, MeterNames.PARTITION), this::lag));
        gauges.add(this.meters.gauges(MeterNames.EXECUTIONS_STUCK,
                "Executions not finished for longer than engine.stuck.execution.report.ms (waiting on a timer not yet overdue is not stuck)",
                List.of(), this::stuck));
        gauges.add(this.meters.gauges(MeterNames.LANE_QUEUED,
                "Executions queued behind another of their ordering key (ADR 0021), per workflow, at the stall watch's last check",
                List.of(MeterNames.WORKFLOW), () -> queued(false)));
        gauges.add(this.meters.gauges(MeterNames.LANE_QUEUED_MAX,
                "The most executions queued in one lane (one ordering key), at the stall watch's last check",
                List.of(), () -> queued(true)));
    }

    /** The stall watch's last count of queued executions: per workflow, or the longest lane's. */
    private Map<List<String>, Long> queued(boolean longest) {
        StallWatch w = stallWatch;
        Map<List<String>, Long> out = new java.util.HashMap<>();
        if (w != null) {
            w.queuedCounts().forEach((workflow, n) -> {
                if (workflow.isEmpty() == longest) {
                    out.put(longest ? List.of() : List.of(workflow), n);
                }
            });
        }
        return out;
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
        dev.onceflow.common.tracing.Tracing tracing = givenTracing;
        if (tracing == null) {
            ownTracing = dev.onceflow.common.tracing.Tracing.fromEnvironment(dev.onceflow.common.tracing.Tracing.ENGINE_SERVICE);
            tracing = ownTracing;
        }
        ExecutionTraces traces = tracing.on() ? new ExecutionTraces(tracing, clock) : ExecutionTraces.OFF;
        for (int i = 0; i < settings.workers(); i++) {
            EngineLoop loop = new EngineLoop(name + "-w" + i, settings, dataSource, workflows, metrics, hooks, clock, traces,
                    KafkaClients.REAL);
            Thread t = new Thread(loop, "onceflow-" + name + "-w" + i);
            loops.add(loop);
            threads.add(t);
            t.start();
        }
        started = List.copyOf(loops);
        StallWatch watch = new StallWatch(settings, dataSource, clock);
        watch.start();
        stallWatch = watch;
        if (httpPort >= 0) {
            http = new dev.onceflow.common.http.RoleServer("", httpPort, null, new dev.onceflow.common.http.RoleServer.Role(
                    "engine", this::liveness, this::readiness, this::scrape, null));
        }
        retention = new Retention(retentionSettings, dataSource, metrics);
        retention.start();
        // For the console's figures (ADR 0017): on a timer of its own, off the workers' path.
        duplicatesReport = new dev.onceflow.common.metrics.AbsorbedDuplicatesReport(dataSource, name, () -> Map.of(
                MeterNames.LAYER_EXECUTION_KEY, metrics.duplicateEvents(), MeterNames.LAYER_PROCESSED_KEY, metrics.duplicateNodeRuns()))
                .start();
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

    /** The port of this engine's HTTP server (health, metrics), or -1 when it is off. */
    public int httpPort() {
        dev.onceflow.common.http.RoleServer h = http;
        return h == null ? -1 : h.port();
    }

    /** Live while every worker thread runs (a worker that ended for good means: restart the process). */
    private dev.onceflow.common.http.RoleServer.Health liveness() {
        long alive = threads.stream().filter(Thread::isAlive).count();
        java.util.Map<String, Object> d = java.util.Map.of("workers", threads.size(), "workersAlive", alive);
        return alive == threads.size() ? dev.onceflow.common.http.RoleServer.Health.up(d) : dev.onceflow.common.http.RoleServer.Health.down(d);
    }

    /**
     * Ready when PostgreSQL answers, the workers own partitions (the group joined) and every worker
     * that owns some still reaches its group coordinator (a heartbeat within the session timeout).
     */
    private dev.onceflow.common.http.RoleServer.Health readiness() {
        java.util.Map<String, Object> d = new java.util.LinkedHashMap<>();
        int partitions = loops.stream().mapToInt(l -> l.ownership().assigned()).sum();
        d.put("partitions", partitions);
        double heartbeat = loops.stream().filter(l -> l.ownership().assigned() > 0).mapToDouble(l -> l.ownership().heartbeatAgeSeconds())
                .filter(a -> !Double.isNaN(a)).max().orElse(Double.NaN);
        boolean broker = dev.onceflow.common.http.RoleServer.brokerUp(heartbeat, KafkaClients.DEFAULT_SESSION_TIMEOUT_MS, d);
        boolean db = dev.onceflow.common.http.RoleServer.Health.postgresUp(dataSource, d);
        d.put("problems", problems());
        return db && broker && partitions > 0 ? dev.onceflow.common.http.RoleServer.Health.up(d)
                : dev.onceflow.common.http.RoleServer.Health.down(d);
    }

    public EngineMetrics metrics() {
        return metrics;
    }

    /** The meters this engine registers on (its own, or the process's it was given). */
    public OnceflowMeters meters() {
        return meters;
    }

    /** The Prometheus text of {@link #meters()}, for {@code /metrics}. */
    public String scrape() {
        return meters.scrape();
    }

    /** The lag of the partitions the workers own now, by (group, topic, partition). */
    private Map<List<String>, Long> lag() {
        Map<List<String>, Long> lag = new HashMap<>();
        for (EngineLoop loop : started) {
            loop.ownership().lag().forEach((tp, records) -> lag.merge(List.of(settings.groupId(), tp.topic(), String.valueOf(tp.partition())),
                    records, Math::max));
        }
        return lag;
    }

    /** The stall watch's last count; nothing before its first check reached PostgreSQL. */
    private Map<List<String>, Long> stuck() {
        StallWatch w = stallWatch;
        long n = w == null ? -1 : w.stuckCount();
        return n < 0 ? Map.of() : Map.of(List.of(), n);
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
        if (duplicatesReport != null) {
            duplicatesReport.close();
        }
        if (http != null) {
            http.close();
        }
        if (ownTracing != null) {
            ownTracing.close(); // after the workers stopped: their last spans are exported
        }
        gauges.forEach(OnceflowMeters.Registration::close);
        if (ownsMeters) {
            meters.close();
        }
        LOG.info("{} stopped", name);
    }
}
