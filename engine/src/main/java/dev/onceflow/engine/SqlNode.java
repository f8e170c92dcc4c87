package dev.onceflow.engine;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.common.Json;
import dev.onceflow.common.workflow.Expressions;
import dev.onceflow.common.workflow.Node;
import dev.onceflow.common.workflow.SqlStatements;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.util.Collection;
import java.util.Map;
import org.postgresql.core.Parser;

/**
 * A {@code sql} node: one statement whose parameters are expressions bound as JDBC parameters,
 * never concatenated. Output: {@code rowCount} and, for queries, {@code rows} (at most
 * {@value #MAX_ROWS}, as objects by column label). Not thread-safe: one per worker.
 */
final class SqlNode {

    static final int MAX_ROWS = 100;

    /**
     * The error class of a statement stopped at the poll thread's limit ({@code engine.sql.inline.ms})
     * before its own timeout: not a failure of the node, which is then run off the poll thread.
     */
    static final String OVERRAN = "overran-inline";

    private final long defaultTimeoutMs;

    SqlNode(long defaultTimeoutMs) {
        this.defaultTimeoutMs = defaultTimeoutMs;
    }

    /** Runs the statement with its own timeout. */
    NodeResult run(Node.Sql node, Map<String, Object> variables, Connection connection) throws SQLException {
        return run(node, variables, connection, Long.MAX_VALUE);
    }

    /**
     * Runs the statement, stopped after {@code limitMs} or its own timeout, whichever is shorter.
     * Stopped by the limit, it is {@link #OVERRAN}: its transaction is aborted, as by any failed
     * statement, and the caller rolls it back.
     */
    NodeResult run(Node.Sql node, Map<String, Object> variables, Connection connection, long limitMs) throws SQLException {
        String refused = refusal(node);
        if (refused != null) {
            return new NodeResult.Failed(refused);
        }
        Object[] params = params(node, variables);
        long timeoutMs = timeoutMs(node);
        long stopMs = Math.min(timeoutMs, limitMs);
        try (PreparedStatement ps = connection.prepareStatement(node.sql())) {
            // pgjdbc cancels the statement from a timer thread when it runs past the timeout.
            ps.setQueryTimeout(seconds(stopMs));
            for (int i = 0; i < params.length; i++) {
                ps.setObject(i + 1, params[i]);
            }
            ObjectNode out = JsonNodeFactory.instance.objectNode();
            if (ps.execute()) {
                try (ResultSet rs = ps.getResultSet()) {
                    readRows(rs, out);
                }
            } else {
                out.put("rowCount", ps.getUpdateCount());
            }
            return NodeResult.Succeeded.continueWith(out, node.successors());
        } catch (SQLException e) {
            if (isConnectionFailure(e)) {
                throw e;
            }
            String state = e.getSQLState();
            if ("57014".equals(state) && seconds(stopMs) < seconds(timeoutMs)) {
                return new NodeResult.Failed("SQL statement ran past " + stopMs + " ms on the poll thread "
                        + "(engine.sql.inline.ms); it runs off the poll thread instead", true, OVERRAN);
            }
            if ("57014".equals(state)) {
                return new NodeResult.Failed("SQL statement timed out after " + timeoutMs
                        + " ms (statement_timeout / query cancelled)", true, "timeout");
            }
            return new NodeResult.Failed("SQL error " + state + ": " + e.getMessage(), true, state);
        }
    }

    /** pgjdbc's query timeout is in whole seconds: at least one. */
    static int seconds(long ms) {
        return (int) Math.min(Integer.MAX_VALUE, Math.max(1, (ms + 999) / 1000));
    }

    /**
     * Why the node's statement must not run, or null. Deploy refuses such a statement
     * ({@link SqlStatements#problem}), but a stored definition can predate that check, and pgjdbc
     * would run every statement of a multi-statement text, committing the claim and the effect
     * outside the protocol with a {@code COMMIT}. So it is checked again here, before anything is
     * sent, and pgjdbc's own splitter has the last word on how many statements it would send.
     */
    static String refusal(Node.Sql node) {
        String problem = SqlStatements.problem(node.sql());
        if (problem == null) {
            try {
                int sent = Parser.parseJdbcSql(node.sql(), true, true, true, false, false).size();
                if (sent > 1) {
                    problem = "holds " + sent + " statements (as the PostgreSQL driver splits it); a sql node runs exactly one";
                }
            } catch (SQLException e) {
                // Unparseable by the driver: executing it will fail as a node failure with the driver's reason.
            }
        }
        return problem == null ? null : "sql node '" + node.id() + "' was not run: field 'sql': " + problem;
    }

    /** The node's parameters, evaluated; throws IllegalArgumentException when an expression fails. */
    static Object[] params(Node.Sql node, Map<String, Object> variables) {
        Object[] params = new Object[node.params().size()];
        for (int i = 0; i < params.length; i++) {
            params[i] = jdbcValue(Expressions.evaluate(node.params().get(i), variables));
        }
        return params;
    }

    long timeoutMs(Node.Sql node) {
        return node.timeoutMs() != null ? node.timeoutMs() : defaultTimeoutMs;
    }

    private static final java.util.regex.Pattern PLAIN_DML =
            java.util.regex.Pattern.compile("(?is)\\s*(INSERT|UPDATE|DELETE)\\b.*");
    private static final java.util.regex.Pattern RETURNING = java.util.regex.Pattern.compile("(?i)\\bRETURNING\\b");

    /**
     * Whether the statement is a plain INSERT, UPDATE or DELETE that returns no rows: then many
     * runs of it can be sent as one JDBC batch, and each run's output is its update count
     * ({@code rowCount}), exactly what {@link #run} would produce.
     */
    static boolean batchable(Node.Sql node) {
        String sql = node.sql();
        return PLAIN_DML.matcher(sql).matches() && !RETURNING.matcher(sql).find() && sql.indexOf(';') < 0;
    }

    private static void readRows(ResultSet rs, ObjectNode out) throws SQLException {
        ResultSetMetaData md = rs.getMetaData();
        ArrayNode rows = out.putArray("rows");
        int count = 0;
        while (rs.next()) {
            count++;
            if (count > MAX_ROWS) {
                continue;
            }
            ObjectNode row = rows.addObject();
            for (int c = 1; c <= md.getColumnCount(); c++) {
                row.set(md.getColumnLabel(c), Json.MAPPER.valueToTree(plain(rs.getObject(c))));
            }
        }
        out.put("rowCount", count);
        out.put("truncated", count > MAX_ROWS);
    }

    private static Object plain(Object value) {
        if (value == null || value instanceof Number || value instanceof Boolean || value instanceof String) {
            return value;
        }
        return value.toString();
    }

    /** Maps and lists are bound as JSON text (cast with {@code ?::jsonb} in the statement). */
    static Object jdbcValue(Object value) {
        if (value instanceof Map<?, ?> || value instanceof Collection<?>) {
            return Json.text(value);
        }
        return value;
    }

    /** Class 08 (connection exception) and 57P0x (shutdown): the database is gone, not the statement wrong. */
    static boolean isConnectionFailure(SQLException e) {
        String state = e.getSQLState();
        return state != null && (state.startsWith("08") || state.startsWith("57P"));
    }
}
