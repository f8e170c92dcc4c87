package dev.onceflow.common.workflow;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.stream.Stream;

/**
 * One step of a workflow's graph. Tagged by {@code type} in JSON. Values are immutable; the
 * validator ({@link WorkflowValidator}) checks references, ranges, expressions and templates, the
 * compact constructors only normalise (fill in defaults, copy collections). Optional numbers are
 * boxed so that an absent field can be told from a given one; those with a default are never null
 * after construction.
 *
 * <p>Every node may carry a {@link RetryPolicy} ({@code retry}, null when absent: a failure ends
 * the node at once). A {@code parallel} branch or a {@code loop} body is a region of the graph:
 * the nodes reached from its first node, up to the owner's {@code next}. A region ends at a node
 * without a follow-up, or where it leads to its owner's {@code next}; either way that branch or
 * iteration has arrived, and the owner's {@code next} runs after the join (or the last iteration).
 * A node belongs to one region at most, and never to a region and the main path.
 */
@JsonTypeInfo(use = JsonTypeInfo.Id.NAME, property = "type")
@JsonSubTypes({
        @JsonSubTypes.Type(value = Node.Sql.class, name = "sql"),
        @JsonSubTypes.Type(value = Node.Condition.class, name = "condition"),
        @JsonSubTypes.Type(value = Node.Calculation.class, name = "calculation"),
        @JsonSubTypes.Type(value = Node.Delay.class, name = "delay"),
        @JsonSubTypes.Type(value = Node.Http.class, name = "http"),
        @JsonSubTypes.Type(value = Node.Parallel.class, name = "parallel"),
        @JsonSubTypes.Type(value = Node.Loop.class, name = "loop"),
        @JsonSubTypes.Type(value = Node.End.class, name = "end"),
})
public sealed interface Node {

    String id();

    /** The nodes this one can lead to, in declaration order: branch and body starts first, then {@code next}. */
    List<String> successors();

    /** The node's retry policy, or null: without one, a failure fails the node at once. */
    RetryPolicy retry();

    /**
     * Runs one SQL statement. {@code params} are expressions whose values are bound as JDBC
     * parameters to the statement's {@code ?} placeholders, in order; they are never concatenated
     * into the statement. {@code long: true} says the statement is expected to run long: the
     * engine runs it off its poll thread, in a transaction of its own, from the start (ADR 0021);
     * without it, a statement that overruns {@code engine.sql.inline.ms} once is handed off so
     * from then on by that worker.
     */
    record Sql(String id, String sql, List<String> params, String next, Long timeoutMs, RetryPolicy retry,
               @JsonProperty("long") Boolean longRunning) implements Node {
        public Sql {
            params = params == null ? List.of() : List.copyOf(params);
        }

        public Sql(String id, String sql, List<String> params, String next, Long timeoutMs, RetryPolicy retry) {
            this(id, sql, params, next, timeoutMs, retry, null);
        }

        public Sql(String id, String sql, List<String> params, String next, Long timeoutMs) {
            this(id, sql, params, next, timeoutMs, null, null);
        }

        /** Whether the definition marks the statement {@code long}. */
        public boolean markedLong() {
            return Boolean.TRUE.equals(longRunning);
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
                     @JsonProperty("else") String elseNode,
                     RetryPolicy retry) implements Node {

        public Condition(String id, String expression, String thenNode, String elseNode) {
            this(id, expression, thenNode, elseNode, null);
        }

        @Override
        public List<String> successors() {
            return Stream.of(thenNode, elseNode).filter(Objects::nonNull).toList();
        }
    }

    /**
     * Sets variables: each entry of {@code set} is a variable name and an expression. Every
     * expression sees the variables as they were before the node (a simultaneous assignment: the
     * stored definition is {@code jsonb}, which does not keep the order of an object's keys); the
     * nodes after it see the new values as {@code vars.<name>}. Names match {@link #NAME}.
     */
    record Calculation(String id, Map<String, String> set, String next, RetryPolicy retry) implements Node {
        /** A variable name: a letter or '_', then letters, digits or '_'; at most 63 characters. */
        public static final String NAME = "[A-Za-z_][A-Za-z0-9_]{0,62}";

        public Calculation {
            set = set == null ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(set));
        }

        @Override
        public List<String> successors() {
            return next == null ? List.of() : List.of(next);
        }
    }

    /**
     * Waits, then continues with {@code next}: either {@code ms} milliseconds (0 to 366 days) or
     * {@code until}, an expression yielding an ISO-8601 instant string or epoch milliseconds. Exactly
     * one of the two is given.
     */
    record Delay(String id, Long ms, String until, String next, RetryPolicy retry) implements Node {
        /** Longest delay: 366 days. */
        public static final long MAX_MS = 366L * 24 * 60 * 60 * 1000;

        @Override
        public List<String> successors() {
            return next == null ? List.of() : List.of(next);
        }
    }

    /**
     * Calls an HTTP endpoint. {@code url} and the values of {@code headers} are {@link Templates};
     * {@code body} is either a JSON string, an expression whose value is the body, or a JSON object
     * or array, a template whose string values are templates ({@link Templates#renderJson}). The
     * engine adds {@code Idempotency-Key}, so a header of that name is refused. {@code onUnknownOutcome}
     * says what a redelivered call that was claimed but never recorded does: {@code fail} (default:
     * the node fails as "outcome unknown") or {@code retry} (call again with the same key). With
     * {@code ignoreFail} (default false) an answer that is not 2xx, a timeout or a broken connection
     * succeeds the node with the failure in its output ({@code error}, {@code errorClass}, and the
     * answer's {@code status}, {@code headers}, {@code body} when there was one) instead of failing
     * it, as NocoBase's request node does; a retry policy then never sees a failure.
     */
    record Http(String id,
                String method,
                String url,
                Map<String, String> headers,
                JsonNode body,
                Long timeoutMs,
                String onUnknownOutcome,
                Long maxResponseBytes,
                Boolean ignoreFail,
                String next,
                RetryPolicy retry) implements Node {
        public static final List<String> METHODS = List.of("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD");
        public static final String DEFAULT_METHOD = "GET";
        public static final long DEFAULT_TIMEOUT_MS = 10_000;
        public static final long MAX_TIMEOUT_MS = 600_000;
        public static final String FAIL = "fail";
        public static final String RETRY = "retry";
        public static final long DEFAULT_MAX_RESPONSE_BYTES = 1_048_576;
        public static final long MAX_RESPONSE_BYTES = 16 * 1_048_576;
        /** The engine's header; a node may not set it. */
        public static final String IDEMPOTENCY_KEY = "Idempotency-Key";

        public Http {
            method = method == null ? DEFAULT_METHOD : method;
            // keeps the order and any null value, so that the validator can name it
            headers = headers == null ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(headers));
            body = body == null || body.isNull() ? null : body.deepCopy();
            timeoutMs = timeoutMs == null ? DEFAULT_TIMEOUT_MS : timeoutMs;
            onUnknownOutcome = onUnknownOutcome == null ? FAIL : onUnknownOutcome;
            maxResponseBytes = maxResponseBytes == null ? DEFAULT_MAX_RESPONSE_BYTES : maxResponseBytes;
            ignoreFail = ignoreFail != null && ignoreFail;
        }

        /** Whether {@code body} is an expression (a JSON string) rather than a JSON template. */
        public boolean bodyIsExpression() {
            return body != null && body.isTextual();
        }

        @Override
        public JsonNode body() {
            return body == null ? null : body.deepCopy(); // JsonNode is mutable: the record's stays as parsed
        }

        @Override
        public List<String> successors() {
            return next == null ? List.of() : List.of(next);
        }
    }

    /**
     * Runs {@code branches} (the first node of each) side by side, then {@code next} once:
     * {@code join} {@code all} (default) after every branch arrived, {@code any} after the first.
     */
    record Parallel(String id, List<String> branches, String join, String next, RetryPolicy retry) implements Node {
        public static final int MAX_BRANCHES = 64;
        public static final String ALL = "all";
        public static final String ANY = "any";

        public Parallel {
            branches = branches == null ? List.of() : Collections.unmodifiableList(new ArrayList<>(branches));
            join = join == null ? ALL : join;
        }

        @Override
        public List<String> successors() {
            List<String> out = new ArrayList<>(branches.stream().filter(Objects::nonNull).toList());
            if (next != null) {
                out.add(next);
            }
            return List.copyOf(out);
        }
    }

    /**
     * Runs the body (starting at {@code do}) once per element of {@code items}, an expression
     * yielding an array of at most {@code maxItems} elements (default 1000, up to 100,000), one
     * iteration after the other; then {@code next}.
     */
    record Loop(String id,
                String items,
                @JsonProperty("do") String doNode,
                Integer maxItems,
                String next,
                RetryPolicy retry) implements Node {
        public static final int DEFAULT_MAX_ITEMS = 1_000;
        public static final int MAX_ITEMS = 100_000;

        public Loop {
            maxItems = maxItems == null ? DEFAULT_MAX_ITEMS : maxItems;
        }

        @Override
        public List<String> successors() {
            return Stream.of(doNode, next).filter(Objects::nonNull).toList();
        }
    }

    /**
     * Finishes the execution: {@code status} is {@code succeeded} (default) or {@code failed}, with
     * an optional {@code message}, a {@link Templates template} (plain text is a template without parts).
     */
    record End(String id, String status, String message, RetryPolicy retry) implements Node {
        public End {
            status = status == null ? "succeeded" : status;
        }

        public End(String id, String status, String message) {
            this(id, status, message, null);
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
