package dev.onceflow.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.onceflow.common.EventEnvelope;
import dev.onceflow.common.Json;
import dev.onceflow.common.OperatorCommand;
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
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
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
 * Operator commands (ADR 0025) on a real PostgreSQL, through the batch pipeline as
 * {@link EngineLoop} drives it: command records on the tasks topic, applied in the batch, with
 * everything the batch produces captured and fed back as the next poll would return it. The
 * engine's clock is fixed, so the finish time it stamps is known; timers are due by PostgreSQL's clock.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class OperatorCommandsTest {

    static DataSource ds;
    /** This test's partition: its timers are not the other engine tests' (shared database). */
    static final int PARTITION = 43;
    /** The engine's clock, fixed an hour behind the wall clock: the finish times it stamps are known. */
    static final Instant NOW = Instant.now().minusSeconds(3600).truncatedTo(java.time.temporal.ChronoUnit.MILLIS);

    final AtomicLong offsets = new AtomicLong();
    Connection connection;
    ExecutionStore store;
    BatchPipeline pipeline;

    @BeforeAll
    static void database() throws Exception {
        ds = EngineTestDatabase.get();
        try (Connection c = ds.getConnection(); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE IF NOT EXISTS command_effects (seq bigserial PRIMARY KEY, event_key text NOT NULL, node text NOT NULL)");
        }
    }

    @BeforeEach
    void open() throws SQLException {
        connection = ds.getConnection();
        store = new ExecutionStore(connection);
        pipeline = EngineTestDatabase.pipeline(ds, store, Clock.fixed(NOW, ZoneOffset.UTC), ClaimPolicy.ONCE);
    }

    @AfterEach
    void close() throws SQLException {
        store.rollbackQuietly();
        store.close();
        try (Connection c = ds.getConnection(); Statement st = c.createStatement()) {
            st.execute("UPDATE timers SET fired_at = now() WHERE task_partition = " + PARTITION + " AND fired_at IS NULL");
        }
    }

    static Workflow deploy(String nodesJson) throws Exception {
        String id = "cmd-" + UUID.randomUUID().toString().substring(0, 8);
        return new WorkflowStore(ds).deploy(Workflows.parse(id + ".json", ("{\"id\": \"" + id + "\", \"trigger\": {\"type\": \"kafka\"}, "
                + "\"nodes\": " + nodesJson + "}").getBytes(StandardCharsets.UTF_8)));
    }

    static String effect(String id, String next) {
        return "{\"type\": \"sql\", \"id\": \"" + id + "\", \"sql\": \"INSERT INTO command_effects (event_key, node) VALUES (?, '"
                + id + "')\", \"params\": [\"event.key\"]" + (next == null ? "" : ", \"next\": \"" + next + "\"") + "}";
    }

    /** Waits a minute on a delay, then records its effect. */
    static final String WAIT_THEN_EFFECT = "[{\"type\": \"delay\", \"id\": \"wait\", \"ms\": 60000, \"next\": \"effect\"}, "
            + effect("effect", null) + "]";

    ConsumerRecord<byte[], byte[]> event(Workflow wf, String key, String orderKey) {
        EventEnvelope e = new EventEnvelope(key, wf.id(), wf.version(), 1_700_000_000_000L, Json.MAPPER.createObjectNode(),
                "test", 1_700_000_000_500L).withOrderKey(orderKey);
        return new ConsumerRecord<>(Topics.EVENTS, PARTITION, offsets.getAndIncrement(), e.partitionKey().getBytes(StandardCharsets.UTF_8),
                Json.bytes(e));
    }

    /** The command as the admin API publishes it, as the engine's consumer receives it. */
    ConsumerRecord<byte[], byte[]> delivered(OperatorCommand command, String partitionKey) {
        ProducerRecord<byte[], byte[]> sent = command.record(partitionKey);
        ConsumerRecord<byte[], byte[]> r = new ConsumerRecord<>(Topics.TASKS, PARTITION, offsets.getAndIncrement(), sent.key(), sent.value());
        sent.headers().forEach(h -> r.headers().add(h));
        return r;
    }

    List<ConsumerRecord<byte[], byte[]>> redeliver(List<ProducerRecord<byte[], byte[]>> out) {
        List<ConsumerRecord<byte[], byte[]>> records = new ArrayList<>();
        for (ProducerRecord<byte[], byte[]> r : out) {
            if (r.topic().equals(Topics.TASKS)) {
                records.add(new ConsumerRecord<>(Topics.TASKS, PARTITION, offsets.getAndIncrement(), r.key(), r.value()));
            }
        }
        return records;
    }

    /** What the last {@link #apply} counted. */
    Batch.Counts counts;

    /** The operator commands the last {@link #apply} counted, as kind → result → n. */
    Map<List<String>, Long> commands() {
        return counts.commands();
    }

    /** One batch, its PostgreSQL commit, and what follows its Kafka commit (start timers marked fired). */
    List<ProducerRecord<byte[], byte[]>> apply(List<ConsumerRecord<byte[], byte[]>> records) throws Exception {
        counts = new Batch.Counts();
        List<ProducerRecord<byte[], byte[]>> out = pipeline.apply(records, false, counts);
        store.commit();
        List<String> starts = pipeline.takeStartTimers();
        if (!starts.isEmpty()) {
            store.markStartsFired(starts);
            store.commit();
        }
        return out;
    }

    /** Fires the due timer {@code key} (tasks out, marked fired) and applies its tasks as the next poll. */
    List<ProducerRecord<byte[], byte[]>> fire(String key) throws Exception {
        try (Connection c = ds.getConnection(); Statement st = c.createStatement()) {
            // The delay node's time is the node runner's; its end comes by hand, by PostgreSQL's clock.
            st.executeUpdate("UPDATE timers SET due_at = now() - interval '1 second' WHERE key = '" + key + "' AND fired_at IS NULL");
        }
        List<ExecutionStore.DueTimer> due = store.dueTimers(java.util.Set.of(PARTITION), 10_000).stream()
                .filter(t -> t.key().equals(key)).toList();
        store.rollbackQuietly();
        assertThat(due).as("timer " + key + " is due").hasSize(1);
        List<ConsumerRecord<byte[], byte[]>> fired = new ArrayList<>();
        due.get(0).tasks().forEach(task -> fired.add(new ConsumerRecord<>(Topics.TASKS, PARTITION, offsets.getAndIncrement(),
                task.partitionKey().getBytes(StandardCharsets.UTF_8), Json.bytes(task))));
        store.markFired(due);
        store.commit();
        return apply(fired);
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

    static List<TaskEnvelope> tasks(List<ProducerRecord<byte[], byte[]>> out) throws Exception {
        List<TaskEnvelope> tasks = new ArrayList<>();
        for (ProducerRecord<byte[], byte[]> r : out) {
            if (r.topic().equals(Topics.TASKS)) {
                tasks.add(Json.read(r.value(), TaskEnvelope.class));
            }
        }
        return tasks;
    }

    static String row(String eventKey) throws SQLException {
        try (Connection c = ds.getConnection(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT status, (extract(epoch FROM finished_at) * 1000)::bigint, error FROM executions "
                     + "WHERE event_key = '" + eventKey + "'")) {
            return rs.next() ? rs.getString(1) + " " + rs.getString(2) + " " + rs.getString(3) : null;
        }
    }

    static String status(String eventKey) throws SQLException {
        String row = row(eventKey);
        return row == null ? null : row.split(" ")[0];
    }

    static long count(String sql) throws SQLException {
        try (Connection c = ds.getConnection(); Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    static long id(String eventKey) throws SQLException {
        return count("SELECT id FROM executions WHERE event_key = '" + eventKey + "'");
    }

    @Test
    void aCancelFinishesThroughTheCommonFinishWithOneOutcomeOnTheEnginesClockAndFreesTheLane() throws Exception {
        Workflow wf = deploy(WAIT_THEN_EFFECT);
        String p = wf.id() + "@";
        String lane = wf.id() + "/row-1";
        apply(List.of(event(wf, p + "1", lane), event(wf, p + "2", lane)));
        assertThat(List.of(status(p + "1"), status(p + "2"))).containsExactly("running", "queued");

        OperatorCommand cancel = OperatorCommand.cancel(p + "1", id(p + "1"), "wrong data", System.currentTimeMillis());
        List<ProducerRecord<byte[], byte[]>> out = apply(List.of(delivered(cancel, lane)));

        assertThat(row(p + "1")).as("cancelled at the engine's clock, the command named in its error")
                .isEqualTo("cancelled " + NOW.toEpochMilli() + " cancelled by operator (command " + cancel.id() + "): wrong data");
        assertThat(outcomes(out)).as("its outcome, in the batch's Kafka transaction").containsExactly(new Outcome(p + "1", id(p + "1"),
                wf.id(), wf.version(), "cancelled", cancel.cancelError(), NOW.toEpochMilli(), 1_700_000_000_500L));
        assertThat(status(p + "2")).as("the finish released the lane: the next one runs").isEqualTo("running");
        assertThat(tasks(out)).as("and its start task goes out in the same transaction, keyed by the lane")
                .extracting(TaskEnvelope::eventKey, TaskEnvelope::node, TaskEnvelope::orderKey)
                .containsExactly(org.assertj.core.groups.Tuple.tuple(p + "2", "wait", lane));
        Outcome first = outcomes(out).get(0);
        assertThat(commands()).as("counted for onceflow_engine_operator_commands_total")
                .isEqualTo(Map.of(List.of("cancel", "applied"), 1L));

        // The same command again: its Kafka transaction aborted (a crash between the commits), so its outcome was never seen.
        List<ProducerRecord<byte[], byte[]>> again = apply(List.of(delivered(cancel, lane)));
        assertThat(outcomes(again)).as("a redelivery produces the same outcome again, nothing new").containsExactly(first);
        assertThat(tasks(again)).as("and releases nothing twice").isEmpty();
        assertThat(row(p + "1")).as("the row is as the first delivery left it")
                .isEqualTo("cancelled " + NOW.toEpochMilli() + " " + cancel.cancelError());

        // Another operator's cancel of the same execution, validated before the first was applied.
        OperatorCommand second = OperatorCommand.cancel(p + "1", id(p + "1"), null, System.currentTimeMillis());
        assertThat(apply(List.of(delivered(second, lane)))).as("a second command finds it cancelled: nothing at all").isEmpty();
        assertThat(commands()).isEqualTo(Map.of(List.of("cancel", "absorbed"), 1L));

        // The cancelled execution's delay comes due: its timer delivers the follow-up, which runs nothing.
        List<ProducerRecord<byte[], byte[]>> fired = fire(p + "1/wait");
        assertThat(fired).isEmpty();
        assertThat(count("SELECT count(*) FROM command_effects WHERE event_key = '" + p + "1'")).isZero();
        assertThat(status(p + "1")).isEqualTo("cancelled");
    }

    @Test
    void aCancelOfAQueuedExecutionEndsItAndItNeverStarts() throws Exception {
        Workflow waits = deploy(WAIT_THEN_EFFECT);
        String q = waits.id() + "@";
        String qlane = waits.id() + "/k";
        apply(List.of(event(waits, q + "1", qlane), event(waits, q + "2", qlane)));
        assertThat(status(q + "2")).isEqualTo("queued");

        OperatorCommand cancel = OperatorCommand.cancel(q + "2", id(q + "2"), null, System.currentTimeMillis());
        List<ProducerRecord<byte[], byte[]>> out = apply(List.of(delivered(cancel, qlane)));
        assertThat(status(q + "2")).isEqualTo("cancelled");
        assertThat(outcomes(out)).extracting(Outcome::eventKey, Outcome::status)
                .containsExactly(org.assertj.core.groups.Tuple.tuple(q + "2", "cancelled"));
        assertThat(count("SELECT count(*) FROM timers WHERE key = '" + q + "2' AND kind = 'start'"))
                .as("its start timer is gone: nothing will start it").isZero();

        // 1 ends: its lane has nobody left to admit.
        out = fire(q + "1/wait");
        assertThat(status(q + "1")).isEqualTo("succeeded");
        assertThat(tasks(out)).isEmpty();
        assertThat(status(q + "2")).isEqualTo("cancelled");
    }

    @Test
    void aRetryRunsTheFailedNodeOnceAsItsNextAttemptAndARedeliveryRunsNothingAgain() throws Exception {
        String table = "cmd_fix_" + UUID.randomUUID().toString().substring(0, 8);
        Workflow wf = deploy("[" + effect("before", "write") + ", {\"type\": \"sql\", \"id\": \"write\", \"sql\": \"INSERT INTO "
                + table + " (event_key) VALUES (?)\", \"params\": [\"event.key\"], \"next\": \"after\"}, " + effect("after", null) + "]");
        String key = wf.id() + "@1";
        List<ProducerRecord<byte[], byte[]>> out;
        try {
            apply(List.of(event(wf, key, null)));
        } catch (BatchPipeline.ReplayCarefully e) {
            // The missing table aborted the fast path: EngineLoop replays the batch record by record.
            store.rollbackQuietly();
            pipeline.apply(List.of(event(wf, key, null)), true, new Batch.Counts());
            store.commit();
        }
        assertThat(status(key)).isEqualTo("failed");
        try (Connection c = ds.getConnection(); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE " + table + " (event_key text)"); // the fix
        }

        OperatorCommand retry = OperatorCommand.retry(key, id(key), "write", 2, System.currentTimeMillis());
        out = apply(List.of(delivered(retry, key)));
        assertThat(status(key)).as("set running and run inline to its end in the command's batch").isEqualTo("succeeded");
        assertThat(outcomes(out)).extracting(Outcome::status).containsExactly("succeeded");
        assertThat(count("SELECT count(*) FROM " + table)).isEqualTo(1);
        assertThat(count("SELECT count(*) FROM command_effects WHERE event_key = '" + key + "' AND node = 'before'"))
                .as("the node before the failure did not run again").isEqualTo(1);
        assertThat(count("SELECT count(*) FROM processed_keys WHERE key = '" + key + "/write#2' AND status = 'succeeded'")).isEqualTo(1);
        assertThat(commands()).isEqualTo(Map.of(List.of("retry", "applied"), 1L));
        Outcome first = outcomes(out).get(0);

        // Redelivered (its Kafka transaction aborted): the step replays from its processed key.
        out = apply(List.of(delivered(retry, key)));
        assertThat(outcomes(out)).as("the outcome again, same content").containsExactly(first);
        assertThat(count("SELECT count(*) FROM " + table)).isEqualTo(1);
        assertThat(count("SELECT count(*) FROM command_effects WHERE event_key = '" + key + "'")).isEqualTo(2);

        // A stale command (validated against the failure of attempt 1, applied after the retry succeeded): nothing.
        OperatorCommand stale = OperatorCommand.retry(key, id(key), "write", 3, System.currentTimeMillis());
        assertThat(apply(List.of(delivered(stale, key)))).isEmpty();
        assertThat(commands()).as("it succeeded since: absorbed").isEqualTo(Map.of(List.of("retry", "absorbed"), 1L));
    }

    @Test
    void aRetryThatFailsAgainRedeliveredProducesTheSameFailedOutcomeAndRunsNothing() throws Exception {
        String table = "cmd_missing_" + UUID.randomUUID().toString().substring(0, 8);
        Workflow wf = deploy("[{\"type\": \"sql\", \"id\": \"write\", \"sql\": \"INSERT INTO " + table
                + " (event_key) VALUES (?)\", \"params\": [\"event.key\"]}]");
        String key = wf.id() + "@1";
        carefully(List.of(event(wf, key, null)));
        assertThat(status(key)).isEqualTo("failed");

        // Retried without the fix: the node runs as attempt 2 and fails again.
        OperatorCommand retry = OperatorCommand.retry(key, id(key), "write", 2, System.currentTimeMillis());
        List<ProducerRecord<byte[], byte[]>> out = carefully(List.of(delivered(retry, key)));
        assertThat(status(key)).isEqualTo("failed");
        assertThat(outcomes(out)).extracting(Outcome::status).containsExactly("failed");
        String failedAgain = row(key);

        // Its Kafka transaction aborted: the command again. The failure's outcome again, the node not again.
        List<ProducerRecord<byte[], byte[]>> again = carefully(List.of(delivered(retry, key)));
        assertThat(outcomes(again)).containsExactly(outcomes(out).get(0));
        assertThat(row(key)).isEqualTo(failedAgain);
        assertThat(count("SELECT count(*) FROM processed_keys WHERE key LIKE '" + key + "/write%'")).isEqualTo(2);
    }

    /** A batch whose node's statement fails: as EngineLoop does, the fast path gives way to the careful replay. */
    List<ProducerRecord<byte[], byte[]>> carefully(List<ConsumerRecord<byte[], byte[]>> records) throws Exception {
        try {
            return apply(records);
        } catch (BatchPipeline.ReplayCarefully e) {
            store.rollbackQuietly();
            List<ProducerRecord<byte[], byte[]>> out = pipeline.apply(records, true, new Batch.Counts());
            store.commit();
            return out;
        }
    }

    @Test
    void aMalformedCommandIsDeadLetteredWithItsReasonAndTheRestOfTheBatchRuns() throws Exception {
        Workflow wf = deploy("[" + effect("effect", null) + "]");
        String key = wf.id() + "@1";
        ConsumerRecord<byte[], byte[]> bad = new ConsumerRecord<>(Topics.TASKS, PARTITION, offsets.getAndIncrement(),
                key.getBytes(StandardCharsets.UTF_8), "{\"id\": \"x\", \"kind\": \"pause\", \"eventKey\": \"k\", \"executionId\": 1, \"attempt\": 0, \"requestedAt\": 0}".getBytes(StandardCharsets.UTF_8));
        bad.headers().add(Topics.H_COMMAND, "pause".getBytes(StandardCharsets.UTF_8));

        List<ProducerRecord<byte[], byte[]>> out = apply(List.of(bad, event(wf, key, null)));

        List<ProducerRecord<byte[], byte[]>> dlq = out.stream().filter(r -> r.topic().equals(Topics.DLQ)).toList();
        assertThat(dlq).singleElement().satisfies(r -> {
            assertThat(new String(r.headers().lastHeader(Topics.H_ERROR_CLASS).value(), StandardCharsets.UTF_8)).isEqualTo("MALFORMED_JSON");
            assertThat(new String(r.headers().lastHeader(Topics.H_ERROR_MESSAGE).value(), StandardCharsets.UTF_8))
                    .contains("undecodable operator command").contains("kind must be 'cancel' or 'retry'");
            assertThat(r.headers().lastHeader(Topics.H_COMMAND)).as("still a command, for a redrive").isNotNull();
        });
        assertThat(status(key)).isEqualTo("succeeded");
    }
}
