package dev.onceflow.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.onceflow.common.EventEnvelope;
import dev.onceflow.common.Json;
import dev.onceflow.common.TaskEnvelope;
import dev.onceflow.common.Topics;
import dev.onceflow.common.WorkflowStore;
import dev.onceflow.common.tracing.DeterministicIds;
import dev.onceflow.common.tracing.Traceparent;
import dev.onceflow.common.tracing.Tracing;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.common.workflow.Workflows;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;
import javax.sql.DataSource;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The engine's spans (ADR 0019) from the real pipeline on a real PostgreSQL into the SDK's
 * in-memory exporter: names, parents, attributes, and that what a redelivered batch replays from
 * processed keys produces no second node span.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class ExecutionTracesTest {

    static final String INCOMING = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    static DataSource ds;

    final AtomicLong offsets = new AtomicLong();
    final InMemorySpanExporter exporter = InMemorySpanExporter.create();
    final SdkTracerProvider provider = SdkTracerProvider.builder().setIdGenerator(DeterministicIds.INSTANCE)
            .addSpanProcessor(SimpleSpanProcessor.create(exporter)).build();
    final ExecutionTraces traces = new ExecutionTraces(Tracing.of(provider), Clock.systemUTC());
    Connection connection;
    ExecutionStore store;
    BatchPipeline pipeline;

    @BeforeAll
    static void database() throws Exception {
        ds = EngineTestDatabase.get();
    }

    @BeforeEach
    void open() throws SQLException {
        connection = ds.getConnection();
        store = new ExecutionStore(connection);
        pipeline = EngineTestDatabase.pipeline(ds, store, Clock.systemUTC(), ClaimPolicy.ONCE);
    }

    @AfterEach
    void close() {
        store.rollbackQuietly();
        store.close();
        provider.shutdown();
    }

    @Test
    void nodeSpansAreChildrenOfTheExecutionSpanWhoseParentIsTheTriggersTraceparent() throws Exception {
        Workflow wf = deploy("[" + PipelineTest.effect("first", "second") + ", " + PipelineTest.effect("second", null) + "]");
        String key = wf.id() + "@1#a";

        List<ProducerRecord<byte[], byte[]>> out = new java.util.ArrayList<>();
        commitAndTrace(List.of(event(wf, key, INCOMING)), out);

        Map<String, SpanData> spans = byName();
        assertThat(spans).containsOnlyKeys("execution " + wf.id(), "node first", "node second");
        SpanData execution = spans.get("execution " + wf.id());
        Traceparent incoming = Traceparent.parse(INCOMING).orElseThrow();
        assertThat(execution.getTraceId()).isEqualTo(incoming.traceId());
        assertThat(execution.getParentSpanId()).isEqualTo(incoming.spanId());
        assertThat(execution.getParentSpanContext().isRemote()).isTrue();
        assertThat(execution.getSpanId()).isEqualTo(Traceparent.executionSpanId(key));
        assertThat(execution.getKind()).isEqualTo(SpanKind.CONSUMER);
        assertThat(execution.getAttributes().get(ExecutionTraces.OUTCOME)).isEqualTo("succeeded");
        assertThat(execution.getAttributes().get(ExecutionTraces.WORKFLOW)).isEqualTo(wf.id());
        assertThat(execution.getAttributes().get(ExecutionTraces.VERSION)).isEqualTo((long) wf.version());
        assertThat(execution.getAttributes().get(ExecutionTraces.EVENT_KEY)).isEqualTo(key);
        // From the trigger's publication (the envelope's publishedAt) to the commit that finished it.
        assertThat(execution.getStartEpochNanos()).isEqualTo(TimeUnit.MILLISECONDS.toNanos(1_700_000_000_500L));

        for (String node : List.of("first", "second")) {
            SpanData span = spans.get("node " + node);
            assertThat(span.getTraceId()).isEqualTo(incoming.traceId());
            assertThat(span.getParentSpanId()).isEqualTo(execution.getSpanId());
            assertThat(span.getSpanId()).isEqualTo(Traceparent.nodeSpanId(key + "/" + node));
            assertThat(span.getAttributes().get(ExecutionTraces.NODE)).isEqualTo(node);
            assertThat(span.getAttributes().get(ExecutionTraces.NODE_TYPE)).isEqualTo("sql");
            assertThat(span.getAttributes().get(ExecutionTraces.ATTEMPT)).isEqualTo(1L);
            assertThat(span.getAttributes().get(ExecutionTraces.OUTCOME)).isEqualTo("succeeded");
            assertThat(span.getAttributes().get(ExecutionTraces.PROCESSED_KEY)).isEqualTo(key + "/" + node);
            assertThat(span.getAttributes().get(ExecutionTraces.EVENT_KEY)).isEqualTo(key);
            assertThat(span.getAttributes().get(ExecutionTraces.WORKFLOW)).isEqualTo(wf.id());
            assertThat(span.getStatus().getStatusCode()).isEqualTo(StatusCode.UNSET);
        }
        // The outcome record names the execution span, for its readers to continue the trace.
        ProducerRecord<byte[], byte[]> outcome = out.stream().filter(r -> r.topic().equals(Topics.OUTCOMES)).findFirst().orElseThrow();
        assertThat(new String(outcome.headers().lastHeader("traceparent").value(), StandardCharsets.UTF_8))
                .isEqualTo("00-" + incoming.traceId() + "-" + execution.getSpanId() + "-01");
    }

    @Test
    void aFailedNodeSpanCarriesTheErrorAndSoDoesItsExecution() throws Exception {
        Workflow wf = deploy("[{\"type\": \"sql\", \"id\": \"broken\", \"sql\": \"SELECT * FROM no_such_table_for_traces\"}]");
        String key = wf.id() + "@1#f";

        commitAndTrace(List.of(event(wf, key, INCOMING)));

        Map<String, SpanData> spans = byName();
        assertThat(spans.get("node broken").getAttributes().get(ExecutionTraces.OUTCOME)).isEqualTo("failed");
        assertThat(spans.get("node broken").getStatus().getStatusCode()).isEqualTo(StatusCode.ERROR);
        assertThat(spans.get("node broken").getStatus().getDescription()).contains("no_such_table_for_traces");
        assertThat(spans.get("execution " + wf.id()).getAttributes().get(ExecutionTraces.OUTCOME)).isEqualTo("failed");
        assertThat(spans.get("execution " + wf.id()).getStatus().getStatusCode()).isEqualTo(StatusCode.ERROR);
    }

    @Test
    void aRedeliveredBatchWhoseProcessedKeysExistProducesNoSecondNodeSpan() throws Exception {
        // Still running after the first batch (the delay waits), so a redelivery walks the graph again.
        Workflow wf = deploy("[" + PipelineTest.effect("first", "wait") + ", "
                + "{\"type\": \"delay\", \"id\": \"wait\", \"ms\": 600000, \"next\": \"after\"}, "
                + PipelineTest.effect("after", null) + "]");
        String key = wf.id() + "@1#r";
        ConsumerRecord<byte[], byte[]> event = event(wf, key, INCOMING);

        commitAndTrace(List.of(event));
        List<SpanData> first = exporter.getFinishedSpanItems();
        assertThat(first).extracting(SpanData::getName).containsExactlyInAnyOrder("node first", "node wait");
        assertThat(first).filteredOn(s -> s.getName().equals("node wait"))
                .extracting(s -> s.getAttributes().get(ExecutionTraces.OUTCOME)).containsExactly("waiting");

        // The same event and the start node's task again (a crash between the two commits).
        TaskEnvelope again = new TaskEnvelope(key, executionId(key), wf.id(), wf.version(), "first", "", 1_700_000_000_000L,
                null, Map.of(), 1_700_000_000_500L).withTraceparent(INCOMING);
        Batch.Counts counts = commitAndTrace(List.of(event, task(again)));

        assertThat(counts.duplicateNodeRuns).as("the redelivery was replayed from processed keys").isPositive();
        assertThat(exporter.getFinishedSpanItems()).as("no second span for a node run recorded once").hasSize(first.size());
        assertThat(count("SELECT count(*) FROM test_effects WHERE event_key = '" + key + "' AND node = 'first'")).isEqualTo(1);
    }

    @Test
    void aBatchRolledBackEmitsNothingAndTakesItsFactsBack() throws Exception {
        Workflow wf = deploy("[" + PipelineTest.effect("only", null) + "]");
        String key = wf.id() + "@1#x";
        Batch.Counts counts = new Batch.Counts(true);
        Batch.Counts before = counts.snapshot();
        pipeline.apply(List.of(event(wf, key, INCOMING)), false, counts);
        assertThat(counts.traced()).hasSize(2);
        store.rollbackQuietly(); // as EngineLoop does when anything fails before the commit: no committed(counts)
        counts.restore(before); // as a careful replay does for one record rolled back to its savepoint
        assertThat(counts.traced()).isEmpty();
        traces.committed(counts);
        assertThat(exporter.getFinishedSpanItems()).isEmpty();
    }

    @Test
    void withoutAnIncomingTraceTheExecutionIsARootOfATraceDerivedFromItsEventKey() throws Exception {
        Workflow wf = deploy("[" + PipelineTest.effect("only", null) + "]");
        String key = wf.id() + "@1#n";

        commitAndTrace(List.of(event(wf, key, null)));

        SpanData execution = byName().get("execution " + wf.id());
        assertThat(execution.getParentSpanContext().isValid()).isFalse();
        assertThat(execution.getTraceId()).isEqualTo(Traceparent.traceId(key));
        assertThat(byName().get("node only").getParentSpanId()).isEqualTo(execution.getSpanId());

        // The dispatcher's own header for such an event names the execution span itself: still a root.
        exporter.reset();
        String key2 = wf.id() + "@1#d";
        commitAndTrace(List.of(event(wf, key2, Traceparent.ofEvent(key2).header())));
        SpanData derived = byName().get("execution " + wf.id());
        assertThat(derived.getParentSpanContext().isValid()).isFalse();
        assertThat(derived.getTraceId()).isEqualTo(Traceparent.traceId(key2));
    }

    @Test
    void tasksAndCallsCarryTheTraceOn() {
        TaskEnvelope t = new TaskEnvelope("wf@1#c", 7, "wf", 1, "call", "", 1L, null, Map.of(), 1L).withTraceparent(INCOMING);
        Traceparent incoming = Traceparent.parse(INCOMING).orElseThrow();
        assertThat(traces.callHeader(t)).isEqualTo("00-" + incoming.traceId() + "-" + Traceparent.nodeSpanId("wf@1#c/call") + "-01");
        assertThat(ExecutionTraces.header(t, true, null))
                .isEqualTo("00-" + incoming.traceId() + "-" + Traceparent.executionSpanId("wf@1#c") + "-01");
        // Off: the trigger's context is passed on as it came, and nothing is invented.
        assertThat(ExecutionTraces.OFF.callHeader(t)).isEqualTo(INCOMING);
        assertThat(ExecutionTraces.OFF.callHeader(t.withTraceparent(null))).isNull();
        // A task record carries the header; its envelope keeps the incoming context through timers and retries.
        Batch batch = new Batch(new Batch.Counts(true));
        batch.task(t.next("after", "", Map.of(), null, 2));
        ProducerRecord<byte[], byte[]> record = batch.out.get(0);
        assertThat(new String(record.headers().lastHeader("traceparent").value(), StandardCharsets.UTF_8))
                .isEqualTo(ExecutionTraces.header(t, true, null));
        assertThat(record.value()).asString(StandardCharsets.UTF_8).contains(INCOMING);
    }

    private Batch.Counts commitAndTrace(List<ConsumerRecord<byte[], byte[]>> records) throws Exception {
        return commitAndTrace(records, new java.util.ArrayList<>());
    }

    private Batch.Counts commitAndTrace(List<ConsumerRecord<byte[], byte[]>> records, List<ProducerRecord<byte[], byte[]>> out)
            throws Exception {
        Batch.Counts counts = new Batch.Counts(true);
        out.addAll(PipelineTest.commit(pipeline, store, records, counts));
        traces.committed(counts);
        return counts;
    }

    private Map<String, SpanData> byName() {
        return exporter.getFinishedSpanItems().stream().collect(Collectors.toMap(SpanData::getName, s -> s));
    }

    private Workflow deploy(String nodesJson) throws Exception {
        String id = "tr-" + UUID.randomUUID().toString().substring(0, 8);
        Workflow wf = Workflows.parse(id + ".json", ("{\"id\": \"" + id + "\", \"trigger\": {\"type\": \"kafka\"}, \"nodes\": "
                + nodesJson + "}").getBytes(StandardCharsets.UTF_8));
        return new WorkflowStore(ds).deploy(wf);
    }

    private ConsumerRecord<byte[], byte[]> event(Workflow wf, String key, String traceparent) {
        EventEnvelope e = new EventEnvelope(key, wf.id(), wf.version(), 1_700_000_000_000L, Json.MAPPER.createObjectNode(),
                "test", 1_700_000_000_500L);
        ConsumerRecord<byte[], byte[]> r = new ConsumerRecord<>(Topics.EVENTS, 0, offsets.getAndIncrement(),
                key.getBytes(StandardCharsets.UTF_8), Json.bytes(e));
        if (traceparent != null) {
            r.headers().add("traceparent", traceparent.getBytes(StandardCharsets.UTF_8));
        }
        return r;
    }

    private ConsumerRecord<byte[], byte[]> task(TaskEnvelope t) {
        return new ConsumerRecord<>(Topics.TASKS, 0, offsets.getAndIncrement(), t.eventKey().getBytes(StandardCharsets.UTF_8),
                Json.bytes(t));
    }

    private static long executionId(String key) throws SQLException {
        return count("SELECT id FROM executions WHERE event_key = '" + key + "'");
    }

    private static long count(String sql) throws SQLException {
        try (Connection c = ds.getConnection(); java.sql.Statement st = c.createStatement(); java.sql.ResultSet rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }
}
