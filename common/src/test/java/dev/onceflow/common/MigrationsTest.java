package dev.onceflow.common;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.onceflow.common.local.LocalPostgres;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** {@link Migrations} with {@code db.schema} (ADR 0024), on an embedded PostgreSQL; each test uses a database of its own. */
class MigrationsTest {

    private static Path dir;
    private static LocalPostgres postgres;

    @BeforeAll
    static void start() throws IOException {
        dir = Files.createTempDirectory("onceflow-migrations-test");
        postgres = LocalPostgres.start(dir);
    }

    @AfterAll
    static void stop() {
        if (postgres != null) {
            postgres.close();
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException | UncheckedIOException e) {
            // best effort
        }
    }

    @Test
    void migratesIntoItsSchemaBesideApplicationTablesOfTheSameName() throws Exception {
        String url = newDatabase("app_same_names");
        DataSource app = Database.dataSource(url, postgres.user(), postgres.password());
        run(app, "CREATE TABLE workflows (id bigserial PRIMARY KEY, key varchar(255), config json);"
                + "CREATE TABLE executions (id bigserial PRIMARY KEY, \"workflowId\" bigint);"
                + "INSERT INTO workflows (key) VALUES ('nocobase')");
        DataSource onceflow = Database.dataSource(url, postgres.user(), postgres.password(), "onceflow");

        assertThat(Migrations.apply(onceflow, "onceflow")).isEqualTo(Migrations.SCRIPTS.size());
        assertThat(Migrations.apply(onceflow, "onceflow")).as("applied once").isZero();

        assertThat(tables(app, "public")).containsExactly("executions", "workflows");
        assertThat(tables(app, "onceflow")).contains("onceflow_schema", "workflows", "executions", "processed_keys", "timers",
                "rowchange_offsets");
        assertThat(text(onceflow, "SELECT array_to_string(current_schemas(false), ',')")).isEqualTo("onceflow,public");
        assertThat(text(onceflow, "SELECT count(*) FROM workflows")).as("Onceflow's, found first").isEqualTo("0");
        assertThat(text(onceflow, "SELECT count(*) FROM public.workflows")).isEqualTo("1");
        // Without db.schema Onceflow could not live in this database: the application's workflows table is in the way.
        assertThatThrownBy(() -> Migrations.apply(app)).hasMessageContaining("\"workflows\" already exists");
    }

    @Test
    void aSchemaCreatedByAnOperatorNeedsNoCreatePrivilegeOnTheDatabase() throws Exception {
        String url = newDatabase("app_owned_schema");
        DataSource admin = Database.dataSource(url, postgres.user(), postgres.password());
        run(admin, "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'flow_user') THEN "
                + "CREATE ROLE flow_user LOGIN PASSWORD 'pw'; END IF; END $$;"
                + "REVOKE CREATE ON DATABASE app_owned_schema FROM PUBLIC;"
                + "CREATE SCHEMA flow AUTHORIZATION flow_user");
        DataSource limited = Database.dataSource(url, "flow_user", "pw", "flow");
        // PostgreSQL checks the database's CREATE privilege before IF NOT EXISTS: what Migrations must avoid.
        assertThatThrownBy(() -> run(limited, "CREATE SCHEMA IF NOT EXISTS flow")).hasMessageContaining("permission denied");

        assertThat(Migrations.apply(limited, "flow")).isEqualTo(Migrations.SCRIPTS.size());
        assertThat(tables(admin, "flow")).contains("onceflow_schema", "executions");
    }

    @Test
    void aMissingSchemaThatCannotBeCreatedIsNamedInTheError() throws Exception {
        String url = newDatabase("app_no_privilege");
        DataSource admin = Database.dataSource(url, postgres.user(), postgres.password());
        run(admin, "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'plain_user') THEN "
                + "CREATE ROLE plain_user LOGIN PASSWORD 'pw'; END IF; END $$;"
                + "REVOKE CREATE ON DATABASE app_no_privilege FROM PUBLIC");
        assertThatThrownBy(() -> Migrations.apply(Database.dataSource(url, "plain_user", "pw", "onceflow"), "onceflow"))
                .hasMessageContaining("cannot create or enter schema onceflow (db.schema)").hasMessageContaining("permission denied");
    }

    private static String newDatabase(String name) throws SQLException {
        run(postgres.dataSource(), "DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
        run(postgres.dataSource(), "CREATE DATABASE " + name);
        return "jdbc:postgresql://localhost:" + postgres.port() + "/" + name;
    }

    private static void run(DataSource ds, String sql) throws SQLException {
        try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
            s.execute(sql);
        }
    }

    private static String text(DataSource ds, String sql) throws SQLException {
        try (Connection c = ds.getConnection(); Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getString(1);
        }
    }

    private static List<String> tables(DataSource ds, String schema) throws SQLException {
        List<String> out = new ArrayList<>();
        try (Connection c = ds.getConnection(); PreparedStatement q = c.prepareStatement("SELECT table_name FROM "
                + "information_schema.tables WHERE table_schema = ? AND table_type = 'BASE TABLE' ORDER BY table_name")) {
            q.setString(1, schema);
            try (ResultSet rs = q.executeQuery()) {
                while (rs.next()) {
                    out.add(rs.getString(1));
                }
            }
        }
        return out;
    }
}
