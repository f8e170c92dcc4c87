package dev.onceflow.common.local;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real PostgreSQL server from embedded binaries (zonky), for {@code onceflow dev} and the tests.
 * zonky turns {@code fsync} and {@code synchronous_commit} off by default; here both are on, so
 * that a commit is as durable, and as slow, as in production. {@code wal_level=logical} lets the
 * row-change source (Debezium, pgoutput) run against it.
 */
public final class LocalPostgres implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(LocalPostgres.class);

    private final EmbeddedPostgres postgres;

    private LocalPostgres(EmbeddedPostgres postgres) {
        this.postgres = postgres;
    }

    /** Starts a new server with its data in {@code dir} (created, and cleaned when it exists). */
    public static LocalPostgres start(Path dir) {
        return start(dir, 0);
    }

    /** As {@link #start(Path)} on a fixed port (0 picks a free one). */
    public static LocalPostgres start(Path dir, int port) {
        return start(dir, port, true);
    }

    /**
     * As {@link #start(Path, int)}. {@code stopAtExit} keeps zonky's own JVM shutdown hook, which stops the
     * server at exit; a caller that stops its components in order at exit (dependents first, PostgreSQL last)
     * passes false and must {@link #close()} it, or the hook would stop PostgreSQL while they still use it.
     */
    public static LocalPostgres start(Path dir, int port, boolean stopAtExit) {
        return start(dir, port, stopAtExit, java.util.Map.of());
    }

    /**
     * As {@link #start(Path, int, boolean)}, with further server settings on top of the durable ones
     * (for instance {@code shared_preload_libraries=pg_stat_statements}, which {@code bench --only profile}
     * asks for to count statements; the embedded binaries ship the extension).
     */
    public static LocalPostgres start(Path dir, int port, boolean stopAtExit, java.util.Map<String, String> serverSettings) {
        long began = System.nanoTime();
        try {
            Files.createDirectories(dir);
            EmbeddedPostgres.Builder builder = EmbeddedPostgres.builder()
                    .setDataDirectory(dir.resolve("data"))
                    .setCleanDataDirectory(true)
                    .setOverrideWorkingDirectory(dir.resolve("work").toFile())
                    .setPGStartupWait(Duration.ofSeconds(60))
                    .setServerConfig("fsync", "on")
                    .setServerConfig("synchronous_commit", "on")
                    .setServerConfig("full_page_writes", "on")
                    .setServerConfig("wal_level", "logical")
                    .setServerConfig("max_wal_senders", "10")
                    .setServerConfig("max_replication_slots", "10")
                    .setServerConfig("max_connections", "200")
                    .setServerConfig("shared_buffers", "256MB")
                    .setRegisterShutdownHook(stopAtExit);
            serverSettings.forEach(builder::setServerConfig);
            if (port > 0) {
                builder.setPort(port);
            }
            EmbeddedPostgres pg = builder.start();
            LOG.info("Local PostgreSQL on port {} started in {} ms (fsync=on, synchronous_commit=on)", pg.getPort(),
                    (System.nanoTime() - began) / 1_000_000);
            return new LocalPostgres(pg);
        } catch (IOException e) {
            throw new IllegalStateException("Could not start the local PostgreSQL in " + dir + ": " + e.getMessage(), e);
        }
    }

    public DataSource dataSource() {
        return postgres.getPostgresDatabase();
    }

    public String jdbcUrl() {
        return postgres.getJdbcUrl("postgres", "postgres");
    }

    public int port() {
        return postgres.getPort();
    }

    public String user() {
        return "postgres";
    }

    public String password() {
        return "";
    }

    @Override
    public void close() {
        try {
            postgres.close();
        } catch (IOException e) {
            LOG.warn("Stopping the local PostgreSQL failed: {}", e.getMessage());
        }
    }
}
