package dev.onceflow.common.workflow;

import com.fasterxml.jackson.annotation.JsonIgnore;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A named, versioned workflow definition: one trigger and a graph of nodes. {@code version} is
 * assigned by the store when a definition is deployed; {@code start} defaults to the first node.
 * Immutable; build it through {@link Workflows#parse} so that it is validated.
 */
public record Workflow(String id, Integer version, String description, Trigger trigger, String start, List<Node> nodes) {

    public Workflow {
        nodes = nodes == null ? List.of() : List.copyOf(nodes);
        trigger = trigger == null ? new Trigger.Kafka(null, null, null) : trigger;
        if (start == null && !nodes.isEmpty()) {
            start = nodes.get(0).id();
        }
    }

    public Workflow withVersion(int newVersion) {
        return new Workflow(id, newVersion, description, trigger, start, nodes);
    }

    public Optional<Node> node(String nodeId) {
        return nodes.stream().filter(n -> n.id().equals(nodeId)).findFirst();
    }

    @JsonIgnore
    public Map<String, Node> nodesById() {
        Map<String, Node> byId = new LinkedHashMap<>();
        nodes.forEach(n -> byId.putIfAbsent(n.id(), n));
        return byId;
    }
}
