package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.common.WorkflowStore;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.deploy.proof.ChildProcess;
import dev.onceflow.dispatcher.CaptureStatus;
import dev.onceflow.dispatcher.Dispatcher;
import dev.onceflow.engine.Engine;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Table triggers: row changes captured with Debezium (pgoutput) from a real PostgreSQL start one
 * execution per change and matching workflow, through a capture leader killed with SIGKILL.
 */
@Timeout(value = 6, unit = TimeUnit.MINUTES)
class RowChangeIT {

    // Workflows are deployed until the fleet closes: later tests of this JVM start dispatchers too, and must find no table to capture.
    @RegisterExtension
    final Fleet fleet = new Fleet(TestInfra.embedded());
    private final List<ChildProcess> children = new ArrayList<>();

    /**
     * Runs before the fleet closes (JUnit runs a test's @AfterEach before its extensions' afterEach). A clean
     * stop, not a kill: the child dispatcher leaves the Streams group, instead of staying in it as a dead member
     * until its session times out (10 s), which the next test class's first dispatcher would wait for.
     */
    @AfterEach
    void stopChildren() throws Exception {
        for (ChildProcess c : children) {
            c.stop(15);
        }
    }

    private static String newTable() {
        return "it_rows_" + Fleet.uniqueId("t").substring(2).replace('-', '_');
    }

    @Test
    void insertsUpdatesOfWatchedColumnsAndDeletesFireAsAsked() throws Exception {
        String table = newTable();
        Scripts.run(fleet.ds, "CREATE TABLE " + table + " (id bigint PRIMARY KEY, status text, note text)");
        Workflow onInsert = fleet.deployUntilClosed("""
                {"id": "%s", "trigger": {"type": "table", "table": "%s", "operations": ["insert", "delete"]}, "nodes": %s}"""
                .formatted(Fleet.uniqueId("rows"), table, Fleet.effectNode("seen")));
        Workflow onStatus = fleet.deployUntilClosed("""
                {"id": "%s", "trigger": {"type": "table", "table": "%s", "operations": ["update"], "changed": ["status"]},
                 "nodes": %s}""".formatted(Fleet.uniqueId("status"), table, Fleet.effectNode("status")));
        Workflow broken = fleet.deployUntilClosed("""
                {"id": "%s", "trigger": {"type": "table", "table": "%s", "operations": ["insert"], "condition": "row.customer.name == 'x'"},
                 "nodes": %s}""".formatted(Fleet.uniqueId("broken"), table, Fleet.effectNode("never")));
        fleet.startEngine(2);
        Dispatcher d = fleet.startDispatcher();
        await().atMost(Duration.ofSeconds(60)).until(() -> d.captureStatus().capturing("public." + table));
        Scripts.run(fleet.ds, "INSERT INTO " + table + " VALUES (1, 'new', 'a'), (2, 'new', 'b')");
        Scripts.run(fleet.ds, "UPDATE " + table + " SET note = 'changed' WHERE id = 1");   // unwatched column
        Scripts.run(fleet.ds, "UPDATE " + table + " SET status = 'paid' WHERE id = 2");    // watched column
        Scripts.run(fleet.ds, "DELETE FROM " + table + " WHERE id = 1");
        // Held for 3 s: a change that fired twice, or an unwatched update that fired, would show up by then.
        await().during(Duration.ofSeconds(3)).atMost(Duration.ofSeconds(60))
                .until(() -> fleet.executions(onInsert.id()) == 3 && fleet.executions(onStatus.id()) == 1);
        assertThat(fleet.executions(onInsert.id())).isEqualTo(3);
        assertThat(fleet.executions(onStatus.id())).isEqualTo(1);
        assertThat(fleet.duplicateEffects(onInsert.id())).isZero();
        // A condition that cannot be evaluated starts nothing, and each change it saw is kept in the DLQ with the reason.
        assertThat(fleet.executions(broken.id())).isZero();
        List<org.apache.kafka.clients.consumer.ConsumerRecord<byte[], byte[]>> dlq = fleet.dlq().stream()
                .filter(r -> r.key() != null && new String(r.key(), java.nio.charset.StandardCharsets.UTF_8).startsWith(broken.id() + "@"))
                .toList();
        assertThat(dlq).hasSize(2);
        assertThat(Fleet.header(dlq.get(0), dev.onceflow.common.Topics.H_ERROR_CLASS)).isEqualTo("ConditionFailed");
        assertThat(Fleet.header(dlq.get(0), dev.onceflow.common.Topics.H_ERROR_MESSAGE))
                .contains("table trigger condition of workflow '" + broken.id() + "'").contains("row.customer.name");
        assertThat(new String(dlq.get(0).value(), java.nio.charset.StandardCharsets.UTF_8)).contains("\"table\":\"public." + table);
    }

    @Test
    void aMissingTableIsReportedByNameAndCapturedOnceCreated() throws Exception {
        String table = newTable();
        Workflow wf = fleet.deployUntilClosed("""
                {"id": "%s", "trigger": {"type": "table", "table": "%s"}, "nodes": %s}"""
                .formatted(Fleet.uniqueId("later"), table, Fleet.effectNode("seen")));
        fleet.startEngine(1);
        // The missing table is checked again every second instead of every 10 s (dispatcher.table.recheck.ms).
        Dispatcher d = fleet.startDispatcher(Map.of(OnceflowConfig.TABLE_RECHECK_MS.name(), "1000"));
        await().atMost(Duration.ofSeconds(60)).until(() -> d.captureStatus().problem() != null);
        assertThat(d.captureStatus().problem()).contains("table public." + table + " does not exist").contains("'" + wf.id() + "'");
        assertThat(d.isRunning()).as("the dispatcher keeps running").isTrue();

        Scripts.run(fleet.ds, "CREATE TABLE " + table + " (id bigint PRIMARY KEY)");
        await().atMost(Duration.ofSeconds(60)).until(() -> d.captureStatus().problem() == null
                && d.captureStatus().capturing("public." + table));
        Scripts.run(fleet.ds, "INSERT INTO " + table + " VALUES (1)");
        await().atMost(Duration.ofSeconds(60)).until(() -> fleet.executions(wf.id()) == 1);
    }

    @Test
    void aWatchedTableWithoutPrimaryKeyKeepsAcceptingUpdatesAndDeletes() throws Exception {
        String table = newTable();
        Scripts.run(fleet.ds, "CREATE TABLE " + table + " (id bigint, note text)");
        Workflow wf = fleet.deployUntilClosed("""
                {"id": "%s", "trigger": {"type": "table", "table": "%s", "operations": ["insert", "delete"]}, "nodes": %s}"""
                .formatted(Fleet.uniqueId("no-pk"), table, Fleet.effectNode("seen")));
        fleet.startEngine(1);
        Dispatcher d = fleet.startDispatcher();
        await().atMost(Duration.ofSeconds(60)).until(() -> d.captureStatus().capturing("public." + table));
        Scripts.run(fleet.ds, "INSERT INTO " + table + " VALUES (1, 'a'), (2, 'b')");
        // Without a replica identity, PostgreSQL rejects these on a published table.
        Scripts.run(fleet.ds, "UPDATE " + table + " SET note = 'c' WHERE id = 1");
        Scripts.run(fleet.ds, "DELETE FROM " + table + " WHERE id = 2");
        await().during(Duration.ofSeconds(3)).atMost(Duration.ofSeconds(60)).until(() -> fleet.executions(wf.id()) == 3);
        assertThat(fleet.count("SELECT count(*) FROM executions WHERE workflow_id = ? AND event_key LIKE ?", wf.id(),
                "%:public." + table + ":")).as("no primary key: the position alone tells changes apart").isEqualTo(3);
    }

    @Test
    void aDatabaseWithoutLogicalWalIsReportedAndTheDispatcherKeepsRunning() throws Exception {
        Path dir = Files.createTempDirectory("onceflow-replica-pg-");
        try (io.zonky.test.db.postgres.embedded.EmbeddedPostgres plain = io.zonky.test.db.postgres.embedded.EmbeddedPostgres.builder()
                .setDataDirectory(dir.resolve("data")).setCleanDataDirectory(true)
                .setOverrideWorkingDirectory(dir.resolve("work").toFile())
                .setServerConfig("wal_level", "replica").start()) {
            String table = newTable();
            Scripts.run(plain.getPostgresDatabase(), "CREATE TABLE " + table + " (id bigint PRIMARY KEY)");
            fleet.deployUntilClosed("""
                    {"id": "%s", "trigger": {"type": "table", "table": "%s"}, "nodes": %s}"""
                    .formatted(Fleet.uniqueId("no-wal"), table, Fleet.effectNode("seen")));
            OnceflowConfig config = fleet.config(1).with(Map.of(
                    OnceflowConfig.TABLE_DB_URL.name(), plain.getJdbcUrl("postgres", "postgres"),
                    OnceflowConfig.TABLE_SLOT.name(), "no_wal_test"));
            dev.onceflow.dispatcher.StoreCatalog catalog = new dev.onceflow.dispatcher.StoreCatalog(new WorkflowStore(fleet.ds), config);
            Dispatcher d = new Dispatcher(config, catalog, fleet.ds);
            try {
                d.start();
                await().atMost(Duration.ofSeconds(60)).until(() -> d.captureStatus().problem() != null);
                assertThat(d.captureStatus().problem()).contains("wal_level=replica")
                        .contains("table triggers need wal_level=logical").contains("public." + table);
                assertThat(d.captureStatus().tables()).isEmpty();
                await().atMost(Duration.ofSeconds(60)).until(d::isRunning);
            } finally {
                d.close();
                catalog.close();
            }
        }
    }

    /**
     * The issue's guarantee test: 10,000 rows inserted in transactions of mixed sizes while the
     * dispatcher leading the capture — a separate JVM — is killed with SIGKILL. A standby takes
     * over and replays from the last stored position; the replayed changes carry the same event
     * keys, so there is exactly one execution and one effect per row.
     */
    @Test
    void tenThousandRowsRunOnceEachThroughACaptureLeaderKill() throws Exception {
        String table = newTable();
        Scripts.run(fleet.ds, "CREATE TABLE " + table + " (id bigint PRIMARY KEY, batch int NOT NULL)");
        Workflow wf = fleet.deployUntilClosed("""
                {"id": "%s", "trigger": {"type": "table", "table": "%s", "operations": ["insert"]}, "nodes": %s}"""
                .formatted(Fleet.uniqueId("ten-k"), table, Fleet.effectNode("row")));
        Engine engine = fleet.startEngine(2);

        // The leader: a dispatcher in its own JVM that stores its position every 10 minutes. Debezium
        // stores it once after its first batch, so a warm-up row goes first; after it, the leader
        // never stores again and everything it published before the kill is read and published
        // again by the standby: the worst replay, made certain rather than left to timing.
        ChildProcess leader = childDispatcher("capture-leader", Map.of(OnceflowConfig.TABLE_OFFSET_FLUSH_MS.name(), "600000"));
        await().atMost(Duration.ofSeconds(90)).until(() -> leaderPid() == leader.pid()
                && fleet.count("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'onceflow' AND active") == 1);
        Scripts.run(fleet.ds, "INSERT INTO " + table + " (id, batch) VALUES (0, -1)");
        await().atMost(Duration.ofSeconds(60)).until(() -> fleet.executions(wf.id()) == 1);
        Dispatcher standby = fleet.startDispatcher();
        await().atMost(Duration.ofSeconds(60)).until(standby::isRunning);
        assertThat(standby.captureStatus().leading()).isFalse();

        int total = 10_000;
        AtomicInteger committed = new AtomicInteger();
        CountDownLatch killed = new CountDownLatch(1);
        Thread writer = new Thread(() -> insertRows(table, total, committed, killed), "row-writer");
        writer.start();
        await().atMost(Duration.ofSeconds(120)).until(() -> fleet.executions(wf.id()) >= 2_500);
        long killedAt = System.nanoTime();
        leader.kill9();
        killed.countDown(); // the writer's second half goes in after the kill
        long executionsAtKill = fleet.executions(wf.id());
        await().atMost(Duration.ofSeconds(60)).until(() -> standby.captureStatus().capturing("public." + table));
        long takeoverMs = (System.nanoTime() - killedAt) / 1_000_000;
        writer.join(TimeUnit.MINUTES.toMillis(3));
        assertThat(committed.get()).isEqualTo(total);
        leader.start(); // back, as a standby

        // The standby re-reads every change from the last stored position (Debezium first searches the
        // WAL for it, which takes seconds) and publishes its events again; only once it has, and the
        // counts then hold for 5 s, does "exactly once" mean anything.
        int rows = total + 1; // with the warm-up row
        await().atMost(Duration.ofSeconds(180)).until(() -> standby.captureStatus().changes() >= total
                && fleet.executions(wf.id()) >= rows);
        await().during(Duration.ofSeconds(5)).atMost(Duration.ofSeconds(30)).until(() -> fleet.executions(wf.id()) == rows
                && fleet.effects(wf.id()) == rows);
        CaptureStatus status = standby.captureStatus();
        long absorbed = standby.metrics().deduplicated() + engine.metrics().duplicateEvents();
        System.out.printf("ten-k: executions at kill %d, takeover %d ms, standby read %d changes, published %d events, "
                + "repeats absorbed (seen by this JVM) %d%n", executionsAtKill, takeoverMs, status.changes(), status.events(), absorbed);
        assertThat(fleet.executions(wf.id())).isEqualTo(rows);
        assertThat(fleet.effects(wf.id())).isEqualTo(rows);
        assertThat(fleet.duplicateEffects(wf.id())).isZero();
        assertThat(fleet.count("SELECT count(DISTINCT (trigger->'row'->>'id')) FROM executions WHERE workflow_id = ?", wf.id()))
                .as("every row has its own execution").isEqualTo(rows);
        assertThat(status.leading()).as("the standby took over").isTrue();
        assertThat(executionsAtKill).as("the leader had published events before it was killed").isGreaterThan(1);
        assertThat(status.changes()).as("the standby replayed every change, including those the leader had published")
                .isGreaterThanOrEqualTo(total);
    }

    /**
     * Inserts {@code total} rows in transactions of 1 to 500 rows, counting committed rows; past half
     * of them it waits for {@code killed}, so the kill lands mid-stream: rows written before it, read
     * by the leader, and rows written after it, for the standby alone.
     */
    private void insertRows(String table, int total, AtomicInteger committed, CountDownLatch killed) {
        int[] sizes = {1, 7, 50, 3, 200, 13, 500, 1, 90, 31};
        try (Connection c = fleet.ds.getConnection();
             PreparedStatement insert = c.prepareStatement("INSERT INTO " + table + " (id, batch) VALUES (?, ?)")) {
            c.setAutoCommit(false);
            int next = 0;
            for (int batch = 0; next < total; batch++) {
                int size = Math.min(sizes[batch % sizes.length], total - next);
                for (int i = 0; i < size; i++) {
                    insert.setLong(1, ++next); // ids 1..total
                    insert.setInt(2, batch);
                    insert.addBatch();
                }
                insert.executeBatch();
                c.commit();
                if (committed.addAndGet(size) >= total / 2 && killed.getCount() > 0
                        && !killed.await(3, TimeUnit.MINUTES)) {
                    throw new IllegalStateException("the leader was not killed within 3 minutes");
                }
            }
        } catch (Exception e) {
            throw new IllegalStateException("row writer failed after " + committed.get() + " rows", e);
        }
    }

    /** A dispatcher in its own JVM on the test's broker and database. */
    private ChildProcess childDispatcher(String name, Map<String, String> extra) throws Exception {
        Map<String, String> env = fleet.config(1).with(extra).environment();
        Path logs = Files.createDirectories(Path.of("target", "rowchange-it"));
        ChildProcess child = new ChildProcess(name, ChildProcess.java("384m", Onceflow.class.getName(), List.of("dispatcher")), env, logs);
        children.add(child);
        child.start();
        return child;
    }

    /** The OS pid of the dispatcher holding the capture lock, or -1. */
    private long leaderPid() throws Exception {
        try (Connection c = fleet.ds.getConnection(); PreparedStatement q = c.prepareStatement(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                        + "WHERE l.locktype = 'advisory' AND l.granted AND a.application_name LIKE 'onceflow-capture:%'")) {
            try (java.sql.ResultSet rs = q.executeQuery()) {
                return rs.next() ? Long.parseLong(rs.getString(1).substring("onceflow-capture:".length())) : -1;
            }
        }
    }
}
