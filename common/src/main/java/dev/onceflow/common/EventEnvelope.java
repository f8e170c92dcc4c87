package dev.onceflow.common;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Objects;

/**
 * A record of {@value Topics#EVENTS}, keyed by {@link #partitionKey()}: one accepted occurrence of a
 * trigger, resolved to a workflow version by the dispatcher.
 *
 * @param time        the event's time in epoch ms (the key's timestamp unless it is 0)
 * @param source      where the trigger was read ({@code topic-partition-offset})
 * @param publishedAt the trigger record's timestamp, for end-to-end latency
 * @param depth       how many row changes made by executions led to this event (ADR 0011); 0 when
 *                    it came from outside, and when the field is absent
 * @param orderKey    the ordering key (ADR 0020): events of one ordering key run in order, one lane
 *                    (ADR 0021); null (absent) when the event is a sequence of one, as every event
 *                    written before ADR 0020
 */
public record EventEnvelope(String eventKey, String workflow, int version, long time, ObjectNode data,
                            String source, long publishedAt, Integer depth, String orderKey) {

    public EventEnvelope {
        Objects.requireNonNull(eventKey, "eventKey");
        Objects.requireNonNull(workflow, "workflow");
        data = data == null ? JsonNodeFactory.instance.objectNode() : data;
        depth = depth == null ? 0 : depth; // absent in records written before ADR 0011
        if (depth < 0) {
            throw new IllegalArgumentException("depth must not be negative, got " + depth);
        }
        orderKey = orderKey == null || orderKey.isEmpty() || orderKey.equals(eventKey) ? null : orderKey;
    }

    /** An event without an ordering key (a sequence of one). */
    public EventEnvelope(String eventKey, String workflow, int version, long time, ObjectNode data, String source,
                         long publishedAt, Integer depth) {
        this(eventKey, workflow, version, time, data, source, publishedAt, depth, null);
    }

    /** The same event with ordering key {@code key} (null: none). */
    public EventEnvelope withOrderKey(String key) {
        return new EventEnvelope(eventKey, workflow, version, time, data, source, publishedAt, depth, key);
    }

    /** What the event's records are keyed (partitioned) by: the ordering key, else the event key. */
    public String partitionKey() {
        return orderKey != null ? orderKey : eventKey;
    }

    /** An event from outside Onceflow's own executions: depth 0. */
    public EventEnvelope(String eventKey, String workflow, int version, long time, ObjectNode data, String source,
                         long publishedAt) {
        this(eventKey, workflow, version, time, data, source, publishedAt, 0);
    }
}
