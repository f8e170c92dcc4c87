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
 * @param path a loop iteration or branch; empty on the main path
 */
public record TaskEnvelope(String eventKey, long executionId, String workflow, int version, String node, String path,
                           long eventTime, ObjectNode trigger, Map<String, JsonNode> outputs, long publishedAt) {

    public TaskEnvelope {
        Objects.requireNonNull(eventKey, "eventKey");
        Objects.requireNonNull(node, "node");
        path = path == null ? "" : path;
        trigger = trigger == null ? JsonNodeFactory.instance.objectNode() : trigger;
        outputs = outputs == null ? Map.of() : Map.copyOf(outputs);
    }

    /** {@code eventKey/nodeId[/path]}: the primary key of the node run in {@code processed_keys}. */
    public String processedKey() {
        return path.isEmpty() ? eventKey + "/" + node : eventKey + "/" + node + "/" + path;
    }
}
