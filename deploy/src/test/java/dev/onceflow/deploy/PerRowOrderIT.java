package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.deploy.proof.ChildProcess;
import dev.onceflow.engine.Engine;
import dev.onceflow.engine.EngineHooks;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Per-row order end to end (issue 19, ADRs 0020 and 0021): the changes of one table row run as
 * executions in commit order, each once, through crashes between the two commits, a kill of an
 * engine process mid-lane and the rebalances that follow.
 *
 * <p>Main run: 20 rows inserted (version 0), then 30 rounds of {@code version = version + 1}
 * over every row (so one row's changes are 20 transactions apart, spread over seconds), then 5
 * rows deleted; 625 transactions, each its own. A table-trigger workflow with the default
 * {@code order: "key"} records {@code (row id, version, op)} in an effect table whose
 * {@code bigserial} gives the order the effects committed in. Meanwhile:
 * <ul>
 *   <li>the in-process engine fails three of its batches after their PostgreSQL commit and before
 *   their Kafka transaction (as {@link CrashBetweenCommitsIT}): the batch is delivered again, and a
 *   lane's next execution, admitted in the lost Kafka transaction, is started by its start timer;
 *   <li>a second engine, its own JVM, halts ({@link Runtime#halt}, as a kill -9 ends it) between its
 *   two commits ({@code --halt-between-commits}); its partitions move to the first engine after the
 *   session timeout (a rebalance), and it is started again (another rebalance).
 * </ul>
 * Then: every change ran exactly once; per row the effects, in commit order, are insert 0, update
 * 1…30 and, for the deleted rows, the delete last; no execution is queued or unfinished.
 *
 * <p>Negative control, in the same run: a second table gets one row inserted and updated twice,
 * watched by two workflows that differ only in {@code order} and whose first change (version 0)
 * waits 10 s in a {@code delay} node. With {@code order: "none"} the updates run while the insert
 * waits, so its effects come out of order (the checker can see a reorder); with the default
 * {@code order: "key"} the updates wait in the lane behind the waiting insert. The reorder does
 * not depend on a race: it needs only the updates to run within 10 s of their commit, and the
 * engine kill is made after they ran. The main run's checker has also been seen to fail: before the
 * dispatcher gave table events their ordering key (ADR 0020), every change still ran once but row
 * 1's effects came as update 1, update 2, insert 0, update 4, update 3, …
 */
@Timeout(value = 6, unit = TimeUnit.MINUTES)
class PerRowOrderIT {

    private static final int ROWS = 20;
    private static final int UPDATES = 30;
    private static final int DELETES = 5;
    /** One transaction every this many ms: 625 transactions in about 12.5 s. */
    private static final long WRITE_EVERY_MS = 20;

    @RegisterExtension
    final Fleet fleet = new Fleet(TestInfra.embedded());
    private ChildProcess child;

    /** Runs before the fleet closes (JUnit runs a test's @AfterEach before its extensions' afterEach). */
    @AfterEach
    void killChild() throws Exception {
        if (child != null) {
            child.kill9();
        }
    }

    /** Fails the 3rd, 13th and 23rd batch that committed records to PostgreSQL, before its Kafka transaction. */
    static final class FailBetweenCommits implements EngineHooks {
        final AtomicInteger batches = new AtomicInteger();
        final AtomicInteger injected = new AtomicInteger();

        @Override
        public void afterDatabaseCommit(String worker, int records) {
            if (records > 0 && batches.incrementAndGet() % 10 == 3 && injected.get() < 3) {
                injected.incrementAndGet();
                throw new IllegalStateException("injected crash between the PostgreSQL and the Kafka commit");
            }
        }
    }

    @Test
    void eachRowsChangesRunOnceAndInCommitOrderThroughCrashes() throws Exception {
        String suffix = Fleet.uniqueId("o").substring(2).replace('-', '_');
        String rows = "order_rows_" + suffix;
        String effects = "order_effects_" + suffix;
        String ctlRows = "order_ctl_rows_" + suffix;
        String ctlEffects = "order_ctl_effects_" + suffix;
        // REPLICA IDENTITY FULL: a delete's trigger.row carries the row's last version, not only its id.
        Scripts.run(fleet.ds, """
                CREATE TABLE %1$s (id bigint PRIMARY KEY, version int NOT NULL);
                ALTER TABLE %1$s REPLICA IDENTITY FULL;
                CREATE TABLE %2$s (seq bigserial PRIMARY KEY, row_id bigint, version int, op text);
                CREATE TABLE %3$s (id bigint PRIMARY KEY, version int NOT NULL);
                CREATE TABLE %4$s (seq bigserial PRIMARY KEY, wf text, row_id bigint, version int, op text);
                """.formatted(rows, effects, ctlRows, ctlEffects));
        Workflow wf = fleet.deployUntilClosed("""
                {"id": "%s", "trigger": {"type": "table", "table": "%s"}, "nodes": [
                  {"type": "sql", "id": "record",
                   "sql": "INSERT INTO %s (row_id, version, op) VALUES (CAST(? AS bigint), CAST(? AS int), ?)",
                   "params": ["trigger.row.id", "trigger.row.version", "trigger.op"]}]}"""
                .formatted(Fleet.uniqueId("per-row"), rows, effects));
        Workflow ctlKey = fleet.deployUntilClosed(controlWorkflow(Fleet.uniqueId("ctl-key"), null, ctlRows, ctlEffects));
        Workflow ctlNone = fleet.deployUntilClosed(controlWorkflow(Fleet.uniqueId("ctl-none"), "none", ctlRows, ctlEffects));

        FailBetweenCommits hooks = new FailBetweenCommits();
        Engine engine = fleet.startEngine(2, hooks, false, 10);
        Path dir = Files.createDirectories(Path.of("target", "per-row-order-it"));
        Path haltTrigger = dir.resolve("halt-" + suffix);
        Files.deleteIfExists(haltTrigger);
        Map<String, String> env = fleet.config(1).with(Map.of(OnceflowConfig.ENGINE_MAX_POLL.name(), "10")).environment();
        child = new ChildProcess("engine-" + suffix, ChildProcess.java("384m", Onceflow.class.getName(),
                List.of("engine", "--halt-between-commits", haltTrigger.toString())), env, dir);
        child.start();
        var d = fleet.startDispatcher();
        long t0 = System.nanoTime();
        await().atMost(Duration.ofMinutes(2)).until(() -> d.captureStatus().capturing("public." + rows)
                && d.captureStatus().capturing("public." + ctlRows));
        fleet.awaitStableGroup(3); // two in-process workers and the child's one
        System.out.printf("per-row order: fleet ready after %d ms%n", (System.nanoTime() - t0) / 1_000_000);

        // The control's changes go first; the kill waits until order "none" has run its updates.
        Scripts.run(fleet.ds, "INSERT INTO " + ctlRows + " VALUES (1, 0)");
        Scripts.run(fleet.ds, "UPDATE " + ctlRows + " SET version = version + 1 WHERE id = 1");
        Scripts.run(fleet.ds, "UPDATE " + ctlRows + " SET version = version + 1 WHERE id = 1");

        List<String> writes = new ArrayList<>();
        for (int r = 1; r <= ROWS; r++) {
            writes.add("INSERT INTO " + rows + " VALUES (" + r + ", 0)");
        }
        for (int u = 0; u < UPDATES; u++) {
            for (int r = 1; r <= ROWS; r++) {
                writes.add("UPDATE " + rows + " SET version = version + 1 WHERE id = " + r);
            }
        }
        for (int r = 1; r <= DELETES; r++) {
            writes.add("DELETE FROM " + rows + " WHERE id = " + (r * 4)); // rows 4, 8, …, 20
        }
        AtomicInteger written = new AtomicInteger();
        AtomicReference<Throwable> writeFailure = new AtomicReference<>();
        ScheduledExecutorService writer = Executors.newSingleThreadScheduledExecutor(r -> new Thread(r, "row-writer"));
        try (Connection c = fleet.ds.getConnection()) {
            c.setAutoCommit(true); // one transaction per statement
            ScheduledFuture<?> task = writer.scheduleAtFixedRate(() -> {
                int i = written.get();
                if (i >= writes.size() || writeFailure.get() != null) {
                    return;
                }
                try (var st = c.createStatement()) {
                    st.executeUpdate(writes.get(i));
                    written.incrementAndGet();
                } catch (Throwable e) {
                    writeFailure.set(e);
                }
            }, 0, WRITE_EVERY_MS, TimeUnit.MILLISECONDS);

            await().atMost(Duration.ofMinutes(2)).until(() -> effectCount(ctlEffects, ctlNone.id()) >= 2 || writeFailure.get() != null);
            // Mid-stream, and mid-lane for every row: the next engine of the child to commit a batch halts between its commits.
            await().atMost(Duration.ofMinutes(2)).until(() -> written.get() >= writes.size() / 3 || writeFailure.get() != null);
            Files.writeString(haltTrigger, "halt");
            int writtenAtTrigger = written.get();
            long pid = child.pid();
            await().atMost(Duration.ofMinutes(2)).until(() -> !Files.exists(haltTrigger)
                    && ProcessHandle.of(pid).map(p -> !p.isAlive()).orElse(true));
            System.out.printf("per-row order: the child engine halted between its commits (asked after %d, seen after %d of %d writes)%n",
                    writtenAtTrigger, written.get(), writes.size());
            child.start(); // back, as an engine restarted after a crash
            await().atMost(Duration.ofMinutes(3)).until(() -> written.get() == writes.size() || writeFailure.get() != null);
            task.cancel(false);
        } finally {
            writer.shutdownNow();
        }
        assertThat(writeFailure.get()).as("the writer's failure").isNull();

        int changes = ROWS + ROWS * UPDATES + DELETES;
        await().atMost(Duration.ofMinutes(4)).pollInterval(Duration.ofMillis(500)).until(() -> fleet.finished(wf.id()) == changes
                && fleet.finished(ctlKey.id()) == 3 && fleet.finished(ctlNone.id()) == 3);
        // Held for 3 s: a change run twice (a redelivery after the count was reached) would show up by then.
        await().during(Duration.ofSeconds(3)).atMost(Duration.ofMinutes(1)).until(() -> fleet.executions(wf.id()) == changes
                && effectCount(effects, null) == changes);
        System.out.printf("per-row order: quiet %d ms after the fleet was ready; crashes between commits injected: %d; "
                        + "duplicate events/node runs absorbed by the in-process engine: %d/%d%n",
                (System.nanoTime() - t0) / 1_000_000, hooks.injected.get(), engine.metrics().duplicateEvents(),
                engine.metrics().duplicateNodeRuns());

        assertThat(hooks.injected.get()).as("crashes between the commits injected in-process").isGreaterThanOrEqualTo(1);
        // Every change once: the effects are exactly the expected (row, version, op) triples, no more, no fewer.
        assertThat(fleet.count("SELECT count(*) FROM (SELECT 1 FROM " + effects + " GROUP BY row_id, version, op HAVING count(*) > 1) d"))
                .as("(row, version, op) with more than one effect").isZero();
        assertThat(fleet.executions(wf.id())).isEqualTo(changes);
        assertThat(fleet.succeeded(wf.id())).isEqualTo(changes);

        // Per row, in commit order: insert 0, update 1..30, and the delete (with the last version) last.
        Map<Long, List<String>> byRow = new LinkedHashMap<>();
        try (Connection c = fleet.ds.getConnection(); PreparedStatement q = c.prepareStatement(
                "SELECT row_id, version, op FROM " + effects + " ORDER BY seq"); ResultSet rs = q.executeQuery()) {
            while (rs.next()) {
                byRow.computeIfAbsent(rs.getLong(1), k -> new ArrayList<>()).add(rs.getString(3) + " " + rs.getInt(2));
            }
        }
        assertThat(byRow.keySet()).hasSize(ROWS);
        for (long r = 1; r <= ROWS; r++) {
            List<String> expected = new ArrayList<>();
            expected.add("insert 0");
            for (int v = 1; v <= UPDATES; v++) {
                expected.add("update " + v);
            }
            if (r % 4 == 0) {
                expected.add("delete " + UPDATES);
            }
            assertThat(byRow.get(r)).as("row %d's effects in commit order", r).containsExactlyElementsOf(expected);
        }

        assertThat(fleet.count("SELECT count(*) FROM executions WHERE workflow_id = ? AND ordering_key IS DISTINCT FROM ? || '/public."
                + rows + "/' || (trigger->'row'->>'id')", wf.id(), wf.id()))
                .as("executions whose ordering key is not the row's (workflow/schema.table/pk, ADR 0020)").isZero();

        // The order came from the lanes, not from luck: changes arrived while their row's previous execution ran, and waited queued.
        long waited = fleet.count("SELECT count(DISTINCT t.execution_id) FROM timers t JOIN executions e ON e.id = t.execution_id "
                + "WHERE e.workflow_id = ? AND t.kind = 'start'", wf.id());
        System.out.printf("per-row order: %d of %d executions waited queued in their row's lane%n", waited, changes);
        assertThat(waited).as("executions that waited queued in their lane (a start timer)").isPositive();

        // Lanes drained: nothing queued, nothing unfinished.
        for (String id : List.of(wf.id(), ctlKey.id(), ctlNone.id())) {
            assertThat(fleet.count("SELECT count(*) FROM executions WHERE workflow_id = ? AND status = 'queued'", id))
                    .as("queued executions of %s", id).isZero();
            assertThat(fleet.count("SELECT count(*) FROM executions WHERE workflow_id = ? AND finished_at IS NULL", id))
                    .as("unfinished executions of %s", id).isZero();
        }

        // The control: the same waiting first change, ordered by key, and not.
        assertThat(controlVersions(ctlEffects, ctlKey.id())).as("order key: the updates waited for the insert").containsExactly(0, 1, 2);
        // Order none: the two updates (in either order: nothing orders them) overtook the waiting insert.
        List<Integer> none = controlVersions(ctlEffects, ctlNone.id());
        System.out.printf("per-row order: control versions in commit order: order key %s, order none %s%n",
                controlVersions(ctlEffects, ctlKey.id()), none);
        assertThat(none).containsExactlyInAnyOrder(0, 1, 2);
        assertThat(none.get(2)).as("order none: the insert's effect, which waited, came last: %s", none).isZero();
    }

    /** Version 0 waits 10 s before it records; later versions record at once. {@code order} null: the default. */
    private static String controlWorkflow(String id, String order, String table, String effects) {
        return """
                {"id": "%s", %s"trigger": {"type": "table", "table": "%s"}, "start": "first", "nodes": [
                  {"type": "condition", "id": "first", "if": "trigger.row.version == 0", "then": "wait", "else": "record"},
                  {"type": "delay", "id": "wait", "ms": 10000, "next": "record"},
                  {"type": "sql", "id": "record",
                   "sql": "INSERT INTO %s (wf, row_id, version, op) VALUES ('%s', CAST(? AS bigint), CAST(? AS int), ?)",
                   "params": ["trigger.row.id", "trigger.row.version", "trigger.op"]}]}"""
                .formatted(id, order == null ? "" : "\"order\": \"" + order + "\", ", table, effects, id);
    }

    private long effectCount(String table, String workflow) throws Exception {
        return workflow == null ? fleet.count("SELECT count(*) FROM " + table)
                : fleet.count("SELECT count(*) FROM " + table + " WHERE wf = ?", workflow);
    }

    private List<Integer> controlVersions(String table, String workflow) throws Exception {
        List<Integer> out = new ArrayList<>();
        try (Connection c = fleet.ds.getConnection(); PreparedStatement q = c.prepareStatement(
                "SELECT version FROM " + table + " WHERE wf = ? ORDER BY seq")) {
            q.setString(1, workflow);
            try (ResultSet rs = q.executeQuery()) {
                while (rs.next()) {
                    out.add(rs.getInt(1));
                }
            }
        }
        return out;
    }
}
