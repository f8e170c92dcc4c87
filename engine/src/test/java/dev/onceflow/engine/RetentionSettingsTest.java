package dev.onceflow.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.onceflow.common.OnceflowConfig;
import java.util.Map;
import org.junit.jupiter.api.Test;

class RetentionSettingsTest {

    @Test
    void defaultsKeepTheHistoryAWeekAndTheKeysAMonth() {
        RetentionSettings s = RetentionSettings.from(OnceflowConfig.defaults());
        assertThat(s.historyMs()).isEqualTo(7 * 86_400_000L);
        assertThat(s.horizonMs()).isEqualTo(30 * 86_400_000L);
        assertThat(s.batchSize()).isEqualTo(200);
        assertThat(s.intervalMs()).isEqualTo(60_000);
    }

    @Test
    void configuredValuesAreRead() {
        RetentionSettings s = RetentionSettings.from(OnceflowConfig.of(Map.of("retention.executions.ms", "2000",
                "retention.keys.ms", "9000", "retention.batch.size", "7", "retention.interval.ms", "250")));
        assertThat(s).isEqualTo(new RetentionSettings(2_000, 9_000, 7, 250));
    }

    @Test
    void aHorizonShorterThanTheHistoryIsRefusedNamingBothKeys() {
        assertThatThrownBy(() -> new RetentionSettings(10_000, 9_999, 10, 1_000))
                .hasMessageContaining("retention.keys.ms (9999)").hasMessageContaining("retention.executions.ms (10000)");
        assertThat(new RetentionSettings(10_000, 10_000, 10, 1_000).horizonMs()).isEqualTo(10_000);
    }

    @Test
    void nothingMayBeZero() {
        assertThatThrownBy(() -> new RetentionSettings(0, 10, 10, 10)).hasMessageContaining("positive");
        assertThatThrownBy(() -> new RetentionSettings(10, 10, 0, 10)).hasMessageContaining("positive");
        assertThatThrownBy(() -> new RetentionSettings(10, 10, 10, 0)).hasMessageContaining("positive");
    }

    @Test
    void durationsReadInTheLargestUnitThatDividesThem() {
        assertThat(RetentionSettings.human(7 * 86_400_000L)).isEqualTo("7d");
        assertThat(RetentionSettings.human(36 * 3_600_000L)).isEqualTo("36h");
        assertThat(RetentionSettings.human(90_000)).isEqualTo("90s");
        assertThat(RetentionSettings.human(120_000)).isEqualTo("2min");
        assertThat(RetentionSettings.human(1_500)).isEqualTo("1500ms");
    }
}
