package dev.onceflow.engine;

import dev.onceflow.common.Migrations;
import dev.onceflow.common.local.LocalPostgres;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.util.Comparator;
import java.util.stream.Stream;
import javax.sql.DataSource;

/**
 * One embedded PostgreSQL (migrated, with a {@code test_effects} table) shared by the engine's
 * component tests in this JVM: started on first use, stopped and its directory removed at exit.
 * Tests keep apart by using their own workflow ids and event keys. Thread-safe.
 */
final class EngineTestDatabase {

    private static DataSource dataSource;

    private EngineTestDatabase() {
    }

    /**
     * The pipeline most engine tests run: on {@code store}'s connection, the workflows of {@code ds}, sql
     * nodes with a 5 s timeout, claims once, 3 tries for a poison record.
     */
    static BatchPipeline pipeline(DataSource ds, ExecutionStore store, java.time.Clock clock, ClaimPolicy policy) {
        return new BatchPipeline(store, new WorkflowCache(new dev.onceflow.common.WorkflowStore(ds)), new NodeRunner(5_000), clock,
                policy, new PoisonAttempts(3));
    }

    static synchronized DataSource get() throws Exception {
        if (dataSource == null) {
            Path dir = Files.createTempDirectory("onceflow-engine-test");
            LocalPostgres postgres = LocalPostgres.start(dir);
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                postgres.close();
                delete(dir);
            }, "onceflow-engine-test-db"));
            dataSource = postgres.dataSource();
            Migrations.apply(dataSource);
            try (Connection c = dataSource.getConnection(); Statement st = c.createStatement()) {
                st.execute("CREATE TABLE IF NOT EXISTS test_effects (event_key text NOT NULL, node text NOT NULL)");
            }
        }
        return dataSource;
    }

    /**
     * A database of its own on the same server, migrated, with a {@code test_effects} table: for
     * tests that act on every row of a table (retention), which would touch other tests' rows in
     * the shared database.
     */
    static synchronized DataSource newDatabase(String prefix) throws Exception {
        String name = prefix + "_" + java.util.UUID.randomUUID().toString().replace("-", "").substring(0, 12);
        String port;
        String user;
        try (Connection c = get().getConnection(); Statement st = c.createStatement()) {
            st.execute("CREATE DATABASE " + name);
            try (java.sql.ResultSet rs = st.executeQuery("SELECT current_setting('port'), current_user")) {
                rs.next();
                port = rs.getString(1);
                user = rs.getString(2);
            }
        }
        DataSource ds = dev.onceflow.common.Database.dataSource("jdbc:postgresql://localhost:" + port + "/" + name, user, "");
        Migrations.apply(ds);
        try (Connection c = ds.getConnection(); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE IF NOT EXISTS test_effects (event_key text NOT NULL, node text NOT NULL)");
        }
        return ds;
    }

    private static void delete(Path dir) {
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException | UncheckedIOException e) {
            // best effort at exit
        }
    }
}
