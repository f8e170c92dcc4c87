package dev.onceflow.deploy;

import dev.onceflow.common.Database;
import dev.onceflow.common.Migrations;
import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.common.local.LocalKafka;
import dev.onceflow.common.local.LocalPostgres;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import javax.sql.DataSource;

/**
 * The infrastructure of the integration tests: a real Kafka broker and a real PostgreSQL, started
 * once per test JVM (embedded), or supplied by Testcontainers. Tests isolate themselves by
 * workflow id, not by restarting infrastructure.
 */
public final class TestInfra {

    private static TestInfra embedded;

    private final String bootstrap;
    private final String jdbcUrl;
    private final String user;
    private final String password;
    private final Path dir;

    TestInfra(String bootstrap, String jdbcUrl, String user, String password, Path dir) {
        this.bootstrap = bootstrap;
        this.jdbcUrl = jdbcUrl;
        this.user = user;
        this.password = password;
        this.dir = dir;
        Migrations.apply(dataSource());
        LocalInfra.createTopics(config(Map.of()));
        try {
            Scripts.run(dataSource(), """
                    CREATE TABLE IF NOT EXISTS it_effects (
                        id bigserial PRIMARY KEY, event_key text NOT NULL, node text NOT NULL,
                        created_at timestamptz NOT NULL DEFAULT now());
                    CREATE INDEX IF NOT EXISTS it_effects_key ON it_effects (event_key, node);
                    """);
        } catch (java.sql.SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The embedded broker and PostgreSQL of this JVM, started on first use. */
    public static synchronized TestInfra embedded() {
        if (embedded == null) {
            try {
                Path dir = Files.createTempDirectory("onceflow-it-");
                LocalPostgres pg = LocalPostgres.start(dir.resolve("postgres"));
                LocalKafka kafka = LocalKafka.start(dir.resolve("kafka"));
                Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                    kafka.close();
                    pg.close();
                    try (java.util.stream.Stream<Path> walk = Files.walk(dir)) {
                        walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
                    } catch (IOException e) {
                        // a temp directory left behind is harmless
                    }
                }));
                embedded = new TestInfra(kafka.bootstrapServers(), "jdbc:postgresql://localhost:" + pg.port() + "/postgres",
                        pg.user(), pg.password(), dir);
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }
        return embedded;
    }

    /** The bearer token of every dispatcher the tests start. */
    static final String TOKEN = "it-token";

    OnceflowConfig config(Map<String, String> more) {
        Map<String, String> v = new HashMap<>();
        v.put(OnceflowConfig.KAFKA_BOOTSTRAP.name(), bootstrap);
        v.put(OnceflowConfig.DB_URL.name(), jdbcUrl);
        v.put(OnceflowConfig.DB_USER.name(), user);
        v.put(OnceflowConfig.DB_PASSWORD.name(), password);
        v.put(OnceflowConfig.DISPATCHER_REFRESH_MS.name(), "500");
        v.put(OnceflowConfig.DISPATCHER_HTTP_PORT.name(), "0");
        v.put(OnceflowConfig.ENGINE_HTTP_PORT.name(), "0");
        v.put(OnceflowConfig.API_TOKEN.name(), TOKEN);
        try {
            v.put(OnceflowConfig.DISPATCHER_STATE_DIR.name(), Files.createTempDirectory(dir, "streams-").toString());
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        v.putAll(more);
        return OnceflowConfig.of(v);
    }

    DataSource dataSource() {
        return Database.dataSource(jdbcUrl, user, password);
    }

    /**
     * A new schema of its own with {@code script} run in it: a data source whose unqualified names
     * resolve in that schema first, then in {@code public}.
     */
    public DataSource newSchema(String script) throws java.sql.SQLException {
        String schema = Fleet.uniqueId("chk").replace('-', '_');
        Scripts.run(dataSource(), "CREATE SCHEMA " + schema);
        DataSource ds = Database.dataSource(jdbcUrl + "?currentSchema=" + schema + ",public", user, password);
        Scripts.run(ds, script);
        return ds;
    }

    public String bootstrap() {
        return bootstrap;
    }
}
