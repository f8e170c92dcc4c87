package dev.onceflow.deploy;

import dev.onceflow.common.Migrations;
import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.common.Topics;
import dev.onceflow.common.local.LocalKafka;
import dev.onceflow.common.local.LocalPostgres;
import java.nio.file.Path;
import java.util.Map;
import javax.sql.DataSource;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;

/**
 * The embedded default: a real Kafka broker and a real PostgreSQL, started in this JVM, migrated,
 * with Onceflow's topics created. Owned by whoever started it, who must {@link #close()} it.
 */
public final class LocalInfra implements AutoCloseable {

    private final LocalKafka kafka;
    private final LocalPostgres postgres;
    private final OnceflowConfig config;

    private LocalInfra(LocalKafka kafka, LocalPostgres postgres, OnceflowConfig config) {
        this.kafka = kafka;
        this.postgres = postgres;
        this.config = config;
    }

    public static LocalInfra start(Path dir, Map<String, String> settings) {
        return start(dir, settings, true);
    }

    /**
     * @param stopAtExit false when the caller stops everything in order at exit itself (PostgreSQL last), as
     *                   {@code onceflow dev} does; otherwise PostgreSQL's own shutdown hook stops it at exit
     */
    public static LocalInfra start(Path dir, Map<String, String> settings, boolean stopAtExit) {
        return start(dir, settings, stopAtExit, Map.of());
    }

    /** As {@link #start(Path, Map, boolean)}, with further PostgreSQL server settings ({@link LocalPostgres#start(Path, int, boolean, Map)}). */
    public static LocalInfra start(Path dir, Map<String, String> settings, boolean stopAtExit, Map<String, String> postgresSettings) {
        LocalPostgres postgres = LocalPostgres.start(dir.resolve("postgres"), 0, stopAtExit, postgresSettings);
        LocalKafka kafka;
        try {
            kafka = LocalKafka.start(dir.resolve("kafka"));
        } catch (RuntimeException e) {
            postgres.close();
            throw e;
        }
        Map<String, String> values = new java.util.HashMap<>(settings);
        values.put(OnceflowConfig.KAFKA_BOOTSTRAP.name(), kafka.bootstrapServers());
        values.put(OnceflowConfig.DB_URL.name(), "jdbc:postgresql://localhost:" + postgres.port() + "/postgres");
        values.put(OnceflowConfig.DB_USER.name(), postgres.user());
        values.put(OnceflowConfig.DB_PASSWORD.name(), postgres.password());
        values.putIfAbsent(OnceflowConfig.DISPATCHER_STATE_DIR.name(), dir.resolve("streams").toString());
        // An embedded run is a dev run: its engines serve health and metrics on free ports, and its
        // dispatchers' API gets a token made for this run (printed by onceflow dev) unless one is set.
        values.putIfAbsent(OnceflowConfig.ENGINE_HTTP_PORT.name(), "0");
        if (System.getenv(OnceflowConfig.API_TOKEN.envName()) == null) {
            values.putIfAbsent(OnceflowConfig.API_TOKEN.name(), "dev-" + java.util.UUID.randomUUID());
        }
        // ONCEFLOW_* environment variables tune the embedded run too (engine.max.poll.records, ...);
        // the embedded addresses always win.
        OnceflowConfig config = OnceflowConfig.load(null, System.getenv(), values);
        LocalInfra infra = new LocalInfra(kafka, postgres, config);
        Migrations.apply(infra.dataSource(), config.schema());
        createTopics(config);
        return infra;
    }

    /** Creates Onceflow's missing topics on the configured broker. */
    public static void createTopics(OnceflowConfig config) {
        Admin admin = admin(config);
        try {
            Topics.ensure(admin, config.getInt(OnceflowConfig.PARTITIONS), (short) config.getInt(OnceflowConfig.REPLICATION),
                    config.getLong(OnceflowConfig.BY_KEY_RETENTION_MS));
        } finally {
            // Not close(): it would wait for a call that Topics.ensure stopped waiting for (up to default.api.timeout.ms).
            admin.close(java.time.Duration.ofSeconds(5));
        }
    }

    /**
     * An admin client for the configured broker, with {@code kafka.admin.*} settings (security, for one). A
     * slow reconnect backoff: an unreachable node costs a few warnings, not one every 50 ms.
     */
    public static Admin admin(OnceflowConfig config) {
        Map<String, Object> props = new java.util.HashMap<>();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, config.get(OnceflowConfig.KAFKA_BOOTSTRAP));
        props.put(AdminClientConfig.RECONNECT_BACKOFF_MS_CONFIG, "1000");
        props.put(AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "10000");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        props.putAll(config.clientSettings("kafka.admin."));
        return Admin.create(props);
    }

    /**
     * The user topics that enabled {@code kafka} workflows read (not {@value Topics#TRIGGERS}), sorted: the
     * topics {@code onceflow dev} creates so that such a workflow works without Kafka tools.
     */
    public static java.util.SortedSet<String> userTopics(java.util.Collection<dev.onceflow.common.WorkflowStore.Stored> workflows) {
        java.util.SortedSet<String> topics = new java.util.TreeSet<>();
        for (dev.onceflow.common.WorkflowStore.Stored s : workflows) {
            if (s.enabled() && s.workflow().trigger() instanceof dev.onceflow.common.workflow.Trigger.Kafka k && k.userTopic()) {
                topics.add(k.topic());
            }
        }
        return topics;
    }

    /**
     * Creates those of {@code topics} that do not exist, with Onceflow's partition count; returns the ones it
     * created. Another creator winning the race is fine.
     */
    public static java.util.List<String> createMissing(Admin admin, java.util.Collection<String> topics, OnceflowConfig config)
            throws InterruptedException {
        try {
            java.util.Set<String> existing = admin.listTopics().names().get(30, java.util.concurrent.TimeUnit.SECONDS);
            java.util.List<org.apache.kafka.clients.admin.NewTopic> missing = topics.stream().filter(t -> !existing.contains(t))
                    .map(t -> new org.apache.kafka.clients.admin.NewTopic(t, config.getInt(OnceflowConfig.PARTITIONS),
                            (short) config.getInt(OnceflowConfig.REPLICATION)))
                    .toList();
            java.util.List<String> created = new java.util.ArrayList<>();
            for (var entry : admin.createTopics(missing).values().entrySet()) {
                try {
                    entry.getValue().get(30, java.util.concurrent.TimeUnit.SECONDS);
                    created.add(entry.getKey());
                } catch (java.util.concurrent.ExecutionException e) {
                    if (!(e.getCause() instanceof org.apache.kafka.common.errors.TopicExistsException)) {
                        throw new IllegalStateException("cannot create topic " + entry.getKey() + ": " + e.getCause().getMessage(), e);
                    }
                }
            }
            java.util.Collections.sort(created);
            return created;
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            throw new IllegalStateException("cannot list topics at " + config.get(OnceflowConfig.KAFKA_BOOTSTRAP) + ": " + e, e);
        }
    }

    public OnceflowConfig config() {
        return config;
    }

    public DataSource dataSource() {
        return dev.onceflow.common.Database.dataSource(config);
    }

    public String bootstrapServers() {
        return kafka.bootstrapServers();
    }

    /** Stops the broker, then PostgreSQL (their users must be stopped already). */
    @Override
    public void close() {
        try {
            kafka.close();
        } finally {
            postgres.close();
        }
    }
}
