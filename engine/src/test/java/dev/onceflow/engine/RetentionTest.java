package dev.onceflow.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.onceflow.common.EventEnvelope;
import dev.onceflow.common.Json;
import dev.onceflow.common.Topics;
import dev.onceflow.common.WorkflowStore;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.common.workflow.Workflows;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import javax.sql.DataSource;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Retention (ADR 0015) on a real PostgreSQL, in a database of its own (a pass removes every
 * finished execution past its time, whoever's it is): what is removed and what is kept, the
 * dedupe horizon seen from the engine's own pipeline, batches, and runners that never wait on
 * engines nor on each other. Times are relative to PostgreSQL's {@code now()}: an execution
 * "finished 2 days ago" against a history of 1 day.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class RetentionTest {

    static final long DAY = 86_400_000L;
    static final RetentionSettings ONE_DAY_TEN_DAYS = new RetentionSettings(DAY, 10 * DAY, 100, 60_000);

    static DataSource ds;
    final AtomicLong offsets = new AtomicLong();

    @BeforeAll
    static void database() throws Exception {
        ds = EngineTestDatabase.newDatabase("retention");
    }

    @BeforeEach
    void empty() throws SQLException {
        sql(ds, "TRUNCATE executions, retired_event_keys, test_effects CASCADE");
    }

    @Test
    void removesTheHistoryOfExecutionsFinishedBeforeTheRetentionAndNothingElse() throws Exception {
        List<Long> old = new ArrayList<>();
        for (String status : new String[] {"succeeded", "failed", "cancelled"}) {
            long id = execution(ds, "old-" + status + "@1", status, "2 days");
            history(ds, id, "old-" + status + "@1");
            old.add(id);
        }
        long running = execution(ds, "running@1", "running", null); // created 30 days ago, never finished
        history(ds, running, "running@1");
        long recent = execution(ds, "recent@1", "succeeded", "1 hour");
        history(ds, recent, "recent@1");
        EngineMetrics metrics = new EngineMetrics();

        Retention.Pass pass = runOnce(ONE_DAY_TEN_DAYS, metrics);

        assertThat((Throwable) pass.failure()).isNull();
        assertThat(pass.executionsRemoved()).isEqualTo(3);
        assertThat(pass.keysRetired()).isEqualTo(3);
        assertThat(metrics.executionsRemoved()).isEqualTo(3);
        assertThat(metrics.eventKeysRetired()).isEqualTo(3);
        assertThat(metrics.eventKeysExpired()).isZero();
        assertThat(strings(ds, "SELECT event_key FROM executions ORDER BY event_key")).containsExactly("recent@1", "running@1");
        for (String table : new String[] {"processed_keys", "timers", "branch_arrivals"}) {
            assertThat(count(ds, "SELECT count(*) FROM " + table + " WHERE execution_id = ANY(ARRAY" + old + "::bigint[])"))
                    .as(table + " of removed executions").isZero();
            assertThat(count(ds, "SELECT count(*) FROM " + table + " WHERE execution_id IN (" + running + ", " + recent + ")"))
                    .as(table + " of kept executions").isEqualTo(4);
        }
        assertThat(strings(ds, "SELECT event_key FROM retired_event_keys ORDER BY event_key"))
                .containsExactly("old-cancelled@1", "old-failed@1", "old-succeeded@1");
        assertThat(count(ds, "SELECT count(*) FROM retired_event_keys WHERE finished_at NOT BETWEEN now() - interval '2 days 1 minute' "
                + "AND now() - interval '2 days' + interval '1 minute'")).as("a key keeps its execution's finish time").isZero();
    }

    @Test
    void retiredKeysExpireAtTheHorizonCountedFromTheFinish() throws Exception {
        long inside = execution(ds, "inside@1", "succeeded", "2 days");
        execution(ds, "beyond@1", "succeeded", "12 days"); // past the 10-day horizon already: removed, not retired
        history(ds, inside, "inside@1");
        EngineMetrics metrics = new EngineMetrics();

        Retention.Pass first = runOnce(ONE_DAY_TEN_DAYS, metrics);

        assertThat(first.executionsRemoved()).isEqualTo(2);
        assertThat(first.keysRetired()).isEqualTo(1);
        assertThat(strings(ds, "SELECT event_key FROM retired_event_keys")).containsExactly("inside@1");

        // The same key, its horizon now 36 h: finished 2 days ago, it is past it.
        Retention.Pass second = runOnce(new RetentionSettings(DAY, 36 * 3_600_000L, 100, 60_000), metrics);

        assertThat(second.keysExpired()).isEqualTo(1);
        assertThat(metrics.eventKeysExpired()).isEqualTo(1);
        assertThat(count(ds, "SELECT count(*) FROM retired_event_keys")).isZero();
    }

    @Test
    void aDuplicateOfARemovedExecutionIsAbsorbedUntilTheHorizonAndAfterItStartsANewExecution() throws Exception {
        Workflow wf = deploy(ds);
        String key = wf.id() + "@1700000000000#a";
        try (ExecutionStore store = new ExecutionStore(ds.getConnection())) {
            BatchPipeline pipeline = pipeline(ds, store);
            Batch.Counts first = new Batch.Counts();
            PipelineTest.commit(pipeline, store, List.of(event(wf, key)), first);
            assertThat(first.events).isEqualTo(1);
            assertThat(effects(ds, key)).isEqualTo(1);

            sql(ds, "UPDATE executions SET finished_at = now() - interval '2 days' WHERE event_key = '" + key + "'");
            assertThat(runOnce(ONE_DAY_TEN_DAYS, new EngineMetrics()).executionsRemoved()).isEqualTo(1);
            assertThat(count(ds, "SELECT count(*) FROM processed_keys WHERE key LIKE '" + key + "/%'")).isZero();

            // Within the horizon, by the batch path and by the careful (record by record) path.
            for (boolean careful : new boolean[] {false, true}) {
                Batch.Counts again = new Batch.Counts();
                List<?> out = pipeline.apply(List.of(event(wf, key)), careful, again);
                store.commit();
                assertThat(again.events).as("careful " + careful).isZero();
                assertThat(again.duplicateEvents).as("careful " + careful).isEqualTo(1);
                assertThat(again.nodeRuns).as("careful " + careful).isZero();
                assertThat(out).as("careful " + careful).isEmpty();
                assertThat(count(ds, "SELECT count(*) FROM executions WHERE event_key = '" + key + "'")).isZero();
                assertThat(effects(ds, key)).as("careful " + careful).isEqualTo(1);
            }

            // Past the horizon the key is gone, and a record with it is a new event.
            sql(ds, "UPDATE retired_event_keys SET finished_at = now() - interval '11 days' WHERE event_key = '" + key + "'");
            assertThat(runOnce(ONE_DAY_TEN_DAYS, new EngineMetrics()).keysExpired()).isEqualTo(1);
            Batch.Counts after = new Batch.Counts();
            PipelineTest.commit(pipeline, store, List.of(event(wf, key)), after);
            assertThat(after.events).isEqualTo(1);
            assertThat(effects(ds, key)).isEqualTo(2);
        }
    }

    @Test
    void removesInBatchesOfTheConfiguredSizeEachItsOwnTransaction() throws Exception {
        for (int i = 0; i < 5; i++) {
            history(ds, execution(ds, "batch-" + i + "@1", "succeeded", "2 days"), "batch-" + i + "@1");
        }
        Retention.Pass pass = runOnce(new RetentionSettings(DAY, 10 * DAY, 2, 60_000), new EngineMetrics());

        assertThat(pass.executionsRemoved()).isEqualTo(5);
        assertThat(pass.transactions()).as("removal 2 + 2 + 1, then one expiry of keys and one of limits").isEqualTo(5);
        assertThat(count(ds, "SELECT count(*) FROM executions")).isZero();
    }

    @Test
    void deletesRateBucketsAndDebounceWindowsThatMeanNothingAnyMore() throws Exception {
        sql(ds, "INSERT INTO rate_buckets (bucket, tat) VALUES ('w:spent', now() - interval '2 minutes'), "
                + "('w:busy', now() + interval '1 minute')");
        sql(ds, "INSERT INTO debounce_windows (ordering_key, execution_id, event_key, until) VALUES "
                + "('wf/closed', 1, 'wf@1', now() - interval '2 minutes'), ('wf/open', 2, 'wf@2', now() + interval '1 minute')");

        runOnce(ONE_DAY_TEN_DAYS, new EngineMetrics());

        assertThat(count(ds, "SELECT count(*) FROM rate_buckets WHERE bucket IN ('w:spent', 'w:busy')"))
                .as("a bucket whose next start is past is full: the same as no row").isEqualTo(1);
        assertThat(count(ds, "SELECT count(*) FROM rate_buckets WHERE bucket = 'w:busy'")).isEqualTo(1);
        assertThat(count(ds, "SELECT count(*) FROM debounce_windows WHERE ordering_key IN ('wf/closed', 'wf/open')")).isEqualTo(1);
        assertThat(count(ds, "SELECT count(*) FROM debounce_windows WHERE ordering_key = 'wf/open'")).isEqualTo(1);
    }

    @Test
    void skipsAnExecutionAnEngineHoldsInsteadOfWaitingForIt() throws Exception {
        long held = execution(ds, "held@1", "succeeded", "2 days");
        execution(ds, "free@1", "succeeded", "2 days");
        try (Connection engine = ds.getConnection()) {
            engine.setAutoCommit(false);
            // What a batch does to the executions it advances (ExecutionStore.lockStates), open until it commits.
            sql(engine, "SELECT id FROM executions WHERE id = " + held + " FOR SHARE");

            Retention.Pass pass = runOnce(ONE_DAY_TEN_DAYS, new EngineMetrics());

            assertThat((Throwable) pass.failure()).as("no wait, so no lock timeout").isNull();
            assertThat(pass.executionsRemoved()).isEqualTo(1);
            assertThat(strings(ds, "SELECT event_key FROM executions")).containsExactly("held@1");
            engine.commit();
        }
        assertThat(runOnce(ONE_DAY_TEN_DAYS, new EngineMetrics()).executionsRemoved()).isEqualTo(1);
        assertThat(count(ds, "SELECT count(*) FROM executions")).isZero();
    }

    @Test
    void givesWayToALockHeldLongerThanItsTimeoutAndRemovesTheRowAtTheNextPass() throws Exception {
        long id = execution(ds, "locked@1", "succeeded", "2 days");
        history(ds, id, "locked@1");
        try (Connection other = ds.getConnection()) {
            other.setAutoCommit(false);
            sql(other, "UPDATE processed_keys SET error = 'held' WHERE key = 'locked@1/a'"); // a row the delete cascades to

            long began = System.nanoTime();
            Retention.Pass pass = runOnce(ONE_DAY_TEN_DAYS, new EngineMetrics());
            long ms = (System.nanoTime() - began) / 1_000_000;

            assertThat((Throwable) pass.failure()).isNotNull();
            assertThat(pass.failure().getSQLState()).as("lock_not_available").isEqualTo("55P03");
            assertThat(ms).as("gave way after about " + RetentionStore.LOCK_TIMEOUT_MS + " ms").isLessThan(20_000);
            assertThat(pass.executionsRemoved()).isZero();
            assertThat(count(ds, "SELECT count(*) FROM executions WHERE id = " + id)).isEqualTo(1);
            assertThat(count(ds, "SELECT count(*) FROM retired_event_keys")).as("rolled back with the delete").isZero();
            other.rollback();
        }
        assertThat(runOnce(ONE_DAY_TEN_DAYS, new EngineMetrics()).executionsRemoved()).isEqualTo(1);
        assertThat(count(ds, "SELECT count(*) FROM processed_keys WHERE execution_id = " + id)).isZero();
    }

    @Test
    void twoRunnersTogetherRemoveEachExecutionOnceWithoutWaitingOnEachOther() throws Exception {
        int n = 1000;
        sql(ds, "INSERT INTO executions (event_key, workflow_id, workflow_version, status, trigger, created_at, finished_at) "
                + "SELECT 'pair-' || g || '@1', 'ret-test', 1, 'succeeded', '{}', now() - interval '3 days', "
                + "now() - interval '2 days' - g * interval '1 ms' FROM generate_series(1, " + n + ") g");
        sql(ds, "INSERT INTO processed_keys (key, execution_id, node_id, status) SELECT event_key || '/a', id, 'a', 'succeeded' "
                + "FROM executions");
        RetentionSettings small = new RetentionSettings(DAY, 10 * DAY, 5, 60_000);
        EngineMetrics a = new EngineMetrics();
        EngineMetrics b = new EngineMetrics();
        List<Retention.Pass> passes = java.util.Collections.synchronizedList(new ArrayList<>());
        try (Retention one = new Retention(small, ds, a); Retention two = new Retention(small, ds, b)) {
            while (count(ds, "SELECT count(*) FROM executions") > 0) {
                CompletableFuture<Void> x = CompletableFuture.runAsync(() -> passes.add(one.runOnce()));
                CompletableFuture<Void> y = CompletableFuture.runAsync(() -> passes.add(two.runOnce()));
                CompletableFuture.allOf(x, y).get(2, TimeUnit.MINUTES);
            }
        }
        assertThat(passes).allSatisfy(p -> assertThat((Throwable) p.failure()).isNull());
        assertThat(a.executionsRemoved() + b.executionsRemoved()).as("each removal counted once").isEqualTo(n);
        assertThat(a.eventKeysRetired() + b.eventKeysRetired()).isEqualTo(n);
        assertThat(count(ds, "SELECT count(*) FROM retired_event_keys")).isEqualTo(n);
        assertThat(count(ds, "SELECT count(*) FROM processed_keys")).isZero();
        assertThat(a.executionsRemoved()).as("both runners did some of the work").isPositive();
        assertThat(b.executionsRemoved()).as("both runners did some of the work").isPositive();
    }

    // --- helpers, shared with RetentionRaceTest ---

    static Retention.Pass runOnce(RetentionSettings settings, EngineMetrics metrics) {
        try (Retention r = new Retention(settings, ds, metrics)) {
            return r.runOnce();
        }
    }

    /** An execution created 30 days ago, finished {@code finishedAgo} (a PostgreSQL interval) ago, or running when null. */
    static long execution(DataSource ds, String key, String status, String finishedAgo) throws SQLException {
        try (Connection c = ds.getConnection(); PreparedStatement ps = c.prepareStatement("INSERT INTO executions (event_key, "
                + "workflow_id, workflow_version, status, trigger, created_at, finished_at) VALUES (?, 'ret-test', 1, ?, '{}', "
                + "now() - interval '30 days', now() - CAST(? AS interval)) RETURNING id")) {
            ps.setString(1, key);
            ps.setString(2, status);
            ps.setString(3, finishedAgo);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    /** Two processed keys ({@code key/a}, {@code key/b}), a fired timer and a branch arrival of the execution. */
    static void history(DataSource ds, long id, String key) throws SQLException {
        sql(ds, "INSERT INTO processed_keys (key, execution_id, node_id, status) VALUES ('" + key + "/a', " + id
                + ", 'a', 'succeeded'), ('" + key + "/b', " + id + ", 'b', 'succeeded')");
        sql(ds, "INSERT INTO timers (key, execution_id, task_partition, kind, due_at, fired_at, tasks) VALUES ('" + key + "/b', "
                + id + ", 0, 'delay', now(), now(), '[]'), ('" + key + "/b', " + id + ", 0, 'lease', now(), now(), '[]')");
        sql(ds, "INSERT INTO branch_arrivals (owner_key, branch, execution_id) VALUES ('" + key + "/a', 0, " + id + "), ('" + key
                + "/a', 1, " + id + ")");
    }

    /** A workflow of one sql node that writes a test_effects row per run. */
    static Workflow deploy(DataSource ds) throws Exception {
        String id = "ret-" + UUID.randomUUID().toString().substring(0, 8);
        Workflow wf = Workflows.parse(id + ".json", ("{\"id\": \"" + id + "\", \"trigger\": {\"type\": \"kafka\"}, \"nodes\": ["
                + PipelineTest.effect("write", null) + "]}").getBytes(StandardCharsets.UTF_8));
        return new WorkflowStore(ds).deploy(wf);
    }

    static BatchPipeline pipeline(DataSource ds, ExecutionStore store) {
        return EngineTestDatabase.pipeline(ds, store, Clock.systemUTC(), ClaimPolicy.ONCE);
    }

    ConsumerRecord<byte[], byte[]> event(Workflow wf, String key) {
        EventEnvelope e = new EventEnvelope(key, wf.id(), wf.version(), 1_700_000_000_000L, Json.MAPPER.createObjectNode(),
                "test", 1_700_000_000_500L);
        return new ConsumerRecord<>(Topics.EVENTS, 0, offsets.getAndIncrement(), key.getBytes(StandardCharsets.UTF_8), Json.bytes(e));
    }

    static long effects(DataSource ds, String key) throws SQLException {
        return count(ds, "SELECT count(*) FROM test_effects WHERE event_key = '" + key + "'");
    }

    static void sql(DataSource ds, String sql) throws SQLException {
        try (Connection c = ds.getConnection(); Statement st = c.createStatement()) {
            st.execute(sql);
        }
    }

    static void sql(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement()) {
            st.execute(sql);
        }
    }

    static long count(DataSource ds, String sql) throws SQLException {
        try (Connection c = ds.getConnection(); Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    static List<String> strings(DataSource ds, String sql) throws SQLException {
        List<String> out = new ArrayList<>();
        try (Connection c = ds.getConnection(); Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            while (rs.next()) {
                out.add(rs.getString(1));
            }
        }
        return out;
    }
}
