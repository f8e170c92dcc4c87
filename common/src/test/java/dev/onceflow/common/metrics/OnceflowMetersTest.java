package dev.onceflow.common.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class OnceflowMetersTest {

    private final OnceflowMeters meters = new OnceflowMeters();

    @AfterEach
    void close() {
        meters.close();
    }

    @Test
    void scrapeShowsJvmAndProcessMeters() {
        String text = meters.scrape();
        assertThat(text).contains("jvm_memory_used_bytes{", "jvm_threads_live_threads ", "process_uptime_seconds ",
                "system_cpu_count ", "jvm_gc_");
    }

    @Test
    void countersGetThePrometheusTotalSuffixAndTheirLabels() {
        meters.counter(MeterNames.DUPLICATES_ABSORBED, "absorbed", MeterNames.LAYER, "processed_key").increment(3);
        // registered again with the same name and labels: the same counter, so two engines of one process add up
        meters.counter(MeterNames.DUPLICATES_ABSORBED, "absorbed", MeterNames.LAYER, "processed_key").increment(2);

        assertThat(meters.scrape()).contains("# TYPE onceflow_duplicates_absorbed_total counter",
                "onceflow_duplicates_absorbed_total{layer=\"processed_key\"} 5.0");
    }

    @Test
    void histogramsAreInSecondsWithExactlyTheGivenBuckets() {
        var timer = meters.histogram(MeterNames.NODE_DURATION, "node", List.of(Duration.ofMillis(10), Duration.ofSeconds(1)),
                MeterNames.TYPE, "sql");
        timer.record(Duration.ofMillis(5));
        timer.record(Duration.ofMillis(500));

        String text = meters.scrape();
        assertThat(text).contains("onceflow_node_duration_seconds_bucket{type=\"sql\",le=\"0.01\"} 1",
                "onceflow_node_duration_seconds_bucket{type=\"sql\",le=\"1.0\"} 2",
                "onceflow_node_duration_seconds_bucket{type=\"sql\",le=\"+Inf\"} 2",
                "onceflow_node_duration_seconds_count{type=\"sql\"} 2");
        assertThat(text.lines().filter(l -> l.startsWith("onceflow_node_duration_seconds_bucket"))).hasSize(3);
    }

    @Test
    void gaugeFamiliesShowWhatTheirSourcesReportNowAndDropTheRest() {
        Map<List<String>, Long> mine = new ConcurrentHashMap<>(Map.of(List.of("g", "onceflow.events", "0"), 7L,
                List.of("g", "onceflow.events", "1"), 0L));
        OnceflowMeters.Registration r = meters.gauges(MeterNames.CONSUMER_LAG, "lag",
                List.of(MeterNames.GROUP, MeterNames.TOPIC, MeterNames.PARTITION), () -> mine);

        assertThat(meters.scrape()).contains(
                "onceflow_consumer_lag_records{group=\"g\",partition=\"0\",topic=\"onceflow.events\"} 7.0",
                "onceflow_consumer_lag_records{group=\"g\",partition=\"1\",topic=\"onceflow.events\"} 0.0");

        mine.remove(List.of("g", "onceflow.events", "1")); // revoked
        mine.put(List.of("g", "onceflow.events", "0"), 3L);
        String text = meters.scrape();
        assertThat(text).contains("onceflow_consumer_lag_records{group=\"g\",partition=\"0\",topic=\"onceflow.events\"} 3.0")
                .doesNotContain("partition=\"1\"");

        r.close();
        assertThat(meters.scrape()).doesNotContain("onceflow_consumer_lag_records{");
    }

    @Test
    void twoSourcesOfOneLabelSetShowTheLargerValue() {
        List<String> labels = List.of(MeterNames.SLOT);
        meters.gauges(MeterNames.CAPTURE_SLOT_LAG, "lag", labels, () -> Map.of(List.of("s"), 10));
        meters.gauges(MeterNames.CAPTURE_SLOT_LAG, "lag", labels, () -> Map.of(List.of("s"), 40));
        meters.gauges(MeterNames.CAPTURE_SLOT_LAG, "lag", labels, () -> {
            throw new IllegalStateException("database down");
        });

        assertThat(meters.scrape()).contains("onceflow_capture_slot_lag_bytes{slot=\"s\"} 40.0");
    }

    @Test
    void aGaugeWithoutLabelsIsOneSeries() {
        meters.gauges(MeterNames.EXECUTIONS_STUCK, "stuck", List.of(), () -> Map.of(List.of(), 2));

        assertThat(meters.scrape()).contains("# TYPE onceflow_executions_stuck gauge", "\nonceflow_executions_stuck 2.0");
    }
}
