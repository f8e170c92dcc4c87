package dev.onceflow.common;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Applies the versioned schema migrations in {@code db/migration/}, each once, in order, each in
 * its own transaction. Every role runs this on start; a PostgreSQL advisory lock serialises roles
 * that start at the same moment. Stateless and thread-safe.
 */
public final class Migrations {

    private static final Logger LOG = LoggerFactory.getLogger(Migrations.class);
    /** In order; append only, never edit a migration that has shipped. */
    static final List<String> SCRIPTS = List.of("V1__core.sql", "V2__rowchange_offsets.sql", "V3__execution_depth.sql",
            "V4__waiting_executions.sql", "V5__retention.sql", "V6__absorbed_duplicates.sql", "V7__lanes.sql",
            "V8__limits.sql");
    private static final long LOCK_ID = 0x0CEF_1000L;

    private Migrations() {
    }

    /** Applies the missing migrations in the connection's default schema; returns how many were applied. */
    public static int apply(DataSource dataSource) {
        return apply(dataSource, "");
    }

    /**
     * Applies the missing migrations in {@code schema} ({@code db.schema}; empty: the connection's
     * default, as before ADR 0024), creating the schema when missing; returns how many were applied.
     * The bookkeeping table {@code onceflow_schema} lives in that schema too, so two Onceflows in
     * two schemas of one database migrate independently (one at a time: the lock is per database).
     */
    public static int apply(DataSource dataSource, String schema) {
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(true);
            try (Statement s = c.createStatement()) {
                s.execute("SELECT pg_advisory_lock(" + LOCK_ID + ")");
            }
            try {
                if (schema != null && !schema.isEmpty()) {
                    enter(c, schema);
                }
                return applyLocked(c);
            } finally {
                try (Statement s = c.createStatement()) {
                    s.execute("SELECT pg_advisory_unlock(" + LOCK_ID + ")");
                    if (schema != null && !schema.isEmpty()) {
                        s.execute("RESET search_path"); // back to the data source's own, in case the connection is pooled
                    }
                }
            }
        } catch (SQLException e) {
            throw new IllegalStateException("cannot migrate the Onceflow schema: " + e.getMessage(), e);
        }
    }

    /**
     * Creates {@code schema} when missing and makes it the only schema the migrations see: every
     * unqualified CREATE lands in it, and no ALTER can reach an application's table of the same
     * name in {@code public}.
     */
    private static void enter(Connection c, String schema) throws SQLException {
        String quoted = "\"" + schema.replace("\"", "\"\"") + "\"";
        try (Statement s = c.createStatement(); PreparedStatement q = c.prepareStatement("SELECT 1 FROM pg_namespace WHERE nspname = ?")) {
            q.setString(1, schema);
            boolean exists;
            try (ResultSet rs = q.executeQuery()) {
                exists = rs.next();
            }
            if (!exists) {
                // Only when missing: CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege on the database even when
                // the schema exists, and an operator may have created it for a user that lacks it.
                s.execute("CREATE SCHEMA IF NOT EXISTS " + quoted);
                LOG.info("Created schema {} for Onceflow's tables (db.schema)", schema);
            }
            s.execute("SET search_path TO " + quoted);
        } catch (SQLException e) {
            throw new SQLException("cannot create or enter schema " + schema + " (db.schema): " + e.getMessage(), e.getSQLState(), e);
        }
    }

    private static int applyLocked(Connection c) throws SQLException {
        try (Statement s = c.createStatement()) {
            s.execute("CREATE TABLE IF NOT EXISTS onceflow_schema (version integer PRIMARY KEY, script text NOT NULL, "
                    + "applied_at timestamptz NOT NULL DEFAULT now())");
        }
        int applied = 0;
        for (int i = 0; i < SCRIPTS.size(); i++) {
            int version = i + 1;
            try (PreparedStatement q = c.prepareStatement("SELECT 1 FROM onceflow_schema WHERE version = ?")) {
                q.setInt(1, version);
                try (ResultSet rs = q.executeQuery()) {
                    if (rs.next()) {
                        continue;
                    }
                }
            }
            String script = SCRIPTS.get(i);
            c.setAutoCommit(false);
            try (Statement s = c.createStatement(); PreparedStatement mark = c.prepareStatement(
                    "INSERT INTO onceflow_schema (version, script) VALUES (?, ?)")) {
                s.execute(read(script));
                mark.setInt(1, version);
                mark.setString(2, script);
                mark.executeUpdate();
                c.commit();
                applied++;
                LOG.info("Applied schema migration {}", script);
            } catch (SQLException e) {
                c.rollback();
                throw new SQLException("migration " + script + " failed: " + e.getMessage(), e);
            } finally {
                c.setAutoCommit(true);
            }
        }
        return applied;
    }

    private static String read(String script) {
        try (InputStream in = Migrations.class.getResourceAsStream("/db/migration/" + script)) {
            if (in == null) {
                throw new IllegalStateException("migration " + script + " is missing from the classpath");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read migration " + script, e);
        }
    }
}
