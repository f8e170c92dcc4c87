package dev.onceflow.engine;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.common.EventEnvelope;
import dev.onceflow.common.Json;
import dev.onceflow.common.Outcome;
import dev.onceflow.common.TaskEnvelope;
import dev.onceflow.common.Topics;
import dev.onceflow.common.WorkflowStore;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.common.workflow.Workflows;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import javax.sql.DataSource;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The batch pipeline ({@link DecodeRecords} → {@link RunWave} → {@link ApplyOutcome}) on a real
 * PostgreSQL, fed records as the consumer hands them over and committed as {@link EngineLoop}
 * commits them: the tasks-topic path, a crash between the two commits, claim races, cancel.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class PipelineTest {

    static DataSource ds;

    final AtomicLong offsets = new AtomicLong();
    final Clock clock = Clock.systemUTC();
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
        pipeline = pipeline(store, ClaimPolicy.ONCE);
    }

    @AfterEach
    void close() {
        store.rollbackQuietly();
        store.close();
    }

    BatchPipeline pipeline(ExecutionStore s, ClaimPolicy policy) {
        return new BatchPipeline(s, new WorkflowCache(new WorkflowStore(ds)), new NodeRunner(5_000), clock, policy,
                new PoisonAttempts(3));
    }

    /** Deploys a workflow whose nodes are {@code nodesJson} (a JSON array body); its id is unique. */
    Workflow deploy(String nodesJson) throws Exception {
        String id = "pt-" + UUID.randomUUID().toString().substring(0, 8);
        Workflow wf = Workflows.parse(id + ".json", ("{\"id\": \"" + id + "\", \"trigger\": {\"type\": \"kafka\"}, \"nodes\": "
                + nodesJson + "}").getBytes(StandardCharsets.UTF_8));
        return new WorkflowStore(ds).deploy(wf);
    }

    /** A sql node that records its run in test_effects, then continues with {@code next} (null: none). */
    static String effect(String id, String next) {
        return "{\"type\": \"sql\", \"id\": \"" + id + "\", \"sql\": \"INSERT INTO test_effects (event_key, node) VALUES (?, '"
                + id + "')\", \"params\": [\"event.key\"]" + (next == null ? "" : ", \"next\": \"" + next + "\"") + "}";
    }

    ConsumerRecord<byte[], byte[]> event(Workflow wf, String key) {
        EventEnvelope e = new EventEnvelope(key, wf.id(), wf.version(), 1_700_000_000_000L, Json.MAPPER.createObjectNode(),
                "test", 1_700_000_000_500L);
        return new ConsumerRecord<>(Topics.EVENTS, 0, offsets.getAndIncrement(), key.getBytes(StandardCharsets.UTF_8), Json.bytes(e));
    }

    ConsumerRecord<byte[], byte[]> task(TaskEnvelope t) {
        return new ConsumerRecord<>(Topics.TASKS, 0, offsets.getAndIncrement(), t.eventKey().getBytes(StandardCharsets.UTF_8),
                Json.bytes(t));
    }

    /** One batch through the pipeline and the PostgreSQL commit, replaying carefully when asked, as EngineLoop does. */
    List<ProducerRecord<byte[], byte[]>> commit(List<ConsumerRecord<byte[], byte[]>> records, Batch.Counts counts)
            throws Exception {
        return commit(pipeline, store, records, counts);
    }

    static List<ProducerRecord<byte[], byte[]>> commit(BatchPipeline p, ExecutionStore s, List<ConsumerRecord<byte[], byte[]>> records,
                                                       Batch.Counts counts) throws Exception {
        try {
            List<ProducerRecord<byte[], byte[]>> out = p.apply(records, false, counts);
            s.commit();
            return out;
        } catch (BatchPipeline.ReplayCarefully e) {
            s.rollbackQuietly();
            List<ProducerRecord<byte[], byte[]>> out = p.apply(records, true, counts);
            s.commit();
            return out;
        }
    }

    static long effects(String eventKey) throws SQLException {
        return count("SELECT count(*) FROM test_effects WHERE event_key = '" + eventKey + "'");
    }

    static long count(String sql) throws SQLException {
        try (Connection c = ds.getConnection(); Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    static String executionStatus(String eventKey) throws SQLException {
        try (Connection c = ds.getConnection(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT status FROM executions WHERE event_key = '" + eventKey + "'")) {
            return rs.next() ? rs.getString(1) : null;
        }
    }

    static List<TaskEnvelope> tasks(List<ProducerRecord<byte[], byte[]>> out) throws Exception {
        List<TaskEnvelope> tasks = new ArrayList<>();
        for (ProducerRecord<byte[], byte[]> r : out) {
            if (r.topic().equals(Topics.TASKS)) {
                tasks.add(Json.read(r.value(), TaskEnvelope.class));
            }
        }
        return tasks;
    }

    static List<Outcome> outcomes(List<ProducerRecord<byte[], byte[]>> out) throws Exception {
        List<Outcome> outcomes = new ArrayList<>();
        for (ProducerRecord<byte[], byte[]> r : out) {
            if (r.topic().equals(Topics.OUTCOMES)) {
                outcomes.add(Json.read(r.value(), Outcome.class));
            }
        }
        return outcomes;
    }

    static long executionId(String eventKey) throws SQLException {
        return count("SELECT id FROM executions WHERE event_key = '" + eventKey + "'");
    }

    @Test
    void aTaskRecordContinuesAnExecutionFromItsNode() throws Exception {
        Workflow wf = deploy("[" + effect("a", "b") + ", " + effect("b", "c") + ", " + effect("c", null) + "]");
        String key = wf.id() + "@1";
        // The execution exists and node a ran; the task record for b comes from the tasks topic.
        commit(List.of(event(wf, key)), new Batch.Counts());
        store.connection().createStatement().execute("DELETE FROM processed_keys WHERE key LIKE '" + key + "/%' AND node_id <> 'a'");
        store.connection().createStatement().execute("UPDATE executions SET status = 'running', finished_at = NULL "
                + "WHERE event_key = '" + key + "'");
        store.commit();
        TaskEnvelope b = new TaskEnvelope(key, executionId(key), wf.id(), wf.version(), "b", "", 0, null,
                Map.of("a", Json.MAPPER.createObjectNode().put("rowCount", 1)), 0);
        Batch.Counts counts = new Batch.Counts();

        List<ProducerRecord<byte[], byte[]>> out = commit(List.of(task(b)), counts);

        assertThat(counts.nodeRuns).as("b and c run, a does not").isEqualTo(2);
        assertThat(effects(key)).as("a once from the event, b and c once each (b and c again)").isEqualTo(5);
        assertThat(executionStatus(key)).isEqualTo("succeeded");
        assertThat(outcomes(out)).singleElement().satisfies(o -> assertThat(o.status()).isEqualTo("succeeded"));
    }

    @Test
    void aBatchRedeliveredAfterACrashBetweenTheCommitsRunsNothingAgainAndProducesTheSameOutcome() throws Exception {
        Workflow wf = deploy("[" + effect("a", "b") + ", " + effect("b", null) + "]");
        List<ConsumerRecord<byte[], byte[]>> batch = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            batch.add(event(wf, wf.id() + "@" + i));
        }
        List<Outcome> first = outcomes(commit(batch, new Batch.Counts()));
        // The Kafka transaction with those outcomes aborted: the same records come again.
        Batch.Counts again = new Batch.Counts();

        List<Outcome> second = outcomes(commit(batch, again));

        assertThat(again.nodeRuns).isZero();
        assertThat(again.duplicateEvents).isEqualTo(20);
        assertThat(second).containsExactlyInAnyOrderElementsOf(first);
        for (int i = 0; i < 20; i++) {
            assertThat(effects(wf.id() + "@" + i)).isEqualTo(2);
        }
    }

    @Test
    void twoWorkersRacingForOneTaskRunItsNodeOnce() throws Exception {
        Workflow wf = deploy("[" + effect("a", "b") + ", " + effect("b", null) + "]");
        String key = wf.id() + "@race";
        // The execution exists with a done; two workers get b's task record (a rebalance, a zombie).
        commit(List.of(event(wf, key)), new Batch.Counts());
        store.connection().createStatement().execute("DELETE FROM processed_keys WHERE key = '" + key + "/b'");
        store.connection().createStatement().execute("DELETE FROM test_effects WHERE event_key = '" + key + "' AND node = 'b'");
        store.connection().createStatement().execute("UPDATE executions SET status = 'running', finished_at = NULL "
                + "WHERE event_key = '" + key + "'");
        store.commit();
        TaskEnvelope b = new TaskEnvelope(key, executionId(key), wf.id(), wf.version(), "b", "", 0, null, Map.of(), 0);
        ExecutionStore other = new ExecutionStore(ds.getConnection());
        BatchPipeline otherPipeline = pipeline(other, ClaimPolicy.ONCE);
        try {
            Batch.Counts mine = new Batch.Counts();
            Batch.Counts theirs = new Batch.Counts();
            // Mine claims first and holds its transaction open; theirs blocks on the key until mine commits.
            pipeline.apply(List.of(task(b)), false, mine);
            CompletableFuture<List<ProducerRecord<byte[], byte[]>>> racing = CompletableFuture.supplyAsync(() -> {
                try {
                    return commit(otherPipeline, other, List.of(task(b)), theirs);
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            Thread.sleep(300);
            assertThat(racing).as("the second claim waits for the first transaction").isNotDone();
            store.commit();
            List<ProducerRecord<byte[], byte[]>> theirOut = racing.get(30, TimeUnit.SECONDS);

            assertThat(mine.nodeRuns + theirs.nodeRuns).isEqualTo(1);
            assertThat(theirs.duplicateNodeRuns + theirs.nodeRuns).isEqualTo(1);
            assertThat(count("SELECT count(*) FROM test_effects WHERE event_key = '" + key + "' AND node = 'b'")).isEqualTo(1);
            assertThat(outcomes(theirOut)).as("the loser still produces the finished execution's outcome")
                    .singleElement().satisfies(o -> assertThat(o.status()).isEqualTo("succeeded"));
        } finally {
            other.rollbackQuietly();
            other.close();
        }
    }

    @Test
    void aCancelledExecutionRunsNoFurtherNode() throws Exception {
        Workflow wf = deploy("[" + effect("a", "b") + ", " + effect("b", null) + "]");
        String key = wf.id() + "@cancel";
        commit(List.of(event(wf, key)), new Batch.Counts());
        store.connection().createStatement().execute("DELETE FROM processed_keys WHERE key = '" + key + "/b'");
        store.connection().createStatement().execute("DELETE FROM test_effects WHERE event_key = '" + key + "' AND node = 'b'");
        store.connection().createStatement().execute("UPDATE executions SET status = 'cancelled', finished_at = now(), "
                + "error = 'cancelled by test' WHERE event_key = '" + key + "'");
        store.commit();
        TaskEnvelope b = new TaskEnvelope(key, executionId(key), wf.id(), wf.version(), "b", "", 0, null, Map.of(), 0);
        Batch.Counts counts = new Batch.Counts();

        List<ProducerRecord<byte[], byte[]>> out = commit(List.of(task(b)), counts);

        assertThat(counts.nodeRuns).isZero();
        assertThat(count("SELECT count(*) FROM test_effects WHERE event_key = '" + key + "' AND node = 'b'")).isZero();
        assertThat(executionStatus(key)).isEqualTo("cancelled");
        assertThat(tasks(out)).isEmpty();
    }

    @Test
    void theAttemptIsPartOfTheProcessedKeyFromTheSecondOn() {
        TaskEnvelope first = new TaskEnvelope("w@1", 1, "w", 1, "n", "", 0, null, Map.of(), 0);
        ObjectNode vars = Json.MAPPER.createObjectNode().put("x", 1);
        assertThat(first.processedKey()).isEqualTo("w@1/n");
        assertThat(first.next("n", "", Map.of(), vars, 2).processedKey()).isEqualTo("w@1/n#2");
        assertThat(first.next("m", "p#3", Map.of(), vars, 1).processedKey()).isEqualTo("w@1/m/p#3");
        assertThat(first.next("m", "p#3", Map.of(), vars, 1).vars()).isEqualTo(vars);
    }
}
