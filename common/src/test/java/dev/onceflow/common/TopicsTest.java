package dev.onceflow.common;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.Map;
import org.apache.kafka.clients.admin.NewTopic;
import org.junit.jupiter.api.Test;

class TopicsTest {

    @Test
    void byKeyTopicIsCreatedWithTheConfiguredRetention() {
        long retention = Duration.ofDays(10).toMillis();
        Map<String, NewTopic> wanted = new java.util.HashMap<>();
        Topics.wanted(6, (short) 1, retention).forEach(t -> wanted.put(t.name(), t));

        assertThat(wanted.get(Topics.BY_KEY).configs()).containsEntry("retention.ms", String.valueOf(retention));
        assertThat(wanted.get(Topics.EVENTS).configs()).isNullOrEmpty();
        assertThat(wanted).containsKeys(Topics.TRIGGERS, Topics.EVENTS, Topics.TASKS, Topics.OUTCOMES, Topics.DLQ);
    }

    @Test
    void deadLetterHeadersReplaceEarlierReasons() {
        DeadLetter first = new DeadLetter("A", "first", "t", 0, 1);
        DeadLetter second = new DeadLetter("B", "second", "u", 2, 3);
        var headers = second.headers(first.headers(null));

        assertThat(headers.headers(Topics.H_ERROR_CLASS)).hasSize(1);
        assertThat(new String(headers.lastHeader(Topics.H_ERROR_CLASS).value())).isEqualTo("B");
        assertThat(new String(headers.lastHeader(Topics.H_SOURCE_OFFSET).value())).isEqualTo("3");
    }
}
