package dev.onceflow.dispatcher;

import static org.assertj.core.api.Assertions.assertThat;

import dev.onceflow.common.ByKeyRecord;
import dev.onceflow.common.EventEnvelope;
import dev.onceflow.common.Json;
import dev.onceflow.common.Topics;
import dev.onceflow.common.workflow.Trigger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Properties;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.test.TestRecord;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The dedupe's identity is the event key of the {@code onceflow.event.key} header; the record key is the ordering key (ADR 0020). */
@Timeout(30)
class DedupeByKeyTest {

    private static final Instant T0 = Instant.parse("2026-01-10T00:00:00Z");

    @TempDir
    Path stateDir;

    private final DispatcherMetrics metrics = new DispatcherMetrics();
    private final MapCatalog catalog = new MapCatalog()
            .with("orders", 1, true, new Trigger.Kafka(null, null, null))
            .with("signups", 1, true, new Trigger.Kafka("demo.signups", "/id", null, "/customer"));
    private TopologyTestDriver driver;
    private TestInputTopic<byte[], byte[]> byKey;
    private TestInputTopic<byte[], byte[]> triggers;
    private TestOutputTopic<String, byte[]> events;

    private void start(OrderKeys orderKeys) {
        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, "dedupe-test");
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        driver = new TopologyTestDriver(TriggerTopology.build(catalog, Duration.ofMinutes(10).toMillis(), RecordSizeLimit.KAFKA_DEFAULT,
                metrics, 0, Long.MAX_VALUE, orderKeys), props, T0);
        byKey = driver.createInputTopic(Topics.BY_KEY, new ByteArraySerializer(), new ByteArraySerializer());
        triggers = driver.createInputTopic(Topics.TRIGGERS, new ByteArraySerializer(), new ByteArraySerializer());
        events = driver.createOutputTopic(Topics.EVENTS, new StringDeserializer(), new ByteArrayDeserializer());
    }

    @AfterEach
    void stop() {
        if (driver != null) {
            driver.close();
        }
    }

    @Test
    void eventsOfOneOrderingKeyWithDistinctEventKeysAllPassInOrder() {
        start(new OrderKeys(true, metrics));
        for (int i = 0; i < 3; i++) {
            pipe(event("orders@" + i + "#p-" + i, "orders/row-1"));
        }

        assertThat(events.readRecordsToList()).extracting(TestRecord::key)
                .containsExactly("orders/row-1", "orders/row-1", "orders/row-1");
        assertThat(metrics.accepted()).isEqualTo(3);
        assertThat(metrics.deduplicated()).isZero();
    }

    @Test
    void aCopyIsDroppedByTheEventKeyInTheHeaderNotByTheRecordKey() {
        start(new OrderKeys(true, metrics));
        pipe(event("orders@1#p", "orders/row-1"));
        pipe(event("orders@1#p", "orders/row-1"));

        var out = events.readRecordsToList();
        assertThat(out).hasSize(1);
        assertThat(out.get(0).key()).isEqualTo("orders/row-1");
        assertThat(new String(out.get(0).headers().lastHeader(Topics.H_EVENT_KEY).value(), StandardCharsets.UTF_8))
                .isEqualTo("orders@1#p");
        assertThat(metrics.deduplicated()).isEqualTo(1);
    }

    @Test
    void aRecordWrittenBeforeHasNoHeaderAndIsDedupedByItsRecordKey() {
        start(new OrderKeys(true, metrics));
        EventEnvelope old = new EventEnvelope("orders@1#old", "orders", 1, 1, null, "s", 1);
        byte[] value = Json.bytes(old);
        byKey.pipeInput(new TestRecord<>(bytes("orders@1#old"), value, new RecordHeaders(), T0));
        byKey.pipeInput(new TestRecord<>(bytes("orders@1#old"), value, new RecordHeaders(), T0));
        // The same event written the new way (a mixed fleet): the header names the same event key.
        pipe(old.withOrderKey("orders/k"));

        assertThat(events.readRecordsToList()).extracting(TestRecord::key).containsExactly("orders@1#old");
        assertThat(metrics.deduplicated()).isEqualTo(2);
    }

    @Test
    void validateKeysATriggerRecordByItsRecordKeyAndAUserRecordByItsPointer() {
        start(new OrderKeys(true, metrics));
        triggers.pipeInput(new TestRecord<>(bytes("cust-1"), bytes("{\"workflow\":\"orders\",\"id\":\"a\"}"), new RecordHeaders(), T0));
        TestInputTopic<byte[], byte[]> signups = driver.createInputTopic("demo.signups", new ByteArraySerializer(),
                new ByteArraySerializer());
        signups.pipeInput(new TestRecord<>(bytes("ignored"), bytes("{\"id\":\"s-1\",\"customer\":\"c-9\"}"), new RecordHeaders(), T0));
        signups.pipeInput(new TestRecord<>(bytes("fallback"), bytes("{\"id\":\"s-2\"}"), new RecordHeaders(), T0));
        triggers.pipeInput(new TestRecord<>(null, bytes("{\"workflow\":\"orders\",\"id\":\"b\"}"), new RecordHeaders(), T0));

        var out = events.readRecordsToList();
        assertThat(out).extracting(TestRecord::key)
                .containsExactly("orders/cust-1", "signups/c-9", "signups/fallback", "orders@0#b");
        assertThat(out).extracting(r -> header(r, Topics.H_EVENT_KEY))
                .containsExactly("orders@0#a", "signups@0#s-1", "signups@0#s-2", "orders@0#b");
        assertThat(Json.tree(new String(out.get(1).value(), StandardCharsets.UTF_8)).get("orderKey").asText()).isEqualTo("signups/c-9");
        assertThat(Json.tree(new String(out.get(3).value(), StandardCharsets.UTF_8)).has("orderKey")).isFalse();
        assertThat(metrics.orderFallbacks()).isEqualTo(1); // the record without key: a sequence of one
    }

    @Test
    void withOrderKeysOffEveryEventIsKeyedByItsEventKey() {
        start(OrderKeys.OFF);
        triggers.pipeInput(new TestRecord<>(bytes("cust-1"), bytes("{\"workflow\":\"orders\",\"id\":\"a\"}"), new RecordHeaders(), T0));

        var out = events.readRecordsToList();
        assertThat(out).extracting(TestRecord::key).containsExactly("orders@0#a");
        assertThat(Json.tree(new String(out.get(0).value(), StandardCharsets.UTF_8)).has("orderKey")).isFalse();
    }

    private void pipe(EventEnvelope event) {
        var r = ByKeyRecord.of(event);
        byKey.pipeInput(new TestRecord<>(r.key(), r.value(), r.headers(), T0));
    }

    private static EventEnvelope event(String eventKey, String orderKey) {
        return new EventEnvelope(eventKey, "orders", 1, 1, null, "s", 1).withOrderKey(orderKey);
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static String header(TestRecord<?, ?> record, String name) {
        Header h = record.headers().lastHeader(name);
        return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }
}
