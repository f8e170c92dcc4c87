package dev.onceflow.common;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Map;
import java.util.Objects;

/**
 * A record of {@value Topics#TASKS}, keyed by {@link #partitionKey()}: run node {@link #node()} of execution
 * {@link #executionId()}. It carries what the node's expressions may read (the trigger data and the
 * outputs of the nodes before it), so running a node needs no read of earlier state.
 *
 * @param path  a loop iteration or branch; empty on the main path
 * @param depth   the execution's depth (ADR 0011), 0 when absent
 * @param vars    the execution's variables as this node sees them (ADR 0013), {} when absent
 * @param attempt which attempt of the node this is (ADR 0013), 1 when absent
 * @param callKey the {@code Idempotency-Key} of an {@code http} attempt whose call repeats one of
 *                unknown outcome (ADR 0014): the earlier attempt's key; null when the attempt's own
 *                processed key is its key
 * @param traceparent the W3C {@code traceparent} the execution's event arrived with (ADR 0019), kept
 *                so that tasks produced later (inline, from a timer) stay in the trigger's trace;
 *                null when none came (absent in records written before ADR 0019)
 * @param orderKey the execution's ordering key (ADR 0020): every task of the execution is keyed by
 *                 it, and its finish releases its lane (ADR 0021); null when it has none
 */
public record TaskEnvelope(String eventKey, long executionId, String workflow, int version, String node, String path,
                           long eventTime, ObjectNode trigger, Map<String, JsonNode> outputs, long publishedAt, Integer depth,
                           ObjectNode vars, Integer attempt, String callKey, String traceparent, String orderKey) {

    /** A task of an execution without an ordering key. */
    public TaskEnvelope(String eventKey, long executionId, String workflow, int version, String node, String path,
                        long eventTime, ObjectNode trigger, Map<String, JsonNode> outputs, long publishedAt, Integer depth,
                        ObjectNode vars, Integer attempt, String callKey, String traceparent) {
        this(eventKey, executionId, workflow, version, node, path, eventTime, trigger, outputs, publishedAt, depth, vars, attempt,
                callKey, traceparent, null);
    }

    /** A task outside any incoming trace. */
    public TaskEnvelope(String eventKey, long executionId, String workflow, int version, String node, String path,
                        long eventTime, ObjectNode trigger, Map<String, JsonNode> outputs, long publishedAt, Integer depth,
                        ObjectNode vars, Integer attempt, String callKey) {
        this(eventKey, executionId, workflow, version, node, path, eventTime, trigger, outputs, publishedAt, depth, vars, attempt,
                callKey, null);
    }

    /** An attempt whose call, if it makes one, carries its own processed key. */
    public TaskEnvelope(String eventKey, long executionId, String workflow, int version, String node, String path,
                        long eventTime, ObjectNode trigger, Map<String, JsonNode> outputs, long publishedAt, Integer depth,
                        ObjectNode vars, Integer attempt) {
        this(eventKey, executionId, workflow, version, node, path, eventTime, trigger, outputs, publishedAt, depth, vars, attempt, null);
    }

    /** A first attempt with no variables. */
    public TaskEnvelope(String eventKey, long executionId, String workflow, int version, String node, String path,
                        long eventTime, ObjectNode trigger, Map<String, JsonNode> outputs, long publishedAt, Integer depth) {
        this(eventKey, executionId, workflow, version, node, path, eventTime, trigger, outputs, publishedAt, depth, null, null);
    }

    /** A task of an execution of depth 0. */
    public TaskEnvelope(String eventKey, long executionId, String workflow, int version, String node, String path,
                        long eventTime, ObjectNode trigger, Map<String, JsonNode> outputs, long publishedAt) {
        this(eventKey, executionId, workflow, version, node, path, eventTime, trigger, outputs, publishedAt, 0);
    }

    public TaskEnvelope {
        Objects.requireNonNull(eventKey, "eventKey");
        Objects.requireNonNull(node, "node");
        path = path == null ? "" : path;
        trigger = trigger == null ? JsonNodeFactory.instance.objectNode() : trigger;
        outputs = outputs == null ? Map.of() : Map.copyOf(outputs);
        depth = depth == null ? 0 : depth; // absent in records written before ADR 0011
        vars = vars == null ? JsonNodeFactory.instance.objectNode() : vars; // absent before ADR 0013
        attempt = attempt == null || attempt < 1 ? 1 : attempt;
        orderKey = orderKey == null || orderKey.isEmpty() || orderKey.equals(eventKey) ? null : orderKey;
    }

    /** The same node and execution state at another node, path and attempt (a follow-up, a retry, a branch). */
    public TaskEnvelope next(String nextNode, String nextPath, Map<String, JsonNode> nextOutputs, ObjectNode nextVars,
                             int nextAttempt) {
        return new TaskEnvelope(eventKey, executionId, workflow, version, nextNode, nextPath, eventTime, trigger, nextOutputs,
                publishedAt, depth, nextVars, nextAttempt, null, traceparent, orderKey);
    }

    /** The same task whose call carries {@code key} as its {@code Idempotency-Key}. */
    public TaskEnvelope withCallKey(String key) {
        return new TaskEnvelope(eventKey, executionId, workflow, version, node, path, eventTime, trigger, outputs, publishedAt, depth,
                vars, attempt, key, traceparent, orderKey);
    }

    /** The same task in the trace of {@code incoming} (a W3C {@code traceparent}, or null for none). */
    public TaskEnvelope withTraceparent(String incoming) {
        return new TaskEnvelope(eventKey, executionId, workflow, version, node, path, eventTime, trigger, outputs, publishedAt, depth,
                vars, attempt, callKey, incoming, orderKey);
    }

    /** The same task of an execution whose ordering key is {@code key} (null: none). */
    public TaskEnvelope withOrderKey(String key) {
        return new TaskEnvelope(eventKey, executionId, workflow, version, node, path, eventTime, trigger, outputs, publishedAt, depth,
                vars, attempt, callKey, traceparent, key);
    }

    /** What the task's record is keyed (partitioned) by: the execution's ordering key, else its event key. */
    public String partitionKey() {
        return orderKey != null ? orderKey : eventKey;
    }

    /**
     * The {@code Idempotency-Key} of this attempt's call: {@link #callKey} when it repeats a call
     * of unknown outcome, else the processed key.
     */
    public String idempotencyKey() {
        return callKey != null ? callKey : processedKey();
    }

    /**
     * {@code eventKey/nodeId[/path][#attempt]}: the primary key of the node run in
     * {@code processed_keys}; the attempt is appended from the second on (ADR 0013).
     */
    public String processedKey() {
        String key = path.isEmpty() ? eventKey + "/" + node : eventKey + "/" + node + "/" + path;
        return attempt > 1 ? key + "#" + attempt : key;
    }
}
