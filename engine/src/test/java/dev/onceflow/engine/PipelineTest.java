package dev.onceflow.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.common.EventEnvelope;
import dev.onceflow.common.Json;
import dev.onceflow.common.Outcome;
import dev.onceflow.common.TaskEnvelope;
import dev.onceflow.common.Topics;
import dev.onceflow.common.local.LocalReceiver;
import dev.onceflow.common.WorkflowStore;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.common.workflow.Workflows;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
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
        return EngineTestDatabase.pipeline(ds, s, clock, policy);
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
            List<ProducerRecord<byte[], byte[]>> out = new ArrayList<>();
            List<ConsumerRecord<byte[], byte[]>> rest = records;
            while (!rest.isEmpty()) { // in parts, each within the savepoint budget
                out.addAll(p.apply(rest, true, counts));
                s.commit();
                rest = rest.subList(p.appliedRecords(), rest.size());
            }
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

    static String executionError(String eventKey) throws SQLException {
        try (Connection c = ds.getConnection(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT error FROM executions WHERE event_key = '" + eventKey + "'")) {
            return rs.next() ? rs.getString(1) : null;
        }
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
        int otherPid = RetentionRaceTest.backendPid(other.connection());
        other.rollbackQuietly();
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
            // Seen in pg_stat_activity, not guessed with a sleep: the second claim waits on the first transaction.
            RetentionRaceTest.awaitLockWait(ds, otherPid);
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

    // ---- nodes that wait, branch and loop (ADR 0013) ------------------------------------------

    ConsumerRecord<byte[], byte[]> event(Workflow wf, String key, ObjectNode data) {
        EventEnvelope e = new EventEnvelope(key, wf.id(), wf.version(), 1_700_000_000_000L, data, "test", 1_700_000_000_500L);
        return new ConsumerRecord<>(Topics.EVENTS, 0, offsets.getAndIncrement(), key.getBytes(StandardCharsets.UTF_8), Json.bytes(e));
    }

    /** Feeds produced task records back as the consumer would, until none are left; returns every outcome. */
    List<Outcome> drain(List<ProducerRecord<byte[], byte[]>> out, Batch.Counts counts) throws Exception {
        List<Outcome> outcomes = new ArrayList<>(outcomes(out));
        List<TaskEnvelope> pending = tasks(out);
        for (int round = 0; !pending.isEmpty(); round++) {
            assertThat(round).as("task records keep coming").isLessThan(1000);
            List<ConsumerRecord<byte[], byte[]>> records = new ArrayList<>();
            pending.forEach(t -> records.add(task(t)));
            List<ProducerRecord<byte[], byte[]>> next = commit(records, counts);
            outcomes.addAll(outcomes(next));
            pending = tasks(next);
        }
        return outcomes;
    }

    /** Fires the due timers of partition 0 as EngineLoop does (tasks out first, then marked fired); returns their tasks. */
    List<TaskEnvelope> fireDueTimers() throws Exception {
        List<ExecutionStore.DueTimer> due = store.dueTimers(java.util.Set.of(0), 1000);
        store.rollbackQuietly();
        List<TaskEnvelope> tasks = new ArrayList<>();
        for (ExecutionStore.DueTimer t : due) {
            tasks.addAll(t.tasks());
        }
        if (!due.isEmpty()) {
            store.markFired(due);
            store.commit();
        }
        return tasks;
    }

    private List<TaskEnvelope> fireDueTimersUnchecked() {
        try {
            return fireDueTimers();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** Fires due timers until one carries the task of this retry attempt (due by PostgreSQL's clock); returns those. */
    List<TaskEnvelope> awaitRetryAttempt(int attempt) {
        AtomicReference<List<TaskEnvelope>> fired = new AtomicReference<>(List.of());
        await("attempt " + attempt + "'s timer fires").atMost(Duration.ofSeconds(30)).pollInSameThread()
                .pollInterval(Duration.ofMillis(50))
                .until(() -> !fired.updateAndGet(f -> fireDueTimersUnchecked().stream().filter(t -> t.attempt() == attempt).toList())
                        .isEmpty());
        return fired.get();
    }

    @Test
    void aCalculationSetsVariablesThatTheNodesAfterItSee() throws Exception {
        Workflow wf = deploy("""
                [{"type": "calculation", "id": "calc", "set": {"total": "trigger.price * trigger.qty"}, "next": "label"},
                 {"type": "calculation", "id": "label", "set": {"label": "'order ' + vars.total", "total": "vars.total + 1"},
                  "next": "save"},
                 {"type": "sql", "id": "save", "sql": "INSERT INTO test_effects (event_key, node) VALUES (?, ?)",
                  "params": ["event.key", "vars.label"]}]""");
        String key = wf.id() + "@calc";

        commit(List.of(event(wf, key, Json.MAPPER.createObjectNode().put("price", 5).put("qty", 3))), new Batch.Counts());

        assertThat(executionStatus(key)).as(executionError(key)).isEqualTo("succeeded");
        try (Connection c = ds.getConnection(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT node FROM test_effects WHERE event_key = '" + key + "'")) {
            assertThat(rs.next()).isTrue();
            assertThat(rs.getString(1)).as("label saw total as it was before its node").isEqualTo("order 15");
        }
        assertThat(executionStatus(key)).isEqualTo("succeeded");
    }

    @Test
    void aDelayWaitsOnADurableTimerThatFiresOnceAndNeverEarly() throws Exception {
        Workflow wf = deploy("[" + effect("before", "wait") + ", {\"type\": \"delay\", \"id\": \"wait\", \"ms\": 1500, \"next\": \"after\"}, "
                + effect("after", null) + "]");
        String key = wf.id() + "@delay";
        long started = System.currentTimeMillis();

        List<ProducerRecord<byte[], byte[]>> out = commit(List.of(event(wf, key)), new Batch.Counts());

        assertThat(tasks(out)).as("nothing follows the delay before its timer fires").isEmpty();
        assertThat(executionStatus(key)).isEqualTo("running");
        assertThat(count("SELECT count(*) FROM processed_keys WHERE key = '" + key + "/wait' AND status = 'waiting'")).isEqualTo(1);
        assertThat(fireDueTimers()).as("not due yet").isEmpty();
        // A redelivery of the event while it waits: nothing runs again, no second timer.
        assertThat(tasks(commit(List.of(event(wf, key)), new Batch.Counts()))).isEmpty();
        assertThat(count("SELECT count(*) FROM timers WHERE execution_id = " + executionId(key))).isEqualTo(1);

        // Due by PostgreSQL's clock (timers.due_at <= now()), which no Clock given to the pipeline moves:
        // look until it fires, not for a fixed time.
        AtomicReference<List<TaskEnvelope>> due = new AtomicReference<>(List.of());
        await("the delay's timer fires").atMost(Duration.ofSeconds(30)).pollInSameThread().pollInterval(Duration.ofMillis(100))
                .until(() -> !due.updateAndGet(f -> fireDueTimersUnchecked()).isEmpty());
        List<TaskEnvelope> fired = due.get();
        long firedAt = System.currentTimeMillis();
        assertThat(firedAt - started).as("never early").isGreaterThanOrEqualTo(1500);
        assertThat(fired).singleElement().satisfies(t -> assertThat(t.node()).isEqualTo("after"));
        assertThat(fireDueTimers()).as("fires once").isEmpty();
        // The fired task, delivered twice (a crash between producing it and marking the timer fired).
        Batch.Counts counts = new Batch.Counts();
        List<Outcome> outcomes = drain(commit(List.of(task(fired.get(0)), task(fired.get(0))), counts), counts);

        assertThat(effects(key)).as("before and after, once each").isEqualTo(2);
        assertThat(executionStatus(key)).isEqualTo("succeeded");
        assertThat(outcomes).extracting(Outcome::status).contains("succeeded");
        assertThat(count("SELECT count(*) FROM processed_keys WHERE key = '" + key + "/wait' AND status = 'succeeded'")).isEqualTo(1);
    }

    @Test
    void aRetryWaitsOnATimerAndSucceedsOnTheThirdAttempt() throws Exception {
        String seq = "flaky_retry_" + UUID.randomUUID().toString().substring(0, 8);
        store.connection().createStatement().execute("CREATE SEQUENCE " + seq);
        store.commit();
        // Fails (division by zero, SQLSTATE 22012) while the sequence is below 5; sequences are not
        // rolled back. A failing attempt calls nextval twice (the batched statement fails, then the
        // careful replay runs it alone), so attempts 1 and 2 take 1-4 and attempt 3 gets 5.
        Workflow wf = deploy("""
                [{"type": "sql", "id": "flaky", "sql": "INSERT INTO test_effects (event_key, node) SELECT ?, 'flaky' WHERE 1 / (CASE WHEN nextval('%s') < 5 THEN 0 ELSE 1 END) = 1",
                  "params": ["event.key"], "retry": {"attempts": 3, "backoffMs": 200, "jitter": 0, "on": ["22012"]}}]""".formatted(seq));
        String key = wf.id() + "@retry";
        long started = System.currentTimeMillis();

        commit(List.of(event(wf, key)), new Batch.Counts());
        List<Long> firedAfter = new ArrayList<>();
        // Each look fires what PostgreSQL's clock made due and runs it, until the execution ends.
        await("the retries finish").atMost(Duration.ofSeconds(30)).pollInSameThread().pollInterval(Duration.ofMillis(50))
                .until(() -> {
                    List<TaskEnvelope> fired = fireDueTimers();
                    if (!fired.isEmpty()) {
                        firedAfter.add(System.currentTimeMillis() - started);
                        Batch.Counts counts = new Batch.Counts();
                        drain(commit(fired.stream().map(this::task).toList(), counts), counts);
                    }
                    return "succeeded".equals(executionStatus(key)) || "failed".equals(executionStatus(key));
                });

        assertThat(executionStatus(key)).isEqualTo("succeeded");
        assertThat(effects(key)).isEqualTo(1);
        assertThat(firedAfter).as("two backoffs: 200 ms, then 400 ms").hasSize(2);
        assertThat(firedAfter.get(0)).isGreaterThanOrEqualTo(200);
        assertThat(firedAfter.get(1) - firedAfter.get(0)).isGreaterThanOrEqualTo(400);
        assertThat(count("SELECT count(*) FROM processed_keys WHERE execution_id = " + executionId(key) + " AND status = 'failed'"))
                .as("attempts 1 and 2 recorded failed, each under its own key").isEqualTo(2);
        assertThat(count("SELECT count(*) FROM processed_keys WHERE key = '" + key + "/flaky#3' AND status = 'succeeded'")).isEqualTo(1);
    }

    @Test
    void aParallelJoinContinuesOnceWhateverTheOrderOfItsBranchesAndTheirRedeliveries() throws Exception {
        Workflow wf = deploy("[{\"type\": \"parallel\", \"id\": \"fork\", \"branches\": [\"b0\", \"b1\", \"b2\"], \"next\": \"after\"}, "
                + effect("b0", null) + ", " + effect("b1", null) + ", " + effect("b2", null) + ", " + effect("after", null) + "]");
        int[][] orders = {{0, 1, 2}, {2, 0, 1}, {1, 2, 0}, {2, 1, 0}};
        for (int o = 0; o < orders.length; o++) {
            String key = wf.id() + "@order" + o;
            // The execution and its fork ran; the branch tasks then come one batch each, one of them twice.
            commit(List.of(event(wf, key)), new Batch.Counts());
            long id = executionId(key);
            store.connection().createStatement().execute("DELETE FROM processed_keys WHERE execution_id = " + id + " AND node_id <> 'fork'");
            store.connection().createStatement().execute("DELETE FROM branch_arrivals WHERE execution_id = " + id);
            store.connection().createStatement().execute("DELETE FROM test_effects WHERE event_key = '" + key + "'");
            store.connection().createStatement().execute("UPDATE executions SET status = 'running', finished_at = NULL WHERE id = " + id);
            store.commit();
            Map<String, com.fasterxml.jackson.databind.JsonNode> outputs = Map.of("fork", Json.MAPPER.createObjectNode().put("branches", 3));
            List<Outcome> outcomes = new ArrayList<>();
            for (int k = 0; k < 3; k++) {
                int b = orders[o][k];
                TaskEnvelope branch = new TaskEnvelope(key, id, wf.id(), wf.version(), "b" + b, "fork#" + b, 0, null, outputs, 0);
                Batch.Counts counts = new Batch.Counts();
                List<ConsumerRecord<byte[], byte[]>> records = k == 1 ? List.of(task(branch), task(branch)) : List.of(task(branch));
                outcomes.addAll(drain(commit(records, counts), counts));
                if (k == 2) {
                    // the last branch's task redelivered after everything committed
                    Batch.Counts again = new Batch.Counts();
                    outcomes.addAll(drain(commit(List.of(task(branch)), again), again));
                    assertThat(again.nodeRuns).isZero();
                }
            }

            assertThat(count("SELECT count(*) FROM test_effects WHERE event_key = '" + key + "' AND node = 'after'"))
                    .as("order %d: the join's follow-up once", o).isEqualTo(1);
            assertThat(effects(key)).as("order %d: each branch once", o).isEqualTo(4);
            assertThat(executionStatus(key)).isEqualTo("succeeded");
            assertThat(outcomes).extracting(Outcome::status).containsOnly("succeeded");
        }
    }

    @Test
    void aLoopRunsEachIterationOnceUnderRedeliveryAndCollectsTheirOutputs() throws Exception {
        Workflow wf = deploy("""
                [{"type": "loop", "id": "each", "items": "trigger.items", "do": "body", "next": "after"},
                 {"type": "sql", "id": "body", "sql": "INSERT INTO test_effects (event_key, node) VALUES (?, ?)",
                  "params": ["event.key", "'item ' + loop.item"]},
                 {"type": "sql", "id": "after", "sql": "INSERT INTO test_effects (event_key, node) VALUES (?, ?)",
                  "params": ["event.key", "'iterations ' + size(nodes.each.output.iterations)"]}]""");
        String key = wf.id() + "@loop";
        ObjectNode data = Json.MAPPER.createObjectNode();
        var items = data.putArray("items");
        for (int i = 0; i < 100; i++) {
            items.add(i);
        }
        Batch.Counts counts = new Batch.Counts();

        List<ProducerRecord<byte[], byte[]>> out = commit(List.of(event(wf, key, data)), counts);
        // 100 iterations are more node depths than a batch runs inline: the rest come as task
        // records, which are delivered twice here (a crash between the commits on every batch).
        List<TaskEnvelope> pending = tasks(out);
        assertThat(pending).as("the loop continues through the tasks topic").isNotEmpty();
        while (!pending.isEmpty()) {
            List<ConsumerRecord<byte[], byte[]>> twice = new ArrayList<>();
            for (TaskEnvelope t : pending) {
                twice.add(task(t));
                twice.add(task(t));
            }
            pending = tasks(commit(twice, counts));
        }

        assertThat(count("SELECT count(DISTINCT node) FROM test_effects WHERE event_key = '" + key + "' AND node LIKE 'item %'"))
                .isEqualTo(100);
        assertThat(count("SELECT count(*) FROM test_effects WHERE event_key = '" + key + "' AND node LIKE 'item %'"))
                .as("each iteration once").isEqualTo(100);
        assertThat(count("SELECT count(*) FROM test_effects WHERE event_key = '" + key + "' AND node = 'iterations 100'")).isEqualTo(1);
        assertThat(executionStatus(key)).isEqualTo("succeeded");
    }

    @Test
    void aCancelWhileAnExecutionWaitsOnADelayStopsTheNodesAfterIt() throws Exception {
        Workflow wf = deploy("[{\"type\": \"delay\", \"id\": \"wait\", \"ms\": 200, \"next\": \"after\"}, " + effect("after", null) + "]");
        String key = wf.id() + "@cancel-delay";
        commit(List.of(event(wf, key)), new Batch.Counts());
        store.connection().createStatement().execute("UPDATE executions SET status = 'cancelled', finished_at = now() "
                + "WHERE event_key = '" + key + "' AND finished_at IS NULL");
        store.commit();
        AtomicReference<List<TaskEnvelope>> due = new AtomicReference<>(List.of());
        await("the cancelled execution's timer fires").atMost(Duration.ofSeconds(30)).pollInSameThread()
                .pollInterval(Duration.ofMillis(50)).until(() -> !due.updateAndGet(f -> fireDueTimersUnchecked()).isEmpty());
        List<TaskEnvelope> fired = due.get();
        assertThat(fired).hasSize(1);
        Batch.Counts counts = new Batch.Counts();

        drain(commit(fired.stream().map(this::task).toList(), counts), counts);

        assertThat(counts.nodeRuns).isZero();
        assertThat(effects(key)).isZero();
        assertThat(executionStatus(key)).isEqualTo("cancelled");
    }

    // ---- http: claim → call with Idempotency-Key → record ------------------------------------

    /** A local receiver that echoes the request body; paths under /fail answer 503. */
    static LocalReceiver receiver() throws java.io.IOException {
        return LocalReceiver.start((key, calls, path, body) -> new LocalReceiver.Answer(path.startsWith("/fail") ? 503 : 200,
                "{\"value\": " + calls + ", \"echo\": " + (body.length == 0 ? "null" : new String(body, StandardCharsets.UTF_8)) + "}"));
    }

    Workflow deployHttp(String url, String onUnknownOutcome) throws Exception {
        return deploy("""
                [{"type": "http", "id": "call", "method": "POST", "url": "%s/orders/${trigger.n}", "body": {"order": "${trigger.n}"},
                  "timeoutMs": 2000, "onUnknownOutcome": "%s", "next": "save"},
                 {"type": "sql", "id": "save", "sql": "INSERT INTO test_effects (event_key, node) VALUES (?, ?)",
                  "params": ["event.key", "'answer ' + nodes.call.output.body.echo.order"]}]""".formatted(url, onUnknownOutcome));
    }

    /** Makes the claimed calls and records them, as EngineLoop does after the claiming batch committed. */
    List<Outcome> callAndRecord(BatchPipeline p, ExecutionStore s, List<Batch.PendingCall> calls) throws Exception {
        java.net.http.HttpClient client = java.net.http.HttpClient.newHttpClient();
        List<Outcome> outcomes = new ArrayList<>();
        while (!calls.isEmpty()) {
            List<BatchPipeline.CallResult> results = new ArrayList<>();
            for (Batch.PendingCall c : calls) {
                results.add(new BatchPipeline.CallResult(c, HttpCall.send(client, c.request(), c.idempotencyKey(), c.node().id()).join()));
            }
            List<Batch.PendingCall> following = new ArrayList<>();
            boolean careful = false;
            while (!results.isEmpty()) {
                try {
                    List<ProducerRecord<byte[], byte[]>> out = p.record(results, careful, new Batch.Counts());
                    List<BatchPipeline.CallResult> done = results.subList(0, p.appliedRecords());
                    recordSavepoints.add(s.savepointsTaken());
                    s.commit();
                    s.markLeasesFired(done.stream().map(r -> r.call().step().key()).toList());
                    s.commit();
                    outcomes.addAll(outcomes(out));
                    following.addAll(p.takeCalls());
                    results = results.subList(done.size(), results.size());
                } catch (BatchPipeline.ReplayCarefully e) {
                    s.rollbackQuietly();
                    careful = true;
                }
            }
            calls = following;
        }
        return outcomes;
    }

    /** Savepoints each transaction of {@link #callAndRecord} held when it committed. */
    private final List<Integer> recordSavepoints = new ArrayList<>();

    @Test
    void outcomesOfManyCallsRecordedCarefullyCommitInPartsUnderPostgresSubtransactionCache() throws Exception {
        try (LocalReceiver receiver = receiver()) {
            // The node after the call divides by the order number: order 0 fails its SQL, which
            // aborts the transaction and sends the recording down the careful path.
            Workflow wf = deploy("""
                    [{"type": "http", "id": "call", "method": "POST", "url": "%s/orders/${trigger.n}", "body": {"order": "${trigger.n}"},
                      "timeoutMs": 5000, "next": "save"},
                     {"type": "sql", "id": "save", "sql": "INSERT INTO test_effects (event_key, node) VALUES (?, 'answer ' || (10 / ?::int))",
                      "params": ["event.key", "trigger.n"]}]""".formatted(receiver.url()));
            List<ConsumerRecord<byte[], byte[]>> events = new ArrayList<>();
            for (int i = 0; i < 120; i++) {
                events.add(event(wf, wf.id() + "@calls#" + i, Json.MAPPER.createObjectNode().put("n", i == 77 ? 0 : i + 1)));
            }
            commit(events, new Batch.Counts());
            List<Batch.PendingCall> calls = pipeline.takeCalls();
            assertThat(calls).hasSize(120);

            List<Outcome> outcomes = callAndRecord(pipeline, store, calls);

            assertThat(recordSavepoints).as("recorded in parts").hasSizeGreaterThan(2);
            assertThat(recordSavepoints).as("no transaction overflowed PostgreSQL's 64 cached subtransactions").allMatch(n -> n < 64);
            assertThat(outcomes).hasSize(120);
            for (int i = 0; i < 120; i++) {
                String key = wf.id() + "@calls#" + i;
                assertThat(executionStatus(key)).as(key).isEqualTo(i == 77 ? "failed" : "succeeded");
                assertThat(effects(key)).as(key).isEqualTo(i == 77 ? 0 : 1);
            }
            assertThat(receiver.callsByKey().values()).as("every call made once").hasSize(120).allMatch(n -> n == 1);
        }
    }

    @Test
    void anHttpNodeIsCalledOnceWithItsProcessedKeyAsIdempotencyKeyAndItsOutcomeRecorded() throws Exception {
        try (LocalReceiver receiver = receiver()) {
            Workflow wf = deployHttp(receiver.url(), "fail");
            String key = wf.id() + "@http";

            commit(List.of(event(wf, key, Json.MAPPER.createObjectNode().put("n", 42))), new Batch.Counts());
            assertThat(count("SELECT count(*) FROM processed_keys WHERE key = '" + key + "/call' AND status = 'started'"))
                    .as("the claim commits before the call").isEqualTo(1);
            List<Outcome> outcomes = callAndRecord(pipeline, store, pipeline.takeCalls());
            // The event delivered again (a crash between the commits): nothing is called again.
            commit(List.of(event(wf, key, Json.MAPPER.createObjectNode().put("n", 42))), new Batch.Counts());

            assertThat(pipeline.takeCalls()).isEmpty();
            assertThat(receiver.callsByKey()).containsExactly(Map.entry(key + "/call", 1));
            assertThat(receiver.callsWithoutKey()).isZero();
            assertThat(count("SELECT count(*) FROM test_effects WHERE event_key = '" + key + "' AND node = 'answer 42'")).isEqualTo(1);
            assertThat(executionStatus(key)).as(executionError(key)).isEqualTo("succeeded");
            assertThat(outcomes).extracting(Outcome::status).containsExactly("succeeded");
        }
    }

    /** The engine stopped between the call and its record: the call reached the receiver, nothing was recorded. */
    String callButNeverRecord(LocalReceiver receiver, Workflow wf, String key) throws Exception {
        commit(List.of(event(wf, key, Json.MAPPER.createObjectNode().put("n", 7))), new Batch.Counts());
        List<Batch.PendingCall> calls = pipeline.takeCalls();
        assertThat(calls).hasSize(1);
        HttpCall.send(java.net.http.HttpClient.newHttpClient(), calls.get(0).request(), calls.get(0).step().key(), "call").join();
        return calls.get(0).step().key();
    }

    /** The lease timer's delivery of the task, to an engine whose clock is past the lease. */
    List<Outcome> deliverAfterTheLease(Workflow wf, String key) throws Exception {
        TaskEnvelope t = new TaskEnvelope(key, executionId(key), wf.id(), wf.version(), "call", "", 0,
                Json.MAPPER.createObjectNode().put("n", 7), Map.of(), 0);
        Clock later = Clock.offset(Clock.systemUTC(), Duration.ofMillis(2000 + ApplyOutcome.DEFAULT_LEASE_GRACE_MS + 1000));
        BatchPipeline afterLease = new BatchPipeline(store, new WorkflowCache(new WorkflowStore(ds)), new NodeRunner(5_000, later),
                later, ClaimPolicy.ONCE, new PoisonAttempts(3));
        List<Outcome> outcomes = new ArrayList<>(outcomes(commit(afterLease, store, List.of(task(t)), new Batch.Counts())));
        outcomes.addAll(callAndRecord(afterLease, store, afterLease.takeCalls()));
        return outcomes;
    }

    @Test
    void aCallWhoseOutcomeWasNeverRecordedFailsAsOutcomeUnknownAndIsNotCalledAgain() throws Exception {
        try (LocalReceiver receiver = receiver()) {
            Workflow wf = deployHttp(receiver.url(), "fail");
            String key = wf.id() + "@unknown";
            String callKey = callButNeverRecord(receiver, wf, key);
            // Within the lease a redelivery waits: the call may still be in flight.
            TaskEnvelope t = new TaskEnvelope(key, executionId(key), wf.id(), wf.version(), "call", "", 0,
                    Json.MAPPER.createObjectNode().put("n", 7), Map.of(), 0);
            commit(List.of(task(t)), new Batch.Counts());
            assertThat(pipeline.takeCalls()).isEmpty();
            assertThat(executionStatus(key)).isEqualTo("running");

            List<Outcome> outcomes = deliverAfterTheLease(wf, key);

            assertThat(receiver.callsByKey()).containsExactly(Map.entry(callKey, 1));
            assertThat(receiver.callsWithoutKey()).isZero();
            assertThat(executionStatus(key)).isEqualTo("failed");
            assertThat(executionError(key)).contains("outcome unknown").contains(callKey).contains("onUnknownOutcome: fail");
            assertThat(outcomes).extracting(Outcome::status).containsExactly("failed");
            assertThat(effects(key)).isZero();
        }
    }

    @Test
    void aCallWhoseOutcomeWasNeverRecordedIsCalledAgainWithTheSameKeyUnderRetry() throws Exception {
        try (LocalReceiver receiver = receiver()) {
            Workflow wf = deployHttp(receiver.url(), "retry");
            String key = wf.id() + "@again";
            String callKey = callButNeverRecord(receiver, wf, key);

            deliverAfterTheLease(wf, key);

            assertThat(receiver.callsByKey()).as("called again, with the same key").containsExactly(Map.entry(callKey, 2));
            assertThat(receiver.callsWithoutKey()).isZero();
            assertThat(executionStatus(key)).as(executionError(key)).isEqualTo("succeeded");
            assertThat(count("SELECT count(*) FROM test_effects WHERE event_key = '" + key + "' AND node = 'answer 7'")).isEqualTo(1);
        }
    }

    @Test
    void aFailingCallIsRetriedAsANewAttemptWithItsOwnKey() throws Exception {
        try (LocalReceiver receiver = receiver()) {
            Workflow wf = deploy("""
                    [{"type": "http", "id": "call", "url": "%s/fail", "retry": {"attempts": 2, "backoffMs": 100, "jitter": 0}}]"""
                    .formatted(receiver.url()));
            String key = wf.id() + "@503";
            commit(List.of(event(wf, key)), new Batch.Counts());
            callAndRecord(pipeline, store, pipeline.takeCalls());
            List<TaskEnvelope> fired = awaitRetryAttempt(2);
            commit(fired.stream().map(this::task).toList(), new Batch.Counts());
            callAndRecord(pipeline, store, pipeline.takeCalls());

            assertThat(receiver.callsByKey()).containsOnlyKeys(key + "/call", key + "/call#2");
            assertThat(executionStatus(key)).isEqualTo("failed");
            assertThat(executionError(key)).contains("answered 503").contains("attempt 2");
        }
    }

    @Test
    void anAttemptAfterACallThatTimedOutRepeatsItUnderTheSameKey() throws Exception {
        // The first call is answered too late: it reached the receiver, but the engine cannot know.
        // Its answer is held until the engine has recorded the call as timed out, not for a guessed time.
        CountDownLatch timedOut = new CountDownLatch(1);
        try (LocalReceiver receiver = LocalReceiver.start((k, calls, path, body) -> {
            if (calls == 1) {
                try {
                    timedOut.await(60, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            return new LocalReceiver.Answer(200, "{\"charged\": " + calls + "}");
        })) {
            Workflow wf = deploy("""
                    [{"type": "http", "id": "call", "url": "%s/charge", "timeoutMs": 300,
                      "retry": {"attempts": 3, "backoffMs": 100, "jitter": 0}}]""".formatted(receiver.url()));
            String key = wf.id() + "@timeout";
            commit(List.of(event(wf, key)), new Batch.Counts());
            try {
                callAndRecord(pipeline, store, pipeline.takeCalls());
            } finally {
                timedOut.countDown();
            }
            assertThat(receiver.callsByKey()).as("the first call reached the receiver").containsEntry(key + "/call", 1);
            List<TaskEnvelope> fired = awaitRetryAttempt(2);
            assertThat(fired).hasSize(1);
            assertThat(fired.get(0).processedKey()).as("the attempt runs under its own processed key").isEqualTo(key + "/call#2");
            commit(fired.stream().map(this::task).toList(), new Batch.Counts());
            callAndRecord(pipeline, store, pipeline.takeCalls());

            assertThat(receiver.callsByKey()).as("the repeated call carries the first call's key").containsOnlyKeys(key + "/call")
                    .containsEntry(key + "/call", 2);
            assertThat(executionStatus(key)).isEqualTo("succeeded");
        }
    }
}
