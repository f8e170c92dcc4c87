package dev.onceflow.common;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Map;
import java.util.Objects;

/**
 * A record of {@value Topics#TASKS}, keyed by the event key: run node {@link #node()} of execution
 * {@link #executionId()}. It carries what the node's expressions may read (the trigger data and the
 * outputs of the nodes before it), so running a node needs no read of earlier state.
 *
 * @param path  a loop iteration or branch; empty on the main path
 * @param depth the execution's depth (ADR 0011), 0 when absent
 */
public record TaskEnvelope(String eventKey, long executionId, String workflow, int version, String node, String path,
                           long eventTime, ObjectNode trigger, Map<String, JsonNode> outputs, long publishedAt, Integer depth) {

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
    }

    /** {@code eventKey/nodeId[/path]}: the primary key of the node run in {@code processed_keys}. */
    public String processedKey() {
        return path.isEmpty() ? eventKey + "/" + node : eventKey + "/" + node + "/" + path;
    }
}
