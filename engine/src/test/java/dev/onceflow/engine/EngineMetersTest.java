package dev.onceflow.engine;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.common.EventEnvelope;
import dev.onceflow.common.Json;
import dev.onceflow.common.Topics;
import dev.onceflow.common.WorkflowStore;
import dev.onceflow.common.executions.ExecutionStatus;
import dev.onceflow.common.executions.NodeStatus;
import dev.onceflow.common.metrics.OnceflowMeters;
import dev.onceflow.common.workflow.Node;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.common.workflow.Workflows;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Clock;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import javax.sql.DataSource;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The engine's Prometheus meters: batches run through the real pipeline on PostgreSQL, their
 * counts added as {@link EngineLoop} adds them after the commits, and the scrape text read back:
 * names, labels and values, and that they agree with {@link EngineMetrics}' own counters.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class EngineMetersTest {

    private static DataSource ds;

    private final AtomicLong offsets = new AtomicLong();
    private final OnceflowMeters meters = new OnceflowMeters();
    private final EngineMetrics metrics = new EngineMetrics(meters);
    private Connection connection;
    private ExecutionStore store;
    private BatchPipeline pipeline;

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
        meters.close();
    }

    /** sql → condition: n == 1 waits on a delay, anything else ends the execution failed. */
    private Workflow deployBranching() throws Exception {
        return deploy("""
                [{"type": "sql", "id": "a", "sql": "INSERT INTO test_effects (event_key, node) VALUES (?, 'a')",
                  "params": ["event.key"], "next": "c"},
                 {"type": "condition", "id": "c", "if": "trigger.n == 1", "then": "d", "else": "e"},
                 {"type": "delay", "id": "d", "ms": 600000},
                 {"type": "end", "id": "e", "status": "failed", "message": "n is not 1"}]""");
    }

    private Workflow deployOneSql() throws Exception {
        return deploy("""
                [{"type": "sql", "id": "a", "sql": "INSERT INTO test_effects (event_key, node) VALUES (?, 'a')",
                  "params": ["event.key"]}]""");
    }

    private Workflow deploy(String nodes) throws Exception {
        String id = "em-" + UUID.randomUUID().toString().substring(0, 8);
        Workflow wf = Workflows.parse(id + ".json", ("{\"id\": \"" + id + "\", \"trigger\": {\"type\": \"kafka\"}, \"nodes\": "
                + nodes + "}").getBytes(StandardCharsets.UTF_8));
        return new WorkflowStore(ds).deploy(wf);
    }

    private ConsumerRecord<byte[], byte[]> event(Workflow wf, String key, int n) {
        ObjectNode data = Json.MAPPER.createObjectNode().put("n", n);
        EventEnvelope e = new EventEnvelope(key, wf.id(), wf.version(), 1_700_000_000_000L, data, "test",
                System.currentTimeMillis() - 2_000);
        return new ConsumerRecord<>(Topics.EVENTS, 0, offsets.getAndIncrement(), key.getBytes(StandardCharsets.UTF_8), Json.bytes(e));
    }

    /** One batch through the pipeline and the commit, then its counts added, as EngineLoop does. */
    private void commit(List<ConsumerRecord<byte[], byte[]>> records) throws Exception {
        Batch.Counts counts = new Batch.Counts();
        try {
            pipeline.apply(records, false, counts);
        } catch (BatchPipeline.ReplayCarefully e) {
            store.rollbackQuietly();
            counts = new Batch.Counts();
            pipeline.apply(records, true, counts);
        }
        store.commit();
        counts.addTo(metrics);
    }

    @Test
    void executionsNodeRunsAndDurationsAreCountedByTheirLabels() throws Exception {
        Workflow branching = deployBranching();
        Workflow single = deployOneSql();

        commit(List.of(event(branching, branching.id() + "@0", 0), event(branching, branching.id() + "@1", 1),
                event(single, single.id() + "@0", 0)));

        String text = meters.scrape();
        assertThat(text).contains(
                "onceflow_executions_started_total{workflow=\"" + branching.id() + "\"} 2.0",
                "onceflow_executions_started_total{workflow=\"" + single.id() + "\"} 1.0",
                "onceflow_executions_finished_total{status=\"failed\",workflow=\"" + branching.id() + "\"} 1.0",
                "onceflow_executions_finished_total{status=\"succeeded\",workflow=\"" + single.id() + "\"} 1.0",
                "onceflow_node_runs_total{outcome=\"succeeded\",type=\"sql\"} 3.0",
                "onceflow_node_runs_total{outcome=\"succeeded\",type=\"condition\"} 2.0",
                "onceflow_node_runs_total{outcome=\"waiting\",type=\"delay\"} 1.0",
                "onceflow_node_runs_total{outcome=\"succeeded\",type=\"end\"} 1.0",
                "onceflow_node_duration_seconds_count{type=\"sql\"} 3",
                "onceflow_node_duration_seconds_count{type=\"condition\"} 2",
                "onceflow_execution_duration_seconds_count 2",
                // published two seconds before they finished: between the 1 s and the 5 s bound
                "onceflow_execution_duration_seconds_bucket{le=\"1.0\"} 0",
                "onceflow_execution_duration_seconds_bucket{le=\"5.0\"} 2");
        assertThat(text).doesNotContain("workflow=\"" + branching.id() + "\",status=\"succeeded\"")
                .doesNotContain("outcome=\"failed\"");
        assertThat(metrics.events()).isEqualTo(3);
        assertThat(metrics.executionsFailed()).isEqualTo(1);
        assertThat(metrics.executionsSucceeded()).isEqualTo(1);
    }

    @Test
    void duplicatesAbsorbedByLayerEqualTheEnginesOwnCounters() throws Exception {
        Workflow branching = deployBranching();
        ConsumerRecord<byte[], byte[]> waiting = event(branching, branching.id() + "@1", 1);
        ConsumerRecord<byte[], byte[]> failing = event(branching, branching.id() + "@0", 0);
        commit(List.of(waiting, failing));
        assertThat(meters.scrape()).contains("onceflow_duplicates_absorbed_total{layer=\"execution_key\"} 0.0",
                "onceflow_duplicates_absorbed_total{layer=\"processed_key\"} 0.0");

        // Both events delivered again: their keys have executions. The waiting one walks its graph
        // again from the start (ADR 0004) and finds a, c and d processed; the finished one does not.
        commit(List.of(waiting, failing));

        assertThat(metrics.duplicateEvents()).isEqualTo(2);
        assertThat(metrics.duplicateNodeRuns()).isEqualTo(3);
        assertThat(meters.scrape()).contains("onceflow_duplicates_absorbed_total{layer=\"execution_key\"} 2.0",
                "onceflow_duplicates_absorbed_total{layer=\"processed_key\"} 3.0");
    }

    @Test
    void everyReasonTheEngineDeadLettersWithIsShownFromTheStart() {
        assertThat(meters.scrape()).contains("onceflow_dead_lettered_total{reason=\"MALFORMED_JSON\",role=\"engine\"} 0.0",
                "onceflow_dead_lettered_total{reason=\"UNKNOWN_NODE\",role=\"engine\"} 0.0",
                "onceflow_dead_lettered_total{reason=\"PROCESSING_FAILED\",role=\"engine\"} 0.0");
    }

    @Test
    void deadLettersAreCountedByRoleAndReason() throws Exception {
        ConsumerRecord<byte[], byte[]> garbage = new ConsumerRecord<>(Topics.TASKS, 0, offsets.getAndIncrement(),
                "k".getBytes(StandardCharsets.UTF_8), "not json".getBytes(StandardCharsets.UTF_8));

        commit(List.of(garbage));

        assertThat(metrics.deadLettered()).isEqualTo(1);
        assertThat(meters.scrape()).contains("onceflow_dead_lettered_total{reason=\"MALFORMED_JSON\",role=\"engine\"} 1.0");
    }

    @Test
    void countsUncommittedAreNotRecorded() throws Exception {
        Workflow single = deployOneSql();
        Batch.Counts counts = new Batch.Counts();
        pipeline.apply(List.of(event(single, single.id() + "@0", 0)), false, counts);
        store.rollbackQuietly(); // as EngineLoop does when a commit fails: the counts are dropped with the batch

        assertThat(meters.scrape()).doesNotContain("workflow=\"" + single.id() + "\"");
        assertThat(metrics.events()).isZero();
    }

    @Test
    void aRecordRolledBackToItsSavepointTakesItsCountsBack() {
        Node node = new Node.End("e", "succeeded", null);
        Batch.Counts counts = new Batch.Counts();
        counts.started("kept");
        Batch.Counts before = counts.snapshot();
        counts.started("undone");
        counts.finished("undone", ExecutionStatus.FAILED, 5);
        counts.outcome(node, NodeStatus.SUCCEEDED);
        counts.ran(node, 1_000);
        counts.deadLettered("PROCESSING_FAILED");
        counts.restore(before);
        counts.addTo(metrics);

        String text = meters.scrape();
        assertThat(text).contains("onceflow_executions_started_total{workflow=\"kept\"} 1.0")
                .doesNotContain("undone").doesNotContain("onceflow_node_runs_total{")
                .contains("onceflow_dead_lettered_total{reason=\"PROCESSING_FAILED\",role=\"engine\"} 0.0").contains("onceflow_execution_duration_seconds_count 0");
        assertThat(metrics.events()).isEqualTo(1);
        assertThat(metrics.executionsFailed()).isZero();
    }

    @Test
    void nodeTypesAreNamedAsDefinitionsSpellThem() {
        assertThat(EngineMeters.type(new Node.End("e", null, null))).isEqualTo("end");
        assertThat(EngineMeters.type(new Node.Delay("d", 5L, null, null, null))).isEqualTo("delay");
    }

    @Test
    void httpCallsTimersFiredAndPartitionsRevokedAreCountersToo() {
        metrics.countHttpCalls(2);
        metrics.countTimersFired(3);
        metrics.countPartitionsRevoked(4);
        metrics.countLongStatement();

        assertThat(meters.scrape()).contains("onceflow_http_calls_total 2.0", "onceflow_timers_fired_total 3.0",
                "onceflow_partitions_revoked_total 4.0", "onceflow_long_statements_total 1.0");
        assertThat(metrics.longStatements()).isEqualTo(1);
        assertThat(metrics.httpCalls()).isEqualTo(2);
        assertThat(metrics.timersFired()).isEqualTo(3);
        assertThat(metrics.partitionsRevoked()).isEqualTo(4);
    }
}
