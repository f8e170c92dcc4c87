package dev.onceflow.common;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class EventKeyTest {

    @Test
    void printsTheSeedScenariosKey() {
        assertThat(EventKey.of("199", 1736442000000L)).hasToString("199@1736442000000");
    }

    @Test
    void printsTheDiscriminatorAfterAHash() {
        assertThat(EventKey.of("order-sync", 1768006800000L, "ord-42")).hasToString("order-sync@1768006800000#ord-42");
    }

    @ParameterizedTest
    @ValueSource(strings = {"nightly-report@1736442000000", "order-sync@0#ord-42", "wf@5#onceflow.triggers-3-1234",
            "wf@1#0/16B3A8:771:public.orders:42", "wf@1#a#b@c", "a.b_c-d@9223372036854775807"})
    void parseIsTheInverseOfPrint(String text) {
        assertThat(EventKey.parse(text).toString()).isEqualTo(text);
    }

    @Test
    void parseSplitsAtTheFirstAtAndTheFirstHashAfterIt() {
        EventKey key = EventKey.parse("wf@12#x@y#z");
        assertThat(key.workflowId()).isEqualTo("wf");
        assertThat(key.timestamp()).isEqualTo(12);
        assertThat(key.discriminator()).isEqualTo("x@y#z");
    }

    @Test
    void anEmptyDiscriminatorIsNone() {
        assertThat(EventKey.of("wf", 1, "")).hasToString("wf@1");
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "wf", "@1", "wf@", "wf@abc", "wf@-1", "wf@1#", "wf@99999999999999999999", "bad id@1"})
    void rejectsMalformedKeysNamingTheProblem(String text) {
        assertThatThrownBy(() -> EventKey.parse(text)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(text.isEmpty() ? "invalid event key" : text.substring(0, Math.min(2, text.length())));
    }

    @Test
    void rejectsInvalidWorkflowIdsAndNegativeTimes() {
        assertThatThrownBy(() -> EventKey.of("-starts-with-dash", 1)).hasMessageContaining("invalid workflow id");
        assertThatThrownBy(() -> EventKey.of("x".repeat(129), 1)).hasMessageContaining("at most 128");
        assertThatThrownBy(() -> EventKey.of("wf", -5)).hasMessageContaining("negative");
    }

    @Test
    void sourcePositionIsTopicPartitionOffset() {
        assertThat(EventKey.sourcePosition("onceflow.triggers", 3, 1234)).isEqualTo("onceflow.triggers-3-1234");
    }
}
