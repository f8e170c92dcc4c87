package dev.onceflow.dispatcher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.common.Topics;
import dev.onceflow.dispatcher.TopicChecks.RetentionAction;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

class TopicChecksTest {

    private static final long DAY = Duration.ofDays(1).toMillis();

    @Test
    void shorterByKeyRetentionIsRaisedNeverLowered() {
        assertThat(TopicChecks.retentionAction(DAY, 7 * DAY)).isEqualTo(RetentionAction.RAISE);
        assertThat(TopicChecks.retentionAction(7 * DAY, 7 * DAY)).isEqualTo(RetentionAction.KEEP);
        assertThat(TopicChecks.retentionAction(30 * DAY, 7 * DAY)).isEqualTo(RetentionAction.KEEP);
        assertThat(TopicChecks.retentionAction(-1, 7 * DAY)).as("-1 keeps forever").isEqualTo(RetentionAction.KEEP);
    }

    @Test
    void byKeyRetentionDefaultsToSevenDaysAndIsConfigurable() {
        assertThat(OnceflowConfig.defaults().getLong(OnceflowConfig.BY_KEY_RETENTION_MS))
                .isEqualTo(Topics.DEFAULT_BY_KEY_RETENTION_MS).isEqualTo(7 * DAY);
        assertThat(OnceflowConfig.of(Map.of("topics.dispatch.bykey.retention.ms", String.valueOf(14 * DAY)))
                .getLong(OnceflowConfig.BY_KEY_RETENTION_MS)).isEqualTo(14 * DAY);
        assertThatThrownBy(() -> OnceflowConfig.of(Map.of("topics.dispatch.bykey.retention.ms", "1000")))
                .hasMessageContaining("topics.dispatch.bykey.retention.ms");
    }

    @Test
    void recordLimitIsTheSmallestProducerSetting() {
        assertThat(TopicChecks.producerLimits(Map.of(), Map.of()).maxBytes()).isEqualTo(RecordSizeLimit.DEFAULT_MAX_REQUEST_SIZE);
        RecordSizeLimit streams = TopicChecks.producerLimits(Map.of("producer.max.request.size", "500000"),
                Map.of("max.request.size", "2000000"));
        assertThat(streams.maxBytes()).isEqualTo(500_000);
        assertThat(streams.source()).contains("Kafka Streams");
        RecordSizeLimit sources = TopicChecks.producerLimits(Map.of("max.request.size", "3000000"),
                Map.of("max.request.size", "400000"));
        assertThat(sources.maxBytes()).isEqualTo(400_000);
        assertThat(sources.source()).contains("sources' producer");
    }

    @Test
    void recordSizeIsTheProducersArithmetic() {
        // 61 (batch header) + 21 (record framing) + 3 varints of at most 5 bytes + key + value.
        assertThat(RecordSizeLimit.sizeOf(new byte[10], new byte[1000], null)).isEqualTo(61 + 21 + 15 + 10 + 1000);
        assertThat(RecordSizeLimit.sizeOf(null, null, null)).isEqualTo(61 + 21 + 15);
    }
}
