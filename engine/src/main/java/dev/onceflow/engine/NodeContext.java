package dev.onceflow.engine;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import dev.onceflow.common.Json;
import dev.onceflow.common.TaskEnvelope;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The variables a node's expressions see: {@code trigger} (the event's data), {@code event}
 * ({@code key}, {@code workflow}, {@code version}, {@code time}), {@code vars} (set by
 * {@code calculation} nodes), {@code nodes.<id>.output} and, inside a loop's body, {@code loop.item}
 * and {@code loop.index}. Built from the task alone, so running a node reads no earlier state.
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
        vars.put("vars", Json.MAPPER.convertValue(task.vars(), MAP));
        Map<String, Object> loop = loop(task);
        if (loop != null) {
            vars.put("loop", loop);
        }
        Map<String, Object> nodes = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : task.outputs().entrySet()) {
            Map<String, Object> node = new LinkedHashMap<>();
            node.put("output", Json.MAPPER.convertValue(e.getValue(), Object.class));
            nodes.put(e.getKey(), node);
        }
        vars.put("nodes", nodes);
        return vars;
    }

    /**
     * {@code loop.item} and {@code loop.index} inside a loop's body: the innermost path segment
     * {@code owner#index} whose owner's output holds the loop's {@code items} (ADR 0013).
     */
    private static Map<String, Object> loop(TaskEnvelope task) {
        String[] segments = task.path().isEmpty() ? new String[0] : task.path().split("/");
        for (int i = segments.length - 1; i >= 0; i--) {
            int hash = segments[i].lastIndexOf('#');
            if (hash <= 0) {
                continue;
            }
            JsonNode owner = task.outputs().get(segments[i].substring(0, hash));
            if (owner != null && owner.path("items").isArray()) {
                int index;
                try {
                    index = Integer.parseInt(segments[i].substring(hash + 1));
                } catch (NumberFormatException e) {
                    continue;
                }
                Map<String, Object> loop = new LinkedHashMap<>();
                loop.put("index", index);
                loop.put("item", Json.MAPPER.convertValue(owner.path("items").path(index), Object.class));
                return loop;
            }
        }
        return null;
    }
}
