package dev.onceflow.dispatcher;

import static org.assertj.core.api.Assertions.assertThat;

import dev.onceflow.common.Topics;
import dev.onceflow.common.metrics.OnceflowMeters;
import dev.onceflow.common.workflow.Trigger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Optional;
import java.util.Properties;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The dispatcher's Prometheus meters: names, labels and values, and that they agree with {@link DispatcherMetrics}. */
@Timeout(30)
class DispatcherMetersTest {

    private static final Instant T0 = Instant.parse("2026-01-10T01:00:00Z");

    @TempDir
    Path stateDir;

    private final OnceflowMeters meters = new OnceflowMeters();
    private final DispatcherMetrics metrics = new DispatcherMetrics(meters);

    @AfterEach
    void close() {
        meters.close();
    }

    @Test
    void theDispatcherLayerOfDuplicatesIsShownFromTheStart() {
        assertThat(meters.scrape()).contains("onceflow_duplicates_absorbed_total{layer=\"dispatcher\"} 0.0");
    }

    @Test
    void everyReasonTheDispatcherDeadLettersWithIsShownFromTheStart() {
        String scrape = meters.scrape();
        for (String reason : List.of("MALFORMED_JSON", "UNKNOWN_WORKFLOW", "DISABLED_WORKFLOW", "WRONG_TRIGGER_TYPE",
                "RECORD_TOO_LARGE", "MISSING_KEY", "DEPTH_LIMIT", "ConditionFailed", "MalformedChange")) {
            assertThat(scrape).contains("onceflow_dead_lettered_total{reason=\"" + reason + "\",role=\"dispatcher\"} 0.0");
        }
    }

    @Test
    void repeatsDroppedByTheDedupeStoreAndDeadLettersAreCountedWithTheirLabels() {
        MapCatalog catalog = new MapCatalog().with("order-sync", 1, true);
        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, "dispatcher-meters-test");
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        try (TopologyTestDriver driver = new TopologyTestDriver(TriggerTopology.build(catalog, Duration.ofMinutes(10).toMillis(),
                RecordSizeLimit.KAFKA_DEFAULT, metrics), props, T0)) {
            TestInputTopic<byte[], byte[]> triggers = driver.createInputTopic(Topics.TRIGGERS, new ByteArraySerializer(),
                    new ByteArraySerializer());
            for (int i = 0; i < 3; i++) {
                triggers.pipeInput(bytes("k"), bytes("{\"workflow\":\"order-sync\",\"id\":\"ord-42\"}"));
            }
            triggers.pipeInput(bytes("k"), bytes("{\"workflow\":"));
            triggers.pipeInput(bytes("k"), bytes("{\"workflow\":\"nope\"}"));
            triggers.pipeInput(bytes("k"), bytes("{\"workflow\":\"nope\"}"));
        }

        assertThat(metrics.deduplicated()).isEqualTo(2);
        assertThat(metrics.dlq()).isEqualTo(3);
        assertThat(meters.scrape()).contains("onceflow_duplicates_absorbed_total{layer=\"dispatcher\"} 2.0",
                "onceflow_dead_lettered_total{reason=\"MALFORMED_JSON\",role=\"dispatcher\"} 1.0",
                "onceflow_dead_lettered_total{reason=\"UNKNOWN_WORKFLOW\",role=\"dispatcher\"} 2.0");
    }

    @Test
    void scheduleTicksFiredAndMissedAreCountedByWorkflow() {
        // The last tick with an execution was T0; this dispatcher starts at T0+5h30: the ticks of
        // T0+1h … T0+5h came due while none ran. fire-once fires the latest of them.
        MapCatalog catalog = new MapCatalog().with("beat", 1, true,
                new Trigger.Schedule("0 0 * * * *", null, "UTC", "fire-once", null, null, null));
        Instant start = T0.plus(Duration.ofMinutes(330));
        MockProducer<byte[], byte[]> producer = new MockProducer<>(false, null, new ByteArraySerializer(), new ByteArraySerializer());
        ScheduleSource source = new ScheduleSource(catalog, id -> Optional.of(T0), producer, Clock.fixed(start, ZoneOffset.UTC),
                metrics);

        source.tick(start);
        assertThat(meters.scrape()).as("not acknowledged yet").contains("onceflow_schedule_ticks_fired_total{workflow=\"beat\"} 0.0")
                .contains("onceflow_schedule_ticks_missed_total{workflow=\"beat\"} 4.0");
        producer.completeNext();
        source.tick(start.plusSeconds(3600)); // on time: fired, not missed
        producer.completeNext();

        assertThat(source.fired()).isEqualTo(2);
        assertThat(meters.scrape()).contains("onceflow_schedule_ticks_fired_total{workflow=\"beat\"} 2.0",
                "onceflow_schedule_ticks_missed_total{workflow=\"beat\"} 4.0");
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
