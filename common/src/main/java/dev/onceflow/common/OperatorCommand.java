package dev.onceflow.common;

import java.nio.charset.StandardCharsets;
import java.util.Objects;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;

/**
 * An operator's command to one execution (ADR 0025): a record of {@value Topics#TASKS} told apart
 * from tasks by its header {@value Topics#H_COMMAND}, keyed by the execution's partition key (its
 * ordering key, else its event key), so it reaches the worker that owns the execution's tasks, in
 * order with them. The admin API validates and publishes it; the engine applies it in its batch.
 * Immutable and thread-safe.
 *
 * @param id          unique per command (the API's answer names it); part of a cancel's error text,
 *                    so a redelivery recognises its own cancel
 * @param kind        {@value #CANCEL} or {@value #RETRY}
 * @param executionId the execution the API validated (the engine reads the row by event key)
 * @param node        a retry's node: the failed node it continues from; null for a cancel
 * @param attempt     a retry's attempt: that node's highest attempt + 1; 0 for a cancel
 * @param reason      why, as the operator said it; may be null
 * @param requestedAt epoch ms at the API, for people reading the topic (the engine stamps its own clock)
 */
public record OperatorCommand(String id, String kind, String eventKey, long executionId, String node, int attempt,
                              String reason, long requestedAt) {

    public static final String CANCEL = "cancel";
    public static final String RETRY = "retry";

    public OperatorCommand {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(kind, "kind");
        Objects.requireNonNull(eventKey, "eventKey");
        if (!kind.equals(CANCEL) && !kind.equals(RETRY)) {
            throw new IllegalArgumentException("kind must be '" + CANCEL + "' or '" + RETRY + "', not '" + kind + "'");
        }
        if (kind.equals(RETRY) && (node == null || node.isEmpty() || attempt < 2)) {
            throw new IllegalArgumentException("a retry names its node and an attempt of 2 or more; got node " + node
                    + ", attempt " + attempt);
        }
    }

    public static OperatorCommand cancel(String eventKey, long executionId, String reason, long requestedAt) {
        return new OperatorCommand(java.util.UUID.randomUUID().toString(), CANCEL, eventKey, executionId, null, 0, reason,
                requestedAt);
    }

    public static OperatorCommand retry(String eventKey, long executionId, String node, int attempt, long requestedAt) {
        return new OperatorCommand(java.util.UUID.randomUUID().toString(), RETRY, eventKey, executionId, node, attempt, null,
                requestedAt);
    }

    /** The record for {@value Topics#TASKS}, keyed by {@code partitionKey} (the execution's ordering key, else its event key). */
    public ProducerRecord<byte[], byte[]> record(String partitionKey) {
        ProducerRecord<byte[], byte[]> r = new ProducerRecord<>(Topics.TASKS, partitionKey.getBytes(StandardCharsets.UTF_8),
                Json.bytes(this));
        r.headers().add(Topics.H_COMMAND, kind.getBytes(StandardCharsets.UTF_8));
        return r;
    }

    /** Whether a record of {@value Topics#TASKS} is a command (and not a task). */
    public static boolean isCommand(Headers headers) {
        Header h = headers.lastHeader(Topics.H_COMMAND);
        return h != null;
    }

    /**
     * The error a cancel by this command writes: it names the command, so a redelivery of the same
     * command recognises the cancel as its own and produces its outcome again.
     */
    public String cancelError() {
        return "cancelled by operator (command " + id + ")" + (reason == null || reason.isBlank() ? "" : ": " + reason);
    }
}
