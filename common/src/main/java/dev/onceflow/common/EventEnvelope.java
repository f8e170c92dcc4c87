package dev.onceflow.common;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Objects;

/**
 * A record of {@value Topics#EVENTS}, keyed by {@link #eventKey()}: one accepted occurrence of a
 * trigger, resolved to a workflow version by the dispatcher.
 *
 * @param time        the event's time in epoch ms (the key's timestamp unless it is 0)
 * @param source      where the trigger was read ({@code topic-partition-offset})
 * @param publishedAt the trigger record's timestamp, for end-to-end latency
 * @param depth       how many row changes made by executions led to this event (ADR 0011); 0 when
 *                    it came from outside, and when the field is absent
 */
public record EventEnvelope(String eventKey, String workflow, int version, long time, ObjectNode data,
                            String source, long publishedAt, Integer depth) {

    public EventEnvelope {
        Objects.requireNonNull(eventKey, "eventKey");
        Objects.requireNonNull(workflow, "workflow");
        data = data == null ? JsonNodeFactory.instance.objectNode() : data;
        depth = depth == null ? 0 : depth; // absent in records written before ADR 0011
        if (depth < 0) {
            throw new IllegalArgumentException("depth must not be negative, got " + depth);
        }
    }

    /** An event from outside Onceflow's own executions: depth 0. */
    public EventEnvelope(String eventKey, String workflow, int version, long time, ObjectNode data, String source,
                         long publishedAt) {
        this(eventKey, workflow, version, time, data, source, publishedAt, 0);
    }
}
