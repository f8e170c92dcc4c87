package dev.onceflow.engine;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.common.workflow.Node;
import java.util.Optional;

/** A node's retry policy applied to one failure (ADR 0013). Stateless. */
final class Retries {

    private Retries() {
    }

    /** The backoff before the next attempt, or empty when the failure ends the node for good. */
    static Optional<Long> backoff(Node node, int attempt, String errorClass) {
        return Optional.empty();
    }

    /** The variables a node set, derived from its stored output (a calculation's output is what it set). */
    static ObjectNode varsSet(Node node, JsonNode output) {
        return null;
    }
}
