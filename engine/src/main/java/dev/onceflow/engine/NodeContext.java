package dev.onceflow.engine;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import dev.onceflow.common.Json;
import dev.onceflow.common.TaskEnvelope;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The variables a node's expressions see: {@code trigger} (the event's data), {@code event}
 * ({@code key}, {@code workflow}, {@code version}, {@code time}), {@code vars} and
 * {@code nodes.<id>.output}. Built from the task alone, so running a node reads no earlier state.
 */
final class NodeContext {

    private static final TypeReference<Map<String, Object>> MAP = new TypeReference<>() {
    };

    private NodeContext() {
    }

    static Map<String, Object> variables(TaskEnvelope task) {
        Map<String, Object> vars = new LinkedHashMap<>();
        vars.put("trigger", Json.MAPPER.convertValue(task.trigger(), MAP));
        vars.put("event", Map.of("key", task.eventKey(), "workflow", task.workflow(), "version", task.version(),
                "time", task.eventTime()));
        vars.put("vars", Map.of());
        Map<String, Object> nodes = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : task.outputs().entrySet()) {
            Map<String, Object> node = new LinkedHashMap<>();
            node.put("output", Json.MAPPER.convertValue(e.getValue(), Object.class));
            nodes.put(e.getKey(), node);
        }
        vars.put("nodes", nodes);
        return vars;
    }
}
