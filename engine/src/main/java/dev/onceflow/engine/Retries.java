package dev.onceflow.engine;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.common.workflow.Node;
import dev.onceflow.common.workflow.RetryPolicy;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;

/** A node's retry policy applied to one failure, and the variables a node set (ADR 0013). Stateless. */
final class Retries {

    private Retries() {
    }

    /**
     * The backoff before the next attempt, or empty when the failure ends the node for good: no
     * policy, attempts used up, or an error class the policy does not retry (an expression or
     * definition error has none and is never retried).
     */
    static Optional<Long> backoff(Node node, int attempt, String errorClass) {
        RetryPolicy policy = node.retry();
        if (policy == null || errorClass == null || attempt >= policy.attempts() || !policy.retries(errorClass)) {
            return Optional.empty();
        }
        return Optional.of(policy.backoffMs(attempt, ThreadLocalRandom.current().nextDouble()));
    }

    /** The variables a node set, derived from its stored output: a calculation's output is what it set. */
    static ObjectNode varsSet(Node node, JsonNode output) {
        return node instanceof Node.Calculation && output instanceof ObjectNode o ? o : null;
    }
}
