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
final class LocalInfra implements AutoCloseable {

    private final LocalKafka kafka;
    private final LocalPostgres postgres;
    private final OnceflowConfig config;

    private LocalInfra(LocalKafka kafka, LocalPostgres postgres, OnceflowConfig config) {
        this.kafka = kafka;
        this.postgres = postgres;
        this.config = config;
    }

    static LocalInfra start(Path dir, Map<String, String> settings) {
        LocalPostgres postgres = LocalPostgres.start(dir.resolve("postgres"));
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
        // ONCEFLOW_* environment variables tune the embedded run too (engine.max.poll.records, ...);
        // the embedded addresses always win.
        OnceflowConfig config = OnceflowConfig.load(null, System.getenv(), values);
        LocalInfra infra = new LocalInfra(kafka, postgres, config);
        Migrations.apply(infra.dataSource());
        createTopics(config);
        return infra;
    }

    static void createTopics(OnceflowConfig config) {
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, config.get(OnceflowConfig.KAFKA_BOOTSTRAP)))) {
            Topics.ensure(admin, config.getInt(OnceflowConfig.PARTITIONS), (short) config.getInt(OnceflowConfig.REPLICATION),
                    config.getLong(OnceflowConfig.BY_KEY_RETENTION_MS));
        }
    }

    OnceflowConfig config() {
        return config;
    }

    DataSource dataSource() {
        return dev.onceflow.common.Database.dataSource(config);
    }

    String bootstrapServers() {
        return kafka.bootstrapServers();
    }

    @Override
    public void close() {
        try {
            kafka.close();
        } finally {
            postgres.close();
        }
    }
}
