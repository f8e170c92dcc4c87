package dev.onceflow.dispatcher;

import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.common.Topics;
import dev.onceflow.common.metrics.MeterNames;
import dev.onceflow.common.metrics.OnceflowMeters;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs the {@link TriggerTopology} in Kafka Streams with {@code exactly_once_v2}. Every replica
 * uses the same {@code dispatcher.application.id}, so replicas share the partitions and the dedupe
 * store (through its changelog).
 *
 * <p>Lifecycle: {@code NEW → STARTED → CLOSED}, each transition once; {@link #start()} creates the
 * Onceflow topics if missing, raises a by-key retention shorter than
 * {@code topics.dispatch.bykey.retention.ms}, and reads the largest record it can publish
 * ({@link RecordSizeLimit}), which the topology and the sources check where records enter. A
 * stream thread that dies of a system error is replaced (its transaction is aborted, so nothing
 * it wrote is visible); no single record can cause that (ADR 0010).
 *
 * <p>Thread-safe. Owned by whoever created it; closing it does not close the catalog.
 */
public final class Dispatcher implements AutoCloseable {

    public enum State { NEW, STARTED, CLOSED }

    static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(30);

    private static final Logger log = LoggerFactory.getLogger(Dispatcher.class);

    private final OnceflowConfig config;
    private final WorkflowCatalog catalog;
    private final OnceflowMeters meters;
    /** Whether this dispatcher created {@link #meters} and so closes them. */
    private final boolean ownsMeters;
    private final DispatcherMetrics metrics;
    private final OnceflowMeters.Registration lagGauges;
    private final CountDownLatch runningOrFailed = new CountDownLatch(1);
    private State state = State.NEW;
    /** Written under the lock; volatile for a metrics scrape, which reads it without. */
    /** The main consumer's fetch.max.wait.ms: the wait of a read_committed fetch once records became stable (ADR 0018). */
    static final int FETCH_MAX_WAIT_MS = 10;

    private volatile KafkaStreams streams;
    /** The stream threads' consumer session timeout (readiness: a heartbeat older than it means the broker is lost). */
    private volatile long sessionTimeoutMs = 10_000;
    private SlotWatch slotWatch;
    private Path tempStateDir;

    private final javax.sql.DataSource dataSource;
    private ScheduleSource schedules;
    private org.apache.kafka.clients.producer.KafkaProducer<byte[], byte[]> sourceProducer;
    /** The largest record this dispatcher can publish, known once {@link #start()} read the topics. */
    private RecordSizeLimit recordLimit = RecordSizeLimit.KAFKA_DEFAULT;

    /** A dispatcher of trigger records only (no schedule source). */
    public Dispatcher(OnceflowConfig config, WorkflowCatalog catalog) {
        this(config, catalog, null);
    }

    /**
     * A dispatcher that also fires the ticks of {@code schedule} workflows; {@code dataSource} tells
     * a starting replica the last tick that has an execution, so missed ticks follow the misfire policy.
     */
    public Dispatcher(OnceflowConfig config, WorkflowCatalog catalog, javax.sql.DataSource dataSource) {
        this(config, catalog, dataSource, null);
    }

    /**
     * The same, registering its meters on the process's {@code meters} (shared with the other roles
     * of the process, not closed by this dispatcher); null: meters of its own.
     */
    public Dispatcher(OnceflowConfig config, WorkflowCatalog catalog, javax.sql.DataSource dataSource, OnceflowMeters meters) {
        this.config = Objects.requireNonNull(config, "config");
        this.catalog = Objects.requireNonNull(catalog, "catalog");
        this.dataSource = dataSource;
        this.ownsMeters = meters == null;
        this.meters = ownsMeters ? new OnceflowMeters() : meters;
        this.metrics = new DispatcherMetrics(this.meters);
        this.lagGauges = this.meters.gauges(MeterNames.CONSUMER_LAG,
                "Records not yet consumed, per partition this process's consumers own",
                java.util.List.of(MeterNames.GROUP, MeterNames.TOPIC, MeterNames.PARTITION), this::streamsLag);
    }

    /** The meters this dispatcher registers on (its own, or the process's it was given). */
    public OnceflowMeters meters() {
        return meters;
    }

    /** The Prometheus text of {@link #meters()}, for {@code /metrics}. */
    public String scrape() {
        return meters.scrape();
    }

    /**
     * The lag of the input partitions of this instance's active stream tasks (trigger topics, the
     * by-key topic), by (application id, topic, partition), from the stream threads' consumer
     * metrics ({@code records-lag}, as of their last fetch).
     */
    private Map<java.util.List<String>, Double> streamsLag() {
        KafkaStreams s = streams;
        Map<java.util.List<String>, Double> lag = new HashMap<>();
        if (s == null) {
            return lag;
        }
        java.util.Set<org.apache.kafka.common.TopicPartition> inputs = new java.util.HashSet<>();
        s.metadataForLocalThreads().forEach(t -> t.activeTasks().forEach(task -> inputs.addAll(task.topicPartitions())));
        String group = config.get(OnceflowConfig.DISPATCHER_APP_ID);
        s.metrics().forEach((name, metric) -> {
            if (!"records-lag".equals(name.name()) || !"consumer-fetch-manager-metrics".equals(name.group())
                    || name.tags().get("topic") == null || name.tags().get("partition") == null) {
                return;
            }
            org.apache.kafka.common.TopicPartition tp = new org.apache.kafka.common.TopicPartition(name.tags().get("topic"),
                    Integer.parseInt(name.tags().get("partition")));
            // Only partitions this instance's tasks read: the restore consumers' changelogs and the
            // client's deprecated duplicates (dots as underscores) are left out.
            if (inputs.contains(tp) && metric.metricValue() instanceof Number n && !Double.isNaN(n.doubleValue())) {
                lag.merge(java.util.List.of(group, tp.topic(), String.valueOf(tp.partition())), n.doubleValue(), Math::max);
            }
        });
        return lag;
    }

    /** When this replica's schedule source started (ticks due before it are misfires), or null. */
    public java.time.Instant scheduleStartedAt() {
        ScheduleSource s = schedules;
        return s == null ? null : s.started();
    }

    /** Ticks fired by this replica's schedule source (before dedupe). */
    public long scheduledTicks() {
        ScheduleSource s = schedules;
        return s == null ? 0 : s.fired();
    }

    private dev.onceflow.common.http.RoleServer api;
    private PublishApi publish;
    /** The web console's files on the classpath, served at {@code /console/} by the HTTP API's server. */
    static final String CONSOLE = "/console";
    private FiguresApi figures;
    private dev.onceflow.common.metrics.AbsorbedDuplicatesReport duplicatesReport;
    private RowChangeSource rowChanges;

    /** This replica's row-change capture, or null without a database. */
    public CaptureStatus captureStatus() {
        RowChangeSource r = rowChanges;
        return r == null ? null : r.status();
    }

    /** The HTTP API's port, or -1 when it is off. */
    public int httpPort() {
        dev.onceflow.common.http.RoleServer a = api;
        return a == null ? -1 : a.port();
    }

    private void startSchedules() {
        java.util.Map<String, Object> p = new java.util.HashMap<>();
        p.put(org.apache.kafka.clients.producer.ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, config.get(OnceflowConfig.KAFKA_BOOTSTRAP));
        p.put(org.apache.kafka.clients.producer.ProducerConfig.ACKS_CONFIG, "all");
        p.put(org.apache.kafka.clients.producer.ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(org.apache.kafka.clients.producer.ProducerConfig.LINGER_MS_CONFIG, "1");
        p.put(org.apache.kafka.clients.producer.ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "600000");
        p.putAll(sourceProducerSettings());
        sourceProducer = new org.apache.kafka.clients.producer.KafkaProducer<>(p,
                new org.apache.kafka.common.serialization.ByteArraySerializer(), new org.apache.kafka.common.serialization.ByteArraySerializer());
        var executions = new dev.onceflow.common.executions.ExecutionRecords(dataSource);
        schedules = new ScheduleSource(catalog, executions::lastTick, sourceProducer, java.time.Clock.systemUTC(), metrics, orderKeys());
        schedules.start();
        RowChangeSource.Settings capture = RowChangeSource.Settings.from(config);
        rowChanges = new RowChangeSource(catalog, capture, sourceProducer, recordLimit, java.time.Clock.systemUTC(), metrics, orderKeys());
        rowChanges.start();
        slotWatch = new SlotWatch(dev.onceflow.common.Database.dataSource(capture.url(), capture.user(), capture.password()),
                capture.slot(), meters);
        slotWatch.start();
        // The dispatcher layer's count for the console's figures (ADR 0017), beside the engines'.
        duplicatesReport = new dev.onceflow.common.metrics.AbsorbedDuplicatesReport(dataSource, "dispatcher-" + System.getenv().getOrDefault("HOSTNAME", "") + "-"
                + ProcessHandle.current().pid(), () -> java.util.Map.of(dev.onceflow.common.metrics.MeterNames.LAYER_DISPATCHER,
                metrics.deduplicated())).start();
        int port = config.getInt(OnceflowConfig.DISPATCHER_HTTP_PORT);
        if (port >= 0) {
            String token = config.get(OnceflowConfig.API_TOKEN);
            if (token.isEmpty()) {
                throw new IllegalStateException("api.token is not set: the dispatcher's HTTP API (trigger endpoint and admin API on "
                        + "dispatcher.http.port " + port + ") refuses to start without a bearer token; set ONCEFLOW_API_TOKEN (or "
                        + "--set api.token=...), or dispatcher.http.port=-1 to run without the HTTP API");
            }
            ApiIngress ingress = new ApiIngress(catalog, sourceProducer, recordLimit, java.time.Clock.systemUTC(), orderKeys());
            AdminApi admin = new AdminApi(dataSource, sourceProducer,
                    new DeadLetterApi(config.get(OnceflowConfig.KAFKA_BOOTSTRAP), sourceProducer),
                    new FleetApi(config.get(OnceflowConfig.KAFKA_BOOTSTRAP), config.get(OnceflowConfig.ENGINE_GROUP),
                            config.get(OnceflowConfig.DISPATCHER_APP_ID), dataSource, config.get(OnceflowConfig.TABLE_SLOT),
                            this::captureStatus),
                    java.time.Clock.systemUTC());
            publish = new PublishApi(catalog, ingress, () -> new org.apache.kafka.clients.producer.KafkaProducer<>(PublishApi.producerSettings(
                    config.get(OnceflowConfig.KAFKA_BOOTSTRAP), sourceProducerSettings()),
                    new org.apache.kafka.common.serialization.ByteArraySerializer(), new org.apache.kafka.common.serialization.ByteArraySerializer()));
            WorkflowGraphApi graphs = new WorkflowGraphApi(dataSource);
            figures = new FiguresApi(dataSource, java.time.Clock.systemUTC()).start();
            try {
                api = new dev.onceflow.common.http.RoleServer(config.get(OnceflowConfig.DISPATCHER_HTTP_HOST), port, token,
                        new dev.onceflow.common.http.RoleServer.Role("dispatcher", this::liveness, this::readiness, this::scrape,
                                routes -> {
                                    ingress.routes(routes);
                                    admin.routes(routes);
                                    publish.routes(routes);
                                    graphs.routes(routes);
                                    figures.routes(routes);
                                }, CONSOLE));
            } catch (RuntimeException e) {
                throw new IllegalStateException("cannot start the HTTP API on " + config.get(OnceflowConfig.DISPATCHER_HTTP_HOST)
                        + ":" + port + " (" + e.getMessage() + "); set dispatcher.http.host to an address of this host (empty: "
                        + "every interface) and dispatcher.http.port to a free port, 0 for any, -1 to turn it off", e);
            }
        }
    }

    /** Live while Kafka Streams has not ended (ERROR or NOT_RUNNING after a start means: restart the process). */
    private dev.onceflow.common.http.RoleServer.Health liveness() {
        KafkaStreams.State s = streamsState();
        java.util.Map<String, Object> d = java.util.Map.of("streams", String.valueOf(s));
        return s == KafkaStreams.State.ERROR || (state == State.STARTED && s == KafkaStreams.State.NOT_RUNNING)
                ? dev.onceflow.common.http.RoleServer.Health.down(d) : dev.onceflow.common.http.RoleServer.Health.up(d);
    }

    /** Ready while Kafka Streams runs (tasks assigned), its consumers reach the broker and PostgreSQL answers. */
    private dev.onceflow.common.http.RoleServer.Health readiness() {
        java.util.Map<String, Object> d = new java.util.LinkedHashMap<>();
        KafkaStreams.State s = streamsState();
        d.put("streams", String.valueOf(s));
        KafkaStreams k = streams;
        // Streams stays RUNNING for a while after the broker is gone; its consumers' heartbeats do not.
        boolean broker = dev.onceflow.common.http.RoleServer.brokerUp(
                k == null ? Double.NaN : dev.onceflow.common.http.RoleServer.heartbeatAgeSeconds(k.metrics()),
                sessionTimeoutMs, d);
        boolean db = dev.onceflow.common.http.RoleServer.Health.postgresUp(dataSource, d);
        return s == KafkaStreams.State.RUNNING && broker && db ? dev.onceflow.common.http.RoleServer.Health.up(d)
                : dev.onceflow.common.http.RoleServer.Health.down(d);
    }

    /** Creates missing topics and starts the stream threads; returns without waiting for RUNNING. */
    public synchronized void start() {
        if (state != State.NEW) {
            throw new IllegalStateException("dispatcher cannot start: it is " + state);
        }
        Properties props = streamsProperties();
        long byKeyRetention = config.getLong(OnceflowConfig.BY_KEY_RETENTION_MS);
        try (Admin admin = Admin.create(adminProperties())) {
            Topics.ensure(admin, config.getInt(OnceflowConfig.PARTITIONS), (short) config.getInt(OnceflowConfig.REPLICATION),
                    byKeyRetention);
            TopicChecks.ensureByKeyRetention(admin, byKeyRetention);
            recordLimit = TopicChecks.recordSizeLimit(admin, props, sourceProducerSettings());
        }
        Object session = props.get(StreamsConfig.consumerPrefix(org.apache.kafka.clients.consumer.ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG));
        sessionTimeoutMs = session == null ? 45_000 : Long.parseLong(session.toString());
        streams = new KafkaStreams(TriggerTopology.build(catalog, config.getLong(OnceflowConfig.DISPATCHER_DEDUPE_MS), recordLimit,
                metrics, config.getLong(OnceflowConfig.DISPATCHER_COMMIT_EAGER_GAP_MS),
                config.getLong(OnceflowConfig.DISPATCHER_COMMIT_EAGER_MAX_RATE), orderKeys()), props);
        streams.setUncaughtExceptionHandler(e -> {
            log.error("dispatcher stream thread failed; replacing it (its transaction is aborted): {}", e.toString(), e);
            return StreamThreadExceptionResponse.REPLACE_THREAD;
        });
        streams.setStateListener((now, before) -> {
            log.info("dispatcher {} → {}", before, now);
            if (now == KafkaStreams.State.RUNNING || now == KafkaStreams.State.ERROR
                    || now == KafkaStreams.State.PENDING_SHUTDOWN || now == KafkaStreams.State.NOT_RUNNING) {
                runningOrFailed.countDown();
            }
        });
        state = State.STARTED;
        streams.start();
        if (dataSource != null) {
            startSchedules();
        }
        log.info("dispatcher started: application.id={} threads={} state.dir={}", props.get(StreamsConfig.APPLICATION_ID_CONFIG),
                props.get(StreamsConfig.NUM_STREAM_THREADS_CONFIG), props.get(StreamsConfig.STATE_DIR_CONFIG));
    }

    /**
     * Waits until Kafka Streams reaches RUNNING (partitions assigned, state restored).
     *
     * @throws IllegalStateException if it stops or fails instead, or the timeout passes first
     */
    public void awaitRunning(Duration timeout) {
        KafkaStreams s;
        synchronized (this) {
            if (state != State.STARTED) {
                throw new IllegalStateException("dispatcher is " + state + ", not started");
            }
            s = streams;
        }
        try {
            if (!runningOrFailed.await(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                throw new IllegalStateException("dispatcher not running after " + timeout + " (Kafka Streams is " + s.state() + ")");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for the dispatcher to run", e);
        }
        if (s.state() != KafkaStreams.State.RUNNING && s.state() != KafkaStreams.State.REBALANCING) {
            throw new IllegalStateException("dispatcher failed to start: Kafka Streams is " + s.state());
        }
    }

    /** True while Kafka Streams is running or rebalancing (healthy). */
    public synchronized boolean isRunning() {
        return streams != null && state == State.STARTED && streams.state().isRunningOrRebalancing();
    }

    public synchronized State state() {
        return state;
    }

    /** Kafka Streams' own state, or null before {@link #start()}. */
    public synchronized KafkaStreams.State streamsState() {
        return streams == null ? null : streams.state();
    }

    public DispatcherMetrics metrics() {
        return metrics;
    }

    /** Stops the stream threads, waiting up to 30 s; idempotent. */
    @Override
    public synchronized void close() {
        if (state == State.CLOSED) {
            return;
        }
        State was = state;
        state = State.CLOSED;
        if (api != null) {
            api.close();
        }
        if (publish != null) {
            publish.close();
        }
        if (figures != null) {
            figures.close();
        }
        if (duplicatesReport != null) {
            duplicatesReport.close();
        }
        if (rowChanges != null) {
            rowChanges.close();
        }
        if (slotWatch != null) {
            slotWatch.close();
        }
        if (schedules != null) {
            schedules.close();
            sourceProducer.close(java.time.Duration.ofSeconds(10));
        }
        boolean stopped = true;
        if (was == State.STARTED) {
            // Leave the group on close, so partitions move at once instead of after the session timeout (45 s).
            stopped = streams.close(org.apache.kafka.streams.CloseOptions.groupMembershipOperation(
                    org.apache.kafka.streams.CloseOptions.GroupMembershipOperation.LEAVE_GROUP).withTimeout(CLOSE_TIMEOUT));
            if (!stopped) {
                log.warn("dispatcher did not stop within {}; its threads are left to finish", CLOSE_TIMEOUT);
            }
        }
        if (stopped && tempStateDir != null) {
            deleteQuietly(tempStateDir);
        }
        lagGauges.close();
        if (ownsMeters) {
            meters.close();
        }
        log.info("dispatcher closed: {}", metrics);
    }

    /** Whether events get ordering keys ({@code dispatcher.order.keys}, ADR 0020), counting fallbacks in this dispatcher's metrics. */
    private OrderKeys orderKeys() {
        return new OrderKeys(config.getBoolean(OnceflowConfig.DISPATCHER_ORDER_KEYS), metrics);
    }

    /** The pass-through settings of the sources' producer (schedule ticks, row changes, API calls). */
    private Map<String, Object> sourceProducerSettings() {
        return config.clientSettings("kafka.producer.");
    }

    private Properties adminProperties() {
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, config.get(OnceflowConfig.KAFKA_BOOTSTRAP));
        props.putAll(config.clientSettings("kafka.admin."));
        return props;
    }

    Properties streamsProperties() {
        Map<String, Object> p = new HashMap<>();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, config.get(OnceflowConfig.DISPATCHER_APP_ID));
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, config.get(OnceflowConfig.KAFKA_BOOTSTRAP));
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, config.getInt(OnceflowConfig.DISPATCHER_THREADS));
        p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir());
        // Quiet, the processors request a commit at once (at most every dispatcher.commit.eager.gap.ms,
        // ADR 0018); busy, this interval gathers the records of many polls into one transaction.
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
        // A read_committed fetch with nothing stable to return sits out fetch.max.wait.ms at the
        // broker, even after a commit made records stable meanwhile: 500 ms by default (ADR 0018).
        p.put(StreamsConfig.mainConsumerPrefix(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG), FETCH_MAX_WAIT_MS);
        // The dedupe changelog is as durable as the topics Onceflow creates.
        p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, config.getInt(OnceflowConfig.REPLICATION));
        // A dispatcher killed without leaving the group holds its partitions until the session
        // times out; 10 s instead of the 45 s default bounds that pause. Overridable below.
        p.put(StreamsConfig.consumerPrefix(org.apache.kafka.clients.consumer.ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG), 10_000);
        p.put(StreamsConfig.consumerPrefix(org.apache.kafka.clients.consumer.ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG), 1_000);
        // The user-topic source is a pattern: a topic named by a newly deployed workflow is found at
        // the next metadata refresh, so refresh every 5 s instead of every 5 minutes.
        p.put(StreamsConfig.consumerPrefix(org.apache.kafka.clients.consumer.ConsumerConfig.METADATA_MAX_AGE_CONFIG), 5_000);
        p.putAll(config.clientSettings("kafka.streams."));
        Properties props = new Properties();
        props.putAll(p);
        return props;
    }

    private String stateDir() {
        String configured = config.get(OnceflowConfig.DISPATCHER_STATE_DIR);
        if (configured != null && !configured.isBlank()) {
            return configured;
        }
        if (tempStateDir == null) {
            try {
                // One directory per instance: two dispatchers in one JVM or host must not share task locks.
                tempStateDir = Files.createTempDirectory("onceflow-dispatcher-");
            } catch (IOException e) {
                throw new UncheckedIOException("cannot create a state directory for the dispatcher", e);
            }
        }
        return tempStateDir.toString();
    }

    private static void deleteQuietly(Path dir) {
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            log.debug("cannot delete state directory {}: {}", dir, e.toString());
        }
    }
}
