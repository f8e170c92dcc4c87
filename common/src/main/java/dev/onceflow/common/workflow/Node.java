package dev.onceflow.common.workflow;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import java.util.List;

/**
 * One step of a workflow's graph. Tagged by {@code type} in JSON. Values are immutable; the
 * validator ({@link WorkflowValidator}) checks references and expressions, the compact
 * constructors only normalise.
 */
@JsonTypeInfo(use = JsonTypeInfo.Id.NAME, property = "type")
@JsonSubTypes({
        @JsonSubTypes.Type(value = Node.Sql.class, name = "sql"),
        @JsonSubTypes.Type(value = Node.Condition.class, name = "condition"),
        @JsonSubTypes.Type(value = Node.End.class, name = "end"),
})
public sealed interface Node {

    String id();

    /** The nodes this one can lead to, in declaration order. */
    List<String> successors();

    /**
     * Runs one SQL statement. {@code params} are expressions whose values are bound as JDBC
     * parameters to the statement's {@code ?} placeholders, in order; they are never concatenated
     * into the statement.
     */
    record Sql(String id, String sql, List<String> params, String next, Long timeoutMs) implements Node {
        public Sql {
            params = params == null ? List.of() : List.copyOf(params);
        }

        @Override
        public List<String> successors() {
            return next == null ? List.of() : List.of(next);
        }
    }

    /** Evaluates {@code if}; continues with {@code then} when true, else with {@code else} (either may be absent: the branch ends). */
    record Condition(String id,
                     @JsonProperty("if") String expression,
                     @JsonProperty("then") String thenNode,
                     @JsonProperty("else") String elseNode) implements Node {
        @Override
        public List<String> successors() {
            return java.util.stream.Stream.of(thenNode, elseNode).filter(java.util.Objects::nonNull).toList();
        }
    }

    /** Finishes the execution: {@code status} is {@code succeeded} (default) or {@code failed}, with an optional message. */
    record End(String id, String status, String message) implements Node {
        public End {
            status = status == null ? "succeeded" : status;
        }

        public boolean failed() {
            return "failed".equals(status);
        }

        @Override
        public List<String> successors() {
            return List.of();
        }
    }
}
