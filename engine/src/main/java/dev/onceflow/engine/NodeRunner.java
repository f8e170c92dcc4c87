package dev.onceflow.engine;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.common.workflow.Expressions;
import dev.onceflow.common.workflow.Node;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.List;
import java.util.Map;

/**
 * Runs one node on the worker's connection, inside the batch's PostgreSQL transaction, so a sql
 * node's statement commits or rolls back together with the processed key that records it.
 * Expression and SQL errors become {@link NodeResult.Failed}; only errors of the connection itself
 * (the database is gone) escape as {@link SQLException}, so the whole batch is retried.
 * Not thread-safe: one per worker.
 */
final class NodeRunner {

    private final SqlNode sqlNode;

    NodeRunner(long defaultSqlTimeoutMs) {
        this.sqlNode = new SqlNode(defaultSqlTimeoutMs);
    }

    NodeResult run(Node node, Map<String, Object> variables, Connection connection) throws SQLException {
        try {
            if (node instanceof Node.Sql sql) {
                return sqlNode.run(sql, variables, connection);
            }
            if (node instanceof Node.Condition condition) {
                return condition(condition, variables);
            }
            if (node instanceof Node.End end) {
                ObjectNode out = JsonNodeFactory.instance.objectNode().put("status", end.status());
                if (end.message() != null) {
                    out.put("message", end.message());
                }
                return new NodeResult.Succeeded(out, List.of(), end.status(), end.message());
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
            if (nodes.get(i) instanceof Node.Sql sql && SqlNode.batchable(sql)) {
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
                ps.setQueryTimeout((int) Math.max(1, (sqlNode.timeoutMs(first) + 999) / 1000));
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

    private static NodeResult condition(Node.Condition node, Map<String, Object> variables) {
        boolean value = Expressions.test(node.expression(), variables);
        String next = value ? node.thenNode() : node.elseNode();
        ObjectNode out = JsonNodeFactory.instance.objectNode().put("value", value);
        return NodeResult.Succeeded.continueWith(out, next == null ? List.of() : List.of(next));
    }
}
