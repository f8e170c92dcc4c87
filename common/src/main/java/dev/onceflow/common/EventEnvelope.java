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
 */
public record EventEnvelope(String eventKey, String workflow, int version, long time, ObjectNode data,
                            String source, long publishedAt) {

    public EventEnvelope {
        Objects.requireNonNull(eventKey, "eventKey");
        Objects.requireNonNull(workflow, "workflow");
        data = data == null ? JsonNodeFactory.instance.objectNode() : data;
    }
}
