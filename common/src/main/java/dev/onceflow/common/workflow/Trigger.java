package dev.onceflow.common.workflow;

import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import dev.onceflow.common.Topics;

/** What starts executions of a workflow. Tagged by {@code type} in JSON. */
@JsonTypeInfo(use = JsonTypeInfo.Id.NAME, property = "type")
@JsonSubTypes({
        @JsonSubTypes.Type(value = Trigger.Kafka.class, name = "kafka"),
})
public sealed interface Trigger {

    /** Records on a Kafka topic; the default topic is {@value Topics#TRIGGERS}. */
    record Kafka(String topic) implements Trigger {
        public Kafka {
            topic = topic == null || topic.isBlank() ? Topics.TRIGGERS : topic;
        }
    }
}
