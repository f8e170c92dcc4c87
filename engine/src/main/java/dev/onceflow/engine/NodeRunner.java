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
        }
    }

    private static NodeResult condition(Node.Condition node, Map<String, Object> variables) {
        boolean value = Expressions.test(node.expression(), variables);
        String next = value ? node.thenNode() : node.elseNode();
        ObjectNode out = JsonNodeFactory.instance.objectNode().put("value", value);
        return NodeResult.Succeeded.continueWith(out, next == null ? List.of() : List.of(next));
    }
}
