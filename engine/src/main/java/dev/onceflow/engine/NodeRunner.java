package dev.onceflow.engine;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.common.workflow.Expressions;
import dev.onceflow.common.workflow.Node;
import dev.onceflow.common.workflow.Templates;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.List;
import java.util.Map;

/**
 * Runs one node on the worker's connection, inside the batch's PostgreSQL transaction, so a sql
 * node's statement commits or rolls back together with the processed key that records it.
 * Expression and SQL errors become {@link NodeResult.Failed}; only errors of the connection itself
 * (the database is gone) escape as {@link SQLException}, so the whole batch is retried.
 *
 * <p>A statement runs on the poll thread for at most {@code engine.sql.inline.ms}; one that
 * overruns it is stopped ({@link SqlNode#OVERRAN}) and remembered, and from then on that node's
 * statement, like one marked {@code long}, is {@link #runsLong long}: handed off to
 * {@link LongStatements}, which runs it with {@link #runLong} (ADR 0021). Thread-safe: its only
 * state is that set of statements, shared by the worker's poll thread and its long-statement threads.
 */
final class NodeRunner {

    private final SqlNode sqlNode;
    private final java.time.Clock clock;
    private final long inlineMs;
    private final long leaseGraceMs;
    /** Statements that overran the inline limit on this worker, for its life. */
    private final java.util.Set<Node.Sql> overran = java.util.concurrent.ConcurrentHashMap.newKeySet();

    NodeRunner(long defaultSqlTimeoutMs) {
        this(defaultSqlTimeoutMs, java.time.Clock.systemUTC());
    }

    NodeRunner(long defaultSqlTimeoutMs, java.time.Clock clock) {
        this(defaultSqlTimeoutMs, clock, List.of(), Long.MAX_VALUE, ApplyOutcome.DEFAULT_LEASE_GRACE_MS);
    }

    /**
     * @param inlineMs     how long a statement may run inline before it is handed off; {@code Long.MAX_VALUE}: never
     * @param leaseGraceMs how long past its timeout a claimed call or long statement may stay unrecorded
     *                     before its lease timer delivers it again ({@code engine.lease.grace.ms})
     */
    NodeRunner(long defaultSqlTimeoutMs, java.time.Clock clock, List<String> httpAllowedHosts, long inlineMs, long leaseGraceMs) {
        this.sqlNode = new SqlNode(defaultSqlTimeoutMs);
        this.clock = clock;
        this.httpAllowedHosts = List.copyOf(httpAllowedHosts);
        this.inlineMs = inlineMs;
        this.leaseGraceMs = leaseGraceMs;
    }

    /** {@code engine.lease.grace.ms}: a lease is due this long after the call's or the statement's own timeout. */
    long leaseGraceMs() {
        return leaseGraceMs;
    }

    private final List<String> httpAllowedHosts;

    /** Whether this statement runs off the poll thread: marked {@code long}, or it overran the inline limit here. */
    boolean runsLong(Node node) {
        return node instanceof Node.Sql sql && (sql.markedLong() || overran.contains(sql));
    }

    /** The statement's own timeout (its {@code timeoutMs}, else {@code engine.sql.timeout.ms}). */
    long timeoutMs(Node.Sql node) {
        return sqlNode.timeoutMs(node);
    }

    /** Runs a long statement with its own timeout, on a long-statement thread's connection. */
    NodeResult runLong(Node.Sql node, Map<String, Object> variables, Connection connection) throws SQLException {
        return sqlNode.run(node, variables, connection);
    }

    NodeResult run(Node node, Map<String, Object> variables, Connection connection) throws SQLException {
        try {
            if (node instanceof Node.Sql sql) {
                NodeResult result = sqlNode.run(sql, variables, connection, inlineMs);
                if (result instanceof NodeResult.Failed f && SqlNode.OVERRAN.equals(f.errorClass())) {
                    overran.add(sql);
                }
                return result;
            }
            if (node instanceof Node.Condition condition) {
                return condition(condition, variables);
            }
            if (node instanceof Node.Calculation calculation) {
                return calculation(calculation, variables);
            }
            if (node instanceof Node.Delay delay) {
                return delay(delay, variables);
            }
            if (node instanceof Node.Http http) {
                return new NodeResult.Call(HttpCall.render(http, variables, httpAllowedHosts));
            }
            if (node instanceof Node.Parallel parallel) {
                return new NodeResult.Branched(JsonNodeFactory.instance.objectNode().put("branches", parallel.branches().size()));
            }
            if (node instanceof Node.Loop loop) {
                return loop(loop, variables);
            }
            if (node instanceof Node.End end) {
                ObjectNode out = JsonNodeFactory.instance.objectNode().put("status", end.status());
                String message = end.message() == null ? null : Templates.render(end.message(), variables);
                if (message != null) {
                    out.put("message", message);
                }
                return new NodeResult.Succeeded(out, List.of(), end.status(), message);
            }
            return new NodeResult.Failed("node type " + node.getClass().getSimpleName() + " is not supported by this engine");
        } catch (IllegalArgumentException e) {
            return new NodeResult.Failed(e.getMessage());
        } catch (StackOverflowError | OutOfMemoryError e) {
            // An expression that recursed or allocated without bound: the failure of this node,
            // not of the worker. The memory it took is garbage as soon as we are back here.
            return new NodeResult.Failed("node '" + node.id() + "' exhausted the " + (e instanceof StackOverflowError
                    ? "stack" : "memory") + " while evaluating its expressions (" + e + ")");
        }
    }

    /**
     * Runs the plain-DML {@code sql} nodes among {@code nodes} (see {@link SqlNode#batchable}) as
     * one JDBC batch per statement text: one round trip for many node runs, on the same connection
     * and in the same transaction as running them one by one. Returns the results by index; null
     * where a node was not batchable and must go through {@link #run}. The batch's query timeout is
     * the nodes' timeout; if any statement fails (or the batch runs past it) the transaction is
     * aborted and {@link BatchPipeline.ReplayCarefully} asks for the careful, node-by-node replay,
     * which records exactly which node failed.
     */
    NodeResult[] runBatched(List<Node> nodes, List<Map<String, Object>> variables, Connection connection)
            throws SQLException, BatchPipeline.ReplayCarefully {
        NodeResult[] results = new NodeResult[nodes.size()];
        Map<String, List<Integer>> groups = new java.util.LinkedHashMap<>();
        Object[][] params = new Object[nodes.size()][];
        for (int i = 0; i < nodes.size(); i++) {
            if (nodes.get(i) instanceof Node.Sql sql && SqlNode.batchable(sql) && !runsLong(sql)) {
                try {
                    params[i] = SqlNode.params(sql, variables.get(i));
                } catch (IllegalArgumentException e) {
                    results[i] = new NodeResult.Failed(e.getMessage());
                    continue;
                }
                groups.computeIfAbsent(sqlNode.timeoutMs(sql) + "\n" + sql.sql(), k -> new java.util.ArrayList<>()).add(i);
            }
        }
        for (List<Integer> group : groups.values()) {
            Node.Sql first = (Node.Sql) nodes.get(group.get(0));
            try (java.sql.PreparedStatement ps = connection.prepareStatement(first.sql())) {
                // Each node of the batch gets the inline limit: a batch past it is replayed node by
                // node, where a node that overruns alone is handed off.
                long limit = inlineMs == Long.MAX_VALUE ? Long.MAX_VALUE : inlineMs * group.size();
                ps.setQueryTimeout(SqlNode.seconds(Math.min(sqlNode.timeoutMs(first), limit)));
                for (int i : group) {
                    for (int p = 0; p < params[i].length; p++) {
                        ps.setObject(p + 1, params[i][p]);
                    }
                    ps.addBatch();
                }
                int[] counts = ps.executeBatch();
                for (int k = 0; k < group.size(); k++) {
                    int i = group.get(k);
                    ObjectNode out = JsonNodeFactory.instance.objectNode().put("rowCount", counts[k]);
                    results[i] = NodeResult.Succeeded.continueWith(out, nodes.get(i).successors());
                }
            } catch (SQLException e) {
                if (SqlNode.isConnectionFailure(e)
                        || (e.getNextException() != null && SqlNode.isConnectionFailure(e.getNextException()))) {
                    throw e;
                }
                throw new BatchPipeline.ReplayCarefully("a batched sql node failed: " + e.getMessage());
            }
        }
        return results;
    }

    /**
     * Evaluates {@code set}: every expression sees the variables as they were before the node (a
     * simultaneous assignment; the stored definition's key order is not kept). The output is the
     * object of the values set, which the follow-ups see merged into {@code vars}.
     */
    private static NodeResult calculation(Node.Calculation node, Map<String, Object> variables) {
        ObjectNode out = JsonNodeFactory.instance.objectNode();
        for (Map.Entry<String, String> e : node.set().entrySet()) {
            Object value;
            try {
                value = Expressions.evaluate(e.getValue(), variables);
            } catch (IllegalArgumentException failure) {
                throw new IllegalArgumentException("calculation '" + node.id() + "', variable '" + e.getKey() + "' ("
                        + e.getValue() + "): " + failure.getMessage(), failure);
            }
            out.set(e.getKey(), dev.onceflow.common.Json.MAPPER.valueToTree(value));
        }
        return new NodeResult.Succeeded(out, node.successors(), null, null, out);
    }

    /** A durable timer: due {@code ms} from now or at {@code until}; one already due continues at once. */
    private NodeResult delay(Node.Delay node, Map<String, Object> variables) {
        long now = clock.millis();
        long due;
        if (node.ms() != null) {
            due = now + node.ms();
        } else {
            Object until = inField("until", () -> Expressions.evaluate(node.until(), variables));
            if (until instanceof Number n) {
                due = n.longValue();
            } else if (until != null) {
                try {
                    due = java.time.Instant.parse(until.toString()).toEpochMilli();
                } catch (java.time.format.DateTimeParseException e) {
                    throw new IllegalArgumentException("delay '" + node.id() + "': until (" + node.until() + ") yielded '"
                            + until + "', which is not an ISO-8601 instant such as 2026-11-27T10:00:00Z");
                }
            } else {
                throw new IllegalArgumentException("delay '" + node.id() + "': until (" + node.until() + ") yielded null");
            }
        }
        ObjectNode out = JsonNodeFactory.instance.objectNode().put("dueAt", java.time.Instant.ofEpochMilli(due).toString());
        if (due <= now) {
            return NodeResult.Succeeded.continueWith(out, node.successors());
        }
        return new NodeResult.Waiting(out, due, node.successors());
    }

    /** Evaluates {@code items}; the output holds them and their count, the body runs once per item. */
    private static NodeResult loop(Node.Loop node, Map<String, Object> variables) {
        Object items = inField("items", () -> Expressions.evaluate(node.items(), variables));
        com.fasterxml.jackson.databind.JsonNode array = items == null ? null : dev.onceflow.common.Json.MAPPER.valueToTree(items);
        if (array == null || !array.isArray()) {
            return new NodeResult.Failed("loop '" + node.id() + "': items (" + node.items() + ") yielded "
                    + (items == null ? "null" : items.getClass().getSimpleName()) + ", not an array");
        }
        if (array.size() > node.maxItems()) {
            return new NodeResult.Failed("loop '" + node.id() + "': items (" + node.items() + ") has " + array.size()
                    + " elements, more than maxItems " + node.maxItems());
        }
        ObjectNode out = JsonNodeFactory.instance.objectNode().put("count", array.size());
        out.set("items", array);
        return new NodeResult.Branched(out);
    }

    private static NodeResult condition(Node.Condition node, Map<String, Object> variables) {
        boolean value = inField("if", () -> Expressions.test(node.expression(), variables));
        String next = value ? node.thenNode() : node.elseNode();
        ObjectNode out = JsonNodeFactory.instance.objectNode().put("value", value);
        return NodeResult.Succeeded.continueWith(out, next == null ? List.of() : List.of(next));
    }

    /**
     * Evaluates one of a node's expressions; a failure names the field it came from (the definition's
     * JSON name), so the author finds the expression that failed: {@code field 'if': expression ... failed: ...}.
     */
    private static <T> T inField(String field, java.util.function.Supplier<T> evaluation) {
        try {
            return evaluation.get();
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("field '" + field + "': " + e.getMessage(), e);
        }
    }
}
