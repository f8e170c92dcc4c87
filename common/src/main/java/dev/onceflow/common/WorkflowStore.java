package dev.onceflow.common;

import dev.onceflow.common.workflow.DefinitionException;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.common.workflow.Workflows;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import javax.sql.DataSource;

/**
 * Workflow definitions in the {@code workflows} table. Deploying stores a new version; versions
 * are immutable, so readers may cache a (id, version) forever. Thread-safe: each call takes its
 * own connection.
 */
public final class WorkflowStore {

    /** A stored definition and whether new events may start it. */
    public record Stored(Workflow workflow, boolean enabled) {
    }

    private final DataSource dataSource;

    public WorkflowStore(DataSource dataSource) {
        this.dataSource = dataSource;
    }

    /** Stores {@code wf} as the next version of its id and returns it with that version. */
    public Workflow deploy(Workflow wf) throws SQLException {
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(false);
            try (Statement lock = c.createStatement()) {
                // Two deploys of one id at once must not pick the same version.
                lock.execute("LOCK TABLE workflows IN SHARE ROW EXCLUSIVE MODE");
            }
            int version;
            try (PreparedStatement q = c.prepareStatement("SELECT coalesce(max(version), 0) + 1 FROM workflows WHERE id = ?")) {
                q.setString(1, wf.id());
                try (ResultSet rs = q.executeQuery()) {
                    rs.next();
                    version = rs.getInt(1);
                }
            }
            Workflow versioned = wf.withVersion(version);
            try (PreparedStatement ins = c.prepareStatement(
                    "INSERT INTO workflows (id, version, definition, enabled) VALUES (?, ?, ?::jsonb, true)")) {
                ins.setString(1, wf.id());
                ins.setInt(2, version);
                ins.setString(3, Json.text(versioned));
                ins.executeUpdate();
            }
            c.commit();
            return versioned;
        }
    }

    /** Enables or disables every version of a workflow for new events; returns whether it exists. */
    public boolean setEnabled(String id, boolean enabled) throws SQLException {
        try (Connection c = dataSource.getConnection();
             PreparedStatement u = c.prepareStatement("UPDATE workflows SET enabled = ? WHERE id = ?")) {
            u.setBoolean(1, enabled);
            u.setString(2, id);
            return u.executeUpdate() > 0;
        }
    }

    /** One version, for the engine. */
    public Optional<Workflow> load(String id, int version) throws SQLException {
        try (Connection c = dataSource.getConnection();
             PreparedStatement q = c.prepareStatement("SELECT definition FROM workflows WHERE id = ? AND version = ?")) {
            q.setString(1, id);
            q.setInt(2, version);
            try (ResultSet rs = q.executeQuery()) {
                return rs.next() ? Optional.of(parseStored(id, rs.getString(1))) : Optional.empty();
            }
        }
    }

    /** The database this store reads and writes. */
    public DataSource dataSource() {
        return dataSource;
    }

    /** The latest version of every workflow, enabled or not, for the dispatcher's catalog. */
    public List<Stored> latest() throws SQLException {
        List<Stored> out = new ArrayList<>();
        try (Connection c = dataSource.getConnection();
             Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT DISTINCT ON (id) id, definition, enabled FROM workflows "
                     + "ORDER BY id, version DESC")) {
            while (rs.next()) {
                out.add(new Stored(parseStored(rs.getString(1), rs.getString(2)), rs.getBoolean(3)));
            }
        }
        return out;
    }

    private static Workflow parseStored(String id, String json) throws SQLException {
        try {
            return Workflows.parse("stored workflow '" + id + "'", json.getBytes(StandardCharsets.UTF_8));
        } catch (DefinitionException e) {
            throw new SQLException(e.getMessage(), e);
        }
    }
}
