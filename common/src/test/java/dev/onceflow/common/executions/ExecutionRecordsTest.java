package dev.onceflow.common.executions;

import static org.assertj.core.api.Assertions.assertThat;

import dev.onceflow.common.Migrations;
import dev.onceflow.common.local.LocalPostgres;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.UUID;
import java.util.stream.Stream;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@link ExecutionRecords} on an embedded, migrated PostgreSQL. Each test uses workflow ids and
 * event keys of its own, so the tests share one database.
 */
class ExecutionRecordsTest {

    private static Path dir;
    private static LocalPostgres postgres;
    private static DataSource db;
    private static ExecutionRecords records;

    @BeforeAll
    static void start() throws IOException {
        dir = Files.createTempDirectory("onceflow-common-test");
        postgres = LocalPostgres.start(dir);
        db = postgres.dataSource();
        Migrations.apply(db);
        records = new ExecutionRecords(db);
    }

    @AfterAll
    static void stop() {
        if (postgres != null) {
            postgres.close();
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException | UncheckedIOException e) {
            // best effort
        }
    }

    @Test
    void listPagesNewestFirstAndTheCursorContinuesWhereThePageEnded() throws Exception {
        String wf = workflow();
        List<Long> ids = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            ids.add(execution(wf + "@" + (1000 + i), wf, "succeeded"));
        }
        ExecutionRecords.Filter filter = new ExecutionRecords.Filter(wf, null, null);

        Page first = records.list(filter, null, 2);
        Page second = records.list(filter, first.nextCursor(), 2);
        Page last = records.list(filter, second.nextCursor(), 2);

        assertThat(first.items()).extracting(ExecutionRow::id).containsExactly(ids.get(4), ids.get(3));
        assertThat(first.nextCursor()).isEqualTo(ids.get(3));
        assertThat(second.items()).extracting(ExecutionRow::id).containsExactly(ids.get(2), ids.get(1));
        assertThat(last.items()).extracting(ExecutionRow::id).containsExactly(ids.get(0));
        assertThat(last.nextCursor()).as("the last page has no cursor").isNull();
        assertThat(records.list(filter, null, 5).nextCursor()).as("a page that holds every row is the last").isNull();
        ExecutionRow row = last.items().get(0);
        assertThat(row.eventKey()).isEqualTo(wf + "@1000");
        assertThat(row.workflowId()).isEqualTo(wf);
        assertThat(row.workflowVersion()).isEqualTo(1);
        assertThat(row.status()).isEqualTo(ExecutionStatus.SUCCEEDED);
        assertThat(row.createdAt()).isNotNull();
        assertThat(row.finishedAt()).isNotNull();
    }

    @Test
    void listFiltersByStatusAndSince() throws Exception {
        String wf = workflow();
        long failed = execution(wf + "@1", wf, "failed");
        execution(wf + "@2", wf, "succeeded");
        long running = execution(wf + "@3", wf, "running");
        long failedToo = execution(wf + "@4", wf, "failed");

        assertThat(records.list(new ExecutionRecords.Filter(wf, ShownStatus.FAILED, null), null, 10).items())
                .extracting(ExecutionRow::id).containsExactly(failedToo, failed);
        assertThat(records.list(new ExecutionRecords.Filter(wf, ShownStatus.RUNNING, null), null, 10).items())
                .extracting(ExecutionRow::id).containsExactly(running);
        assertThat(records.list(new ExecutionRecords.Filter(wf, ShownStatus.CANCELLED, null), null, 10).items()).isEmpty();
        assertThat(records.list(new ExecutionRecords.Filter(wf, null, Instant.now().plusSeconds(3600)), null, 10).items())
                .as("none created after an hour from now").isEmpty();
        assertThat(records.list(new ExecutionRecords.Filter(wf, null, Instant.EPOCH), null, 10).items()).hasSize(4);
    }

    @Test
    void aRetryContinuesFromTheLastFailedNodeAfterItsHighestAttemptWithTheOutputsInFinishOrder() throws Exception {
        String wf = workflow();
        String key = wf + "@1";
        long id = execution(key, wf, "failed");
        nodeRun(id, key + "/a", "a", "", "succeeded", 1, "{\"x\": 1}", "2026-01-01T00:00:01Z");
        nodeRun(id, key + "/b", "b", "", "waiting", 1, "{\"x\": 2}", "2026-01-01T00:00:02Z");
        nodeRun(id, key + "/n", "n", "", "succeeded", 1, null, "2026-01-01T00:00:02Z");
        nodeRun(id, key + "/c#1", "c", "", "failed", 1, null, "2026-01-01T00:00:03Z");
        nodeRun(id, key + "/c#2", "c", "", "failed", 2, null, "2026-01-01T00:00:04Z");
        nodeRun(id, key + "/l/0", "l", "0", "succeeded", 1, "{\"x\": 3}", "2026-01-01T00:00:01Z");

        ExecutionRecords.FailedNode failed = records.failedNode(id).orElseThrow();

        assertThat(failed.nodeId()).isEqualTo("c");
        assertThat(failed.path()).isEmpty();
        assertThat(failed.attempt()).isEqualTo(2);
        assertThat(failed.outputs()).as("main path, succeeded or waiting, with an output, oldest first")
                .extracting(ExecutionRecords.Output::nodeId).containsExactly("a", "b");
        assertThat(failed.outputs().get(1).output().get("x").asInt()).isEqualTo(2);
        assertThat(records.find(key).orElseThrow().status()).as("reading it changes nothing").isEqualTo(ExecutionStatus.FAILED);
    }

    @Test
    void anExecutionThatFailedBeforeAnyNodeRanHasNoNodeToContinueFrom() throws Exception {
        String wf = workflow();
        long id = execution(wf + "@1", wf, "failed");

        assertThat(records.failedNode(id)).isEmpty();
    }

    @Test
    void theLastTickIsTheLargestTimestampOfAKeyWithoutDiscriminator() throws Exception {
        String wf = workflow();
        assertThat(records.lastTick(wf)).isEmpty();
        execution(wf + "@1736442000000", wf, "succeeded");
        execution(wf + "@1736445600000", wf, "running");
        execution(wf + "@1736449200000#evt-1", wf, "succeeded");

        assertThat(records.lastTick(wf)).contains(Instant.ofEpochMilli(1736445600000L));
    }

    @Test
    void anExecutionWaitingOnADelayOrARetryIsListedAndFilteredAsWaitingAndOnlyThere() throws Exception {
        String wf = workflow();
        long delayed = execution(wf + "@1", wf, "running");
        timer(delayed, wf + "@1/wait", "delay", false);
        long backingOff = execution(wf + "@2", wf, "running");
        timer(backingOff, wf + "@2/call", "retry", false);
        long calling = execution(wf + "@3", wf, "running");
        timer(calling, wf + "@3/call", "lease", false);
        long woke = execution(wf + "@4", wf, "running");
        timer(woke, wf + "@4/wait", "delay", true);
        long done = execution(wf + "@5", wf, "succeeded");
        timer(done, wf + "@5/wait", "delay", true);

        assertThat(records.list(new ExecutionRecords.Filter(wf, ShownStatus.WAITING, null), null, 10).items())
                .extracting(ExecutionRow::id).containsExactly(backingOff, delayed);
        assertThat(records.list(new ExecutionRecords.Filter(wf, ShownStatus.RUNNING, null), null, 10).items())
                .as("a call in flight (its lease) and a fired timer are running, not waiting")
                .extracting(ExecutionRow::id).containsExactly(woke, calling);
        assertThat(records.list(new ExecutionRecords.Filter(wf, null, null), null, 10).items())
                .extracting(r -> r.shown().word()).containsExactly("succeeded", "running", "running", "waiting", "waiting");
        assertThat(records.find(wf + "@1").orElseThrow().shown()).isEqualTo(ShownStatus.WAITING);
        assertThat(records.find(wf + "@1").orElseThrow().status()).as("the stored status is untouched").isEqualTo(ExecutionStatus.RUNNING);
    }

    @Test
    void nodeRunsComeInTheOrderTheyRanAndThoseOfACancelledExecutionThatWaitedShowCancelled() throws Exception {
        String wf = workflow();
        String key = wf + "@1";
        long id = execution(key, wf, "running");
        // Three nodes run inline in one transaction: the same start and finish; only `next` tells their order.
        String t = "2026-01-01T00:00:01Z";
        nodeRun(id, key + "/zeta", "zeta", "", "succeeded", 1, "{\"n\": 1}", t, t, "[\"mid\"]");
        nodeRun(id, key + "/mid", "mid", "", "succeeded", 1, null, t, t, "[\"alpha\"]");
        nodeRun(id, key + "/alpha", "alpha", "", "waiting", 1, null, t, null, "[\"after\"]");
        nodeRun(id, key + "/call", "call", "", "started", 1, null, "2026-01-01T00:00:00.500Z", null, null);

        assertThat(records.nodeRuns(id)).extracting(NodeRun::nodeId).containsExactly("call", "zeta", "mid", "alpha");
        assertThat(records.nodeRuns(id)).extracting(NodeRun::shown)
                .containsExactly(ShownStatus.RUNNING, ShownStatus.SUCCEEDED, ShownStatus.SUCCEEDED, ShownStatus.WAITING);
        assertThat(records.nodeRuns(id).get(1).next()).containsExactly("mid");

        // As the engine's finish leaves a cancelled execution (ADR 0025).
        try (var c = db.getConnection(); var st = c.prepareStatement("UPDATE executions SET status = 'cancelled', finished_at = now(), "
                + "error = 'cancelled in a test' WHERE event_key = ?")) {
            st.setString(1, key);
            st.executeUpdate();
        }

        assertThat(records.nodeRuns(id)).extracting(NodeRun::shown)
                .containsExactly(ShownStatus.CANCELLED, ShownStatus.SUCCEEDED, ShownStatus.SUCCEEDED, ShownStatus.CANCELLED);
        assertThat(records.nodeRuns(id)).as("the engine's rows keep what it wrote").extracting(NodeRun::status)
                .containsExactly(NodeStatus.STARTED, NodeStatus.SUCCEEDED, NodeStatus.SUCCEEDED, NodeStatus.WAITING);
        assertThat(stored(key + "/alpha")).isEqualTo("waiting");
    }

    @Test
    void countsByWorkflowSplitRunningFromWaitingAndCountEveryStatus() throws Exception {
        String wf = workflow();
        String other = workflow();
        execution(wf + "@1", wf, "succeeded");
        execution(wf + "@2", wf, "succeeded");
        execution(wf + "@3", wf, "failed");
        execution(wf + "@4", wf, "running");
        timer(execution(wf + "@5", wf, "running"), wf + "@5/wait", "delay", false);
        execution(wf + "@6", wf, "queued");
        execution(other + "@1", other, "cancelled");

        var counts = records.countsByWorkflow();

        assertThat(counts.get(wf)).containsExactly(java.util.Map.entry(ShownStatus.RUNNING, 1L), java.util.Map.entry(ShownStatus.WAITING, 1L),
                java.util.Map.entry(ShownStatus.SUCCEEDED, 2L), java.util.Map.entry(ShownStatus.FAILED, 1L),
                java.util.Map.entry(ShownStatus.CANCELLED, 0L), java.util.Map.entry(ShownStatus.QUEUED, 1L),
                java.util.Map.entry(ShownStatus.SUPERSEDED, 0L));
        assertThat(counts.get(other).get(ShownStatus.CANCELLED)).isEqualTo(1L);
        assertThat(counts.get(other).get(ShownStatus.SUCCEEDED)).isZero();
    }

    private static String workflow() {
        return "wf-" + UUID.randomUUID().toString().substring(0, 8);
    }

    private static long execution(String eventKey, String workflow, String status) throws Exception {
        try (Connection c = db.getConnection();
             PreparedStatement ins = c.prepareStatement("INSERT INTO executions (event_key, workflow_id, workflow_version, status, trigger, "
                     + "finished_at) VALUES (?, ?, 1, ?, '{}'::jsonb, CASE WHEN ? IN ('running', 'queued') THEN NULL ELSE now() END) RETURNING id")) {
            ins.setString(1, eventKey);
            ins.setString(2, workflow);
            ins.setString(3, status);
            ins.setString(4, status);
            try (ResultSet rs = ins.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    private static void nodeRun(long executionId, String key, String node, String path, String status, int attempt, String output,
                                String finishedAt) throws Exception {
        nodeRun(executionId, key, node, "", status, attempt, output, "2026-01-01T00:00:00Z", finishedAt, null);
        try (Connection c = db.getConnection(); PreparedStatement u = c.prepareStatement("UPDATE processed_keys SET path = ? WHERE key = ?")) {
            u.setString(1, path);
            u.setString(2, key);
            u.executeUpdate();
        }
    }

    private static void nodeRun(long executionId, String key, String node, String path, String status, int attempt, String output,
                                String startedAt, String finishedAt, String next) throws Exception {
        try (Connection c = db.getConnection();
             PreparedStatement ins = c.prepareStatement("INSERT INTO processed_keys (key, execution_id, node_id, path, status, attempt, "
                     + "output, started_at, finished_at, next) VALUES (?, ?, ?, ?, ?, ?, ?::jsonb, ?::timestamptz, ?::timestamptz, ?::jsonb)")) {
            ins.setString(1, key);
            ins.setLong(2, executionId);
            ins.setString(3, node);
            ins.setString(4, path);
            ins.setString(5, status);
            ins.setInt(6, attempt);
            ins.setString(7, output);
            ins.setString(8, startedAt);
            ins.setString(9, finishedAt);
            ins.setString(10, next);
            ins.executeUpdate();
        }
    }

    private static void timer(long executionId, String key, String kind, boolean fired) throws Exception {
        try (Connection c = db.getConnection();
             PreparedStatement ins = c.prepareStatement("INSERT INTO timers (key, execution_id, task_partition, kind, due_at, fired_at, tasks) "
                     + "VALUES (?, ?, 0, ?, now() + interval '1 hour', CASE WHEN ? THEN now() END, '[]'::jsonb)")) {
            ins.setString(1, key);
            ins.setLong(2, executionId);
            ins.setString(3, kind);
            ins.setBoolean(4, fired);
            ins.executeUpdate();
        }
    }

    private static String stored(String processedKey) throws Exception {
        try (Connection c = db.getConnection(); PreparedStatement q = c.prepareStatement("SELECT status FROM processed_keys WHERE key = ?")) {
            q.setString(1, processedKey);
            try (ResultSet rs = q.executeQuery()) {
                rs.next();
                return rs.getString(1);
            }
        }
    }
}
