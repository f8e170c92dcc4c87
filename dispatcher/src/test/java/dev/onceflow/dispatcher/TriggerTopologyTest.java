package dev.onceflow.dispatcher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.onceflow.common.Json;
import dev.onceflow.common.Topics;
import dev.onceflow.common.workflow.Trigger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyDescription;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.errors.StreamsException;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.test.TestRecord;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

@Timeout(30)
class TriggerTopologyTest {

    private static final Instant T0 = Instant.parse("2026-01-10T00:00:00Z");
    private static final long RETENTION_MS = Duration.ofMinutes(10).toMillis();

    @TempDir
    Path stateDir;

    private final MapCatalog catalog = new MapCatalog()
            .with("order-sync", 3, true)
            .with("paused", 1, false);
    private final DispatcherMetrics metrics = new DispatcherMetrics();
    private TopologyTestDriver driver;
    private TestInputTopic<byte[], byte[]> triggers;
    private TestOutputTopic<String, byte[]> events;
    private TestOutputTopic<byte[], byte[]> dlq;

    @BeforeEach
    void start() {
        startWith(catalog);
    }

    private void startWith(WorkflowCatalog c) {
        startWith(c, RecordSizeLimit.KAFKA_DEFAULT);
    }

    private void startWith(WorkflowCatalog c, RecordSizeLimit limit) {
        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, "dispatcher-test");
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        // Ordering keys off: these tests are about validation and dedupe by event key, with records keyed
        // by it as before ADR 0020; keying by ordering key is DedupeByKeyTest's.
        driver = new TopologyTestDriver(TriggerTopology.build(c, RETENTION_MS, limit, metrics, 0, Long.MAX_VALUE, OrderKeys.OFF),
                props, T0);
        triggers = driver.createInputTopic(Topics.TRIGGERS, new ByteArraySerializer(), new ByteArraySerializer());
        events = driver.createOutputTopic(Topics.EVENTS, new StringDeserializer(), new ByteArrayDeserializer());
        dlq = driver.createOutputTopic(Topics.DLQ, new ByteArrayDeserializer(), new ByteArrayDeserializer());
    }

    @AfterEach
    void stop() {
        driver.close();
    }

    @Test
    void validTriggerBecomesEventKeyedByEventKey() {
        long published = T0.toEpochMilli() + 5;
        publish("k1", "{\"workflow\":\"order-sync\",\"id\":\"ord-42\",\"time\":\"2026-01-10T01:00:00Z\",\"data\":{\"n\":7}}", published);

        TestRecord<String, byte[]> event = events.readRecord();
        assertThat(event.key()).isEqualTo("order-sync@1768006800000#ord-42");
        JsonNode envelope = Json.tree(new String(event.value(), StandardCharsets.UTF_8));
        assertThat(envelope.get("eventKey").asText()).isEqualTo("order-sync@1768006800000#ord-42");
        assertThat(envelope.get("workflow").asText()).isEqualTo("order-sync");
        assertThat(envelope.get("version").asInt()).isEqualTo(3);
        assertThat(envelope.get("time").asLong()).isEqualTo(1768006800000L);
        assertThat(envelope.get("data").get("n").asInt()).isEqualTo(7);
        assertThat(envelope.get("source").asText()).isEqualTo("onceflow.triggers-0-0");
        assertThat(envelope.get("publishedAt").asLong()).isEqualTo(published);
        assertThat(events.isEmpty()).isTrue();
        assertThat(dlq.isEmpty()).isTrue();
        assertThat(metrics.accepted()).isEqualTo(1);
    }

    @Test
    void aKafkaTriggersEventReachesTheEventsTopicInOneHopNotThroughTheByKeyTopic() {
        TestOutputTopic<byte[], byte[]> byKey = driver.createOutputTopic(Topics.BY_KEY, new ByteArrayDeserializer(),
                new ByteArrayDeserializer());
        publish("k1", "{\"workflow\":\"order-sync\",\"id\":\"one-hop\"}", T0.toEpochMilli());

        assertThat(events.readRecordsToList()).extracting(TestRecord::key).containsExactly("order-sync@0#one-hop");
        assertThat(byKey.isEmpty()).as("nothing through onceflow.dispatch.bykey (ADR 0028)").isTrue();
        // validate, its dedupe and the events sink are one sub-topology: one Streams commit to cross it.
        TopologyDescription.Subtopology withValidate = TriggerTopology.build(catalog, RETENTION_MS, metrics).describe().subtopologies()
                .stream().filter(st -> st.nodes().stream().anyMatch(n -> n.name().equals(TriggerTopology.VALIDATE))).findFirst()
                .orElseThrow();
        assertThat(withValidate.nodes()).extracting(TopologyDescription.Node::name)
                .contains(TriggerTopology.TRIGGER_DEDUPE, TriggerTopology.TRIGGER_EVENTS_SINK)
                .doesNotContain(TriggerTopology.DEDUPE, TriggerTopology.BY_KEY_SOURCE);
    }

    @Test
    void aTriggersTraceparentGoesOnItsEventAndAnInvalidOneIsDropped() {
        String traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        Headers headers = new RecordHeaders();
        headers.add("traceparent", bytes(traceparent));
        triggers.pipeInput(new TestRecord<>(bytes("k"), bytes("{\"workflow\":\"order-sync\",\"id\":\"traced\"}"), headers, T0));
        Headers invalid = new RecordHeaders();
        invalid.add("traceparent", bytes("00-not-a-trace-01"));
        triggers.pipeInput(new TestRecord<>(bytes("k"), bytes("{\"workflow\":\"order-sync\",\"id\":\"garbled\"}"), invalid, T0));

        List<TestRecord<String, byte[]>> out = events.readRecordsToList();
        assertThat(out).extracting(TestRecord::key).containsExactly("order-sync@0#traced", "order-sync@0#garbled");
        assertThat(new String(out.get(0).headers().lastHeader("traceparent").value(), StandardCharsets.UTF_8)).isEqualTo(traceparent);
        // Not refused: an invalid context restarts the trace, as W3C asks (this process has traces off: none is made up).
        assertThat(out.get(1).headers().lastHeader("traceparent")).isNull();
    }

    @Test
    void withTracesOnAnEventWithoutTraceparentGetsOneDerivedFromItsKey() {
        Headers headers = new RecordHeaders();
        EventTraces.carry(java.util.Optional.empty(), "wf@1#a", headers, true);
        assertThat(new String(headers.lastHeader("traceparent").value(), StandardCharsets.UTF_8))
                .isEqualTo(dev.onceflow.common.tracing.Traceparent.ofEvent("wf@1#a").header());
        Headers off = new RecordHeaders();
        EventTraces.carry(java.util.Optional.empty(), "wf@1#a", off, false);
        assertThat(off.lastHeader("traceparent")).isNull();
    }

    @Test
    void sameIdPublishedThreeTimesYieldsOneEvent() {
        for (int i = 0; i < 3; i++) {
            publish("k" + i, "{\"workflow\":\"order-sync\",\"id\":\"ord-42\"}", T0.toEpochMilli() + i * 1000L);
            driver.advanceWallClockTime(Duration.ofSeconds(1));
        }

        List<TestRecord<String, byte[]>> out = events.readRecordsToList();
        assertThat(out).extracting(TestRecord::key).containsExactly("order-sync@0#ord-42");
        assertThat(metrics.accepted()).isEqualTo(1);
        assertThat(metrics.deduplicated()).isEqualTo(2);
    }

    @Test
    void withoutIdTheSourcePositionTellsEventsApart() {
        String same = "{\"workflow\":\"order-sync\",\"data\":{\"x\":1}}";
        publish(null, same, T0.toEpochMilli());
        publish(null, same, T0.toEpochMilli());

        assertThat(events.readRecordsToList()).extracting(TestRecord::key).containsExactly(
                "order-sync@" + T0.toEpochMilli() + "#onceflow.triggers-0-0",
                "order-sync@" + T0.toEpochMilli() + "#onceflow.triggers-0-1");
        assertThat(metrics.deduplicated()).isZero();
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', textBlock = """
            MALFORMED_JSON    | {"workflow":"order-sync",                      | malformed JSON
            MALFORMED_JSON    | [1,2]                                          | expected a JSON object
            MISSING_FIELD     | {"id":"ord-1"}                                 | 'workflow'
            INVALID_FIELD     | {"workflow":"order-sync","time":"yesterday"}   | 'time'
            UNKNOWN_WORKFLOW  | {"workflow":"nope"}                            | 'nope'
            DISABLED_WORKFLOW | {"workflow":"paused"}                          | 'paused'
            """)
    void invalidTriggerGoesToDlqWithReasonAndTheNextStillFlows(String reason, String value, String messagePart) {
        Headers original = new RecordHeaders().add("trace", "abc".getBytes(StandardCharsets.UTF_8));
        triggers.pipeInput(new TestRecord<>(bytes("bad-key"), bytes(value), original, T0));
        publish("good", "{\"workflow\":\"order-sync\",\"id\":\"after\"}", T0.toEpochMilli());

        TestRecord<byte[], byte[]> dead = dlq.readRecord();
        assertThat(dead.key()).isEqualTo(bytes("bad-key"));
        assertThat(dead.value()).isEqualTo(bytes(value));
        assertThat(header(dead, Topics.H_ERROR_CLASS)).isEqualTo(reason);
        assertThat(header(dead, Topics.H_ERROR_MESSAGE)).contains(messagePart);
        assertThat(header(dead, Topics.H_SOURCE_TOPIC)).isEqualTo(Topics.TRIGGERS);
        assertThat(header(dead, Topics.H_SOURCE_PARTITION)).isEqualTo("0");
        assertThat(header(dead, Topics.H_SOURCE_OFFSET)).isEqualTo("0");
        assertThat(header(dead, "trace")).isEqualTo("abc");
        assertThat(dlq.isEmpty()).isTrue();
        assertThat(events.readRecordsToList()).extracting(TestRecord::key).containsExactly("order-sync@0#after");
        assertThat(metrics.dlq()).isEqualTo(1);
        assertThat(metrics.accepted()).isEqualTo(1);
    }

    @Test
    void emptyValueGoesToDlq() {
        triggers.pipeInput(new TestRecord<>(bytes("k"), null, new RecordHeaders(), T0));

        TestRecord<byte[], byte[]> dead = dlq.readRecord();
        assertThat(dead.value()).isNull();
        assertThat(header(dead, Topics.H_ERROR_CLASS)).isEqualTo("MALFORMED_JSON");
        assertThat(events.isEmpty()).isTrue();
    }

    @Test
    void sameKeyPassesAgainAfterRetention() {
        String trigger = "{\"workflow\":\"order-sync\",\"id\":\"ord-7\"}";
        publish("k", trigger, T0.toEpochMilli());
        driver.advanceWallClockTime(Duration.ofMinutes(5));
        publish("k", trigger, T0.toEpochMilli());
        assertThat(events.readRecordsToList()).hasSize(1);

        driver.advanceWallClockTime(Duration.ofMinutes(6)); // 11 min after first accepted: punctuator expires it
        KeyValueStore<String, Long> store = driver.getKeyValueStore(TriggerTopology.TRIGGER_DEDUPE_STORE);
        assertThat(store.get("order-sync@0#ord-7")).isNull();

        publish("k", trigger, T0.toEpochMilli());
        assertThat(events.readRecordsToList()).extracting(TestRecord::key).containsExactly("order-sync@0#ord-7");
        assertThat(metrics.accepted()).isEqualTo(2);
        assertThat(metrics.deduplicated()).isEqualTo(1);
    }

    @Test
    void expiryKeepsKeysStillWithinRetention() {
        publish("k", "{\"workflow\":\"order-sync\",\"id\":\"old\"}", T0.toEpochMilli());
        driver.advanceWallClockTime(Duration.ofMinutes(6));
        publish("k", "{\"workflow\":\"order-sync\",\"id\":\"young\"}", T0.toEpochMilli());
        driver.advanceWallClockTime(Duration.ofMinutes(5)); // old: 11 min, young: 5 min

        KeyValueStore<String, Long> store = driver.getKeyValueStore(TriggerTopology.TRIGGER_DEDUPE_STORE);
        assertThat(store.get("order-sync@0#old")).isNull();
        assertThat(store.get("order-sync@0#young")).isNotNull();
    }

    @Test
    void failingCatalogIsASystemErrorNotADeadLetter() {
        driver.close();
        startWith(id -> {
            throw new IllegalStateException("catalog down");
        });

        assertThatThrownBy(() -> publish("k", "{\"workflow\":\"order-sync\"}", T0.toEpochMilli()))
                .isInstanceOf(StreamsException.class)
                .hasRootCauseMessage("catalog down");
        assertThat(dlq.isEmpty()).isTrue();
        assertThat(metrics.dlq()).isZero();
    }

    @Test
    void workflowDeployedLaterIsFound() {
        publish("k", "{\"workflow\":\"late\"}", T0.toEpochMilli());
        catalog.with("late", 1, true);
        publish("k", "{\"workflow\":\"late\"}", T0.toEpochMilli());

        assertThat(header(dlq.readRecord(), Topics.H_ERROR_CLASS)).isEqualTo("UNKNOWN_WORKFLOW");
        assertThat(events.readRecordsToList()).extracting(TestRecord::key)
                .containsExactly("late@" + T0.toEpochMilli() + "#onceflow.triggers-0-1");
    }

    // --- every per-record failure is a dead letter, never a stuck stream thread (issue 9) ---

    @Test
    void userTopicTimeBefore1970IsDeadLetteredAndTheNextRecordStillFlows() {
        catalog.with("signups", 2, true, new Trigger.Kafka("demo.signups", "/signupId", "/at"));
        TestInputTopic<byte[], byte[]> signups = driver.createInputTopic("demo.signups", new ByteArraySerializer(),
                new ByteArraySerializer());
        signups.pipeInput(new TestRecord<>(bytes("s1"), bytes("{\"signupId\":\"s1\",\"at\":\"1969-12-31T23:59:59Z\"}"),
                new RecordHeaders(), T0));
        signups.pipeInput(new TestRecord<>(bytes("s2"), bytes("{\"signupId\":\"s2\",\"at\":\"2026-01-10T00:00:00Z\"}"),
                new RecordHeaders(), T0));

        TestRecord<byte[], byte[]> dead = dlq.readRecord();
        assertThat(header(dead, Topics.H_ERROR_CLASS)).isEqualTo("INVALID_FIELD");
        assertThat(header(dead, Topics.H_ERROR_MESSAGE)).contains("signups").contains("/at").contains("1969-12-31T23:59:59Z");
        assertThat(header(dead, Topics.H_SOURCE_TOPIC)).isEqualTo("demo.signups");
        assertThat(header(dead, Topics.H_SOURCE_OFFSET)).isEqualTo("0");
        assertThat(events.readRecordsToList()).extracting(TestRecord::key).containsExactly("signups@1768003200000#s2");
    }

    @Test
    void unexpectedExceptionWhileKeyingIsDeadLetteredByItsClassAndTheNextRecordStillFlows() {
        // A time Instant can hold but epoch milliseconds cannot: toEpochMilli() throws ArithmeticException,
        // which no validation step anticipates; the catch ladder turns it into a dead letter.
        catalog.with("signups", 2, true, new Trigger.Kafka("demo.signups", "/signupId", "/at"));
        TestInputTopic<byte[], byte[]> signups = driver.createInputTopic("demo.signups", new ByteArraySerializer(),
                new ByteArraySerializer());
        signups.pipeInput(new TestRecord<>(bytes("s1"), bytes("{\"signupId\":\"s1\",\"at\":\"+1000000000-01-01T00:00:00Z\"}"),
                new RecordHeaders(), T0));
        signups.pipeInput(new TestRecord<>(bytes("s2"), bytes("{\"signupId\":\"s2\"}"), new RecordHeaders(), T0));

        TestRecord<byte[], byte[]> dead = dlq.readRecord();
        assertThat(header(dead, Topics.H_ERROR_CLASS)).isEqualTo(ArithmeticException.class.getName());
        assertThat(header(dead, Topics.H_ERROR_MESSAGE)).contains("workflow 'signups'").contains("ArithmeticException");
        assertThat(header(dead, Topics.H_SOURCE_PARTITION)).isEqualTo("0");
        assertThat(events.readRecordsToList()).extracting(TestRecord::key).containsExactly("signups@0#s2");
        assertThat(metrics.dlq()).isEqualTo(1);
    }

    @Test
    void failingCatalogOnAUserTopicIsASystemErrorNotADeadLetter() {
        driver.close();
        startWith(new WorkflowCatalog() {
            @Override
            public java.util.Optional<Entry> find(String workflowId) {
                return catalog.find(workflowId);
            }

            @Override
            public java.util.Collection<Entry> all() {
                throw new IllegalStateException("catalog down");
            }
        });
        TestInputTopic<byte[], byte[]> signups = driver.createInputTopic("demo.signups", new ByteArraySerializer(),
                new ByteArraySerializer());

        assertThatThrownBy(() -> signups.pipeInput(bytes("k"), bytes("{}"))).isInstanceOf(StreamsException.class)
                .hasRootCauseMessage("catalog down");
        assertThat(dlq.isEmpty()).isTrue();
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', textBlock = """
            {"type":"schedule","cron":"0 0 * * *"} | schedule trigger
            {"type":"api"}                          | api trigger
            {"type":"table","table":"orders"}       | table trigger
            {"type":"kafka","topic":"demo.signups"} | topic 'demo.signups'
            """)
    void triggerRecordNamingAWorkflowNotStartedByTheTriggersTopicIsDeadLettered(String trigger, String named) throws Exception {
        catalog.with("nightly", 4, true, Json.MAPPER.readValue(trigger, Trigger.class));
        publish("k", "{\"workflow\":\"nightly\",\"id\":\"off-schedule\"}", T0.toEpochMilli());
        publish("k", "{\"workflow\":\"order-sync\",\"id\":\"after\"}", T0.toEpochMilli());

        TestRecord<byte[], byte[]> dead = dlq.readRecord();
        assertThat(header(dead, Topics.H_ERROR_CLASS)).isEqualTo("WRONG_TRIGGER_TYPE");
        assertThat(header(dead, Topics.H_ERROR_MESSAGE)).contains("'nightly'").contains("version 4").contains(named)
                .contains(Topics.TRIGGERS);
        assertThat(events.readRecordsToList()).extracting(TestRecord::key).containsExactly("order-sync@0#after");
    }

    @Test
    void kafkaWorkflowOnTheTriggersTopicIsAccepted() {
        catalog.with("explicit", 1, true, new Trigger.Kafka(Topics.TRIGGERS, null, null));
        publish("k", "{\"workflow\":\"explicit\",\"id\":\"e1\"}", T0.toEpochMilli());

        assertThat(events.readRecordsToList()).extracting(TestRecord::key).containsExactly("explicit@0#e1");
        assertThat(dlq.isEmpty()).isTrue();
    }

    @Test
    void triggerThatWouldBeTooLargeOnceWrappedIsDeadLetteredWithTheSizes() {
        // A value the broker accepts under Kafka's default limits (1 MiB), which wrapping pushes over them.
        String big = "{\"workflow\":\"order-sync\",\"id\":\"big\",\"data\":{\"s\":\"" + "x".repeat(1_048_400) + "\"}}";
        assertThat(RecordSizeLimit.sizeOf(bytes("k"), bytes(big), new RecordHeaders()))
                .isLessThanOrEqualTo(RecordSizeLimit.DEFAULT_MAX_REQUEST_SIZE);
        publish("k", big, T0.toEpochMilli());
        publish("k", "{\"workflow\":\"order-sync\",\"id\":\"small\"}", T0.toEpochMilli());

        TestRecord<byte[], byte[]> dead = dlq.readRecord();
        assertThat(header(dead, Topics.H_ERROR_CLASS)).isEqualTo("RECORD_TOO_LARGE");
        assertThat(header(dead, Topics.H_ERROR_MESSAGE)).contains("'order-sync'").contains("over the limit of 1048576 bytes")
                .contains("max.request.size").contains(big.length() + " bytes");
        assertThat(events.readRecordsToList()).extracting(TestRecord::key).containsExactly("order-sync@0#small");
    }

    @Test
    void deadLetterThatTheHeadersWouldMakeTooLargeLeavesTheValueOut() {
        driver.close();
        startWith(catalog, new RecordSizeLimit(2_000, "max.request.size=2000 of the test"));
        String malformed = "{\"workflow\":" + "x".repeat(1_850);
        publish("k", malformed, T0.toEpochMilli());

        TestRecord<byte[], byte[]> dead = dlq.readRecord();
        assertThat(header(dead, Topics.H_ERROR_CLASS)).isEqualTo("MALFORMED_JSON");
        assertThat(dead.value()).isNull();
        assertThat(dead.key()).isEqualTo(bytes("k"));
        assertThat(header(dead, Topics.H_ERROR_MESSAGE)).contains("left out").contains(malformed.length() + " bytes");
        assertThat(header(dead, Topics.H_SOURCE_OFFSET)).isEqualTo("0");
    }

    @Test
    void recordWithoutKeyOnTheByKeyTopicIsDeadLettered() {
        TestInputTopic<byte[], byte[]> byKey = driver.createInputTopic(Topics.BY_KEY, new ByteArraySerializer(),
                new ByteArraySerializer());
        byKey.pipeInput(new TestRecord<>(null, bytes("{\"foreign\":true}"), new RecordHeaders(), T0));
        publish("k", "{\"workflow\":\"order-sync\",\"id\":\"after\"}", T0.toEpochMilli());

        TestRecord<byte[], byte[]> dead = dlq.readRecord();
        assertThat(dead.value()).isEqualTo(bytes("{\"foreign\":true}"));
        assertThat(header(dead, Topics.H_ERROR_CLASS)).isEqualTo("MISSING_KEY");
        assertThat(header(dead, Topics.H_ERROR_MESSAGE)).contains("without a key").contains(Topics.BY_KEY);
        assertThat(header(dead, Topics.H_SOURCE_TOPIC)).isEqualTo(Topics.BY_KEY);
        assertThat(header(dead, Topics.H_SOURCE_OFFSET)).isEqualTo("0");
        assertThat(events.readRecordsToList()).extracting(TestRecord::key).containsExactly("order-sync@0#after");
        assertThat(metrics.dlq()).isEqualTo(1);
    }

    private void publish(String key, String value, long timestamp) {
        triggers.pipeInput(new TestRecord<>(key == null ? null : bytes(key), bytes(value), new RecordHeaders(),
                Instant.ofEpochMilli(timestamp)));
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static String header(TestRecord<?, ?> record, String name) {
        Header h = record.headers().lastHeader(name);
        assertThat(h).as("header %s", name).isNotNull();
        assertThat(record.headers().headers(name)).as("exactly one %s header", name).hasSize(1);
        return new String(h.value(), StandardCharsets.UTF_8);
    }
}
