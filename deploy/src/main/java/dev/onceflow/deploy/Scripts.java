package dev.onceflow.deploy;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import javax.sql.DataSource;

/**
 * What {@code dev}, {@code chaos}, {@code bench} and the tests share to set up a database and its
 * workflows: a text bundled in the jar (a schema, a workflow definition) and a SQL script run as
 * one statement. Public because the demo and the proof harness live in their own packages.
 * Stateless and thread-safe.
 */
public final class Scripts {

    private Scripts() {
    }

    /** The text of {@code name} on the class path (a file of {@code src/main/resources} or {@code deploy/examples/}). */
    public static String bundled(String name) throws IOException {
        try (InputStream in = Scripts.class.getClassLoader().getResourceAsStream(name)) {
            if (in == null) {
                throw new IOException("resource " + name + " is missing from the jar");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    /** Runs {@code sql} (one or more statements) on a connection of its own, in auto-commit. */
    public static void run(DataSource ds, String sql) throws SQLException {
        try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
            s.execute(sql);
        }
    }
}
