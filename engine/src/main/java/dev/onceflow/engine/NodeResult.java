package dev.onceflow.engine;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;

/**
 * What one node run produced: its output and what comes next, or a failure. A failed node is an
 * outcome recorded like any other, never an exception escaping the loop. {@link ApplyOutcome} is
 * the one place a result becomes follow-ups, timers, branch arrivals or an execution's finish.
 */
sealed interface NodeResult {

    /**
     * @param endStatus set when the node ends the execution explicitly ({@code end} node): succeeded or failed
     * @param vars      variables the node set ({@code calculation}), merged into the follow-ups' {@code vars}; null for none
     */
    record Succeeded(JsonNode output, List<String> next, String endStatus, String message, ObjectNode vars)
            implements NodeResult {
        public Succeeded {
            next = List.copyOf(next);
        }

        Succeeded(JsonNode output, List<String> next, String endStatus, String message) {
            this(output, next, endStatus, message, null);
        }

        static Succeeded continueWith(JsonNode output, List<String> next) {
            return new Succeeded(output, next, null, null, null);
        }
    }

    /** The node ran; its follow-ups {@code next} wait on a durable timer due at {@code dueAtMs} ({@code delay}). */
    record Waiting(JsonNode output, long dueAtMs, List<String> next) implements NodeResult {
        public Waiting {
            next = List.copyOf(next);
        }
    }

    /**
     * The node starts branches ({@code parallel}) or the first iteration of a body ({@code loop});
     * what they are follows from its definition and its output (see {@link ApplyOutcome}), so a
     * redelivery derives the same ones from the stored output.
     */
    record Branched(JsonNode output) implements NodeResult {
    }

    /**
     * An {@code http} node whose key this delivery claimed: the call is made after the claim has
     * committed, outside any transaction, and its result recorded then (design, "HTTP").
     */
    record Call(HttpCall.Request request) implements NodeResult {
    }

    /**
     * A {@code sql} node whose key this delivery claimed and whose statement runs long (marked
     * {@code long}, or it overran {@code engine.sql.inline.ms} on this worker): it runs off the
     * poll thread, in a transaction of its own, once the claim has committed ({@link LongStatements}).
     */
    record LongStatement() implements NodeResult {
    }

    /**
     * @param transactionAborted the failing SQL statement aborted the PostgreSQL transaction: the
     *                           batch must be rolled back and replayed with a savepoint per node
     * @param errorClass         what a retry policy's {@code on} matches: a SQLSTATE, {@code timeout},
     *                           {@code connection}, an HTTP status class ({@code 5xx}, {@code 429},
     *                           {@code 4xx}), or null (an expression or definition error: not retried)
     */
    record Failed(String error, boolean transactionAborted, String errorClass) implements NodeResult {
        Failed(String error) {
            this(error, false, null);
        }

        Failed(String error, boolean transactionAborted) {
            this(error, transactionAborted, null);
        }
    }
}
