package dev.onceflow.engine;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;

/**
 * What one node run produced: its output and the nodes to run next, or a failure. A failed node
 * is an outcome recorded like any other, never an exception escaping the loop.
 */
sealed interface NodeResult {

    /** @param endStatus set when the node ends the execution explicitly ({@code end} node): succeeded or failed */
    record Succeeded(JsonNode output, List<String> next, String endStatus, String message) implements NodeResult {
        public Succeeded {
            next = List.copyOf(next);
        }

        static Succeeded continueWith(JsonNode output, List<String> next) {
            return new Succeeded(output, next, null, null);
        }
    }

    /**
     * @param transactionAborted the failing SQL statement aborted the PostgreSQL transaction: the
     *                           batch must be rolled back and replayed with a savepoint per node
     */
    record Failed(String error, boolean transactionAborted) implements NodeResult {
        Failed(String error) {
            this(error, false);
        }
    }
}
