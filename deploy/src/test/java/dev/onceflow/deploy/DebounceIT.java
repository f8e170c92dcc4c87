package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.onceflow.common.executions.ExecutionRecords;
import dev.onceflow.common.executions.ExecutionRow;
import dev.onceflow.common.executions.ShownStatus;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.dispatcher.Dispatcher;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Debounce end to end on a table trigger (ADRs 0021 and 0022): 100 updates of one row, each its
 * own transaction, spread over about a second, captured by Debezium. A workflow with
 * {@code debounce: {ms: 3000, keep: "last"}} runs once, after the burst went quiet, with the last
 * version of the row; one with {@code keep: "first"} runs once at once, with the first. The 99
 * other changes of each are executions recorded {@code superseded}, as the admin API lists them.
 *
 * <p>Why 3 s for {@code keep: "last"}: a change splits the burst only if it reaches the engine more
 * than {@code ms} after the one before it, and the writes are 10 ms apart; 3 s leaves room for a
 * loaded machine's stalls and costs the test 3 s. {@code keep: "first"} has a window of 10 s from
 * the first change, which the whole burst must reach the engine within; it costs nothing, since
 * the kept execution runs at once.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class DebounceIT {

    private static final int UPDATES = 100;
    /** One update every this many ms: 100 in about a second. */
    private static final long WRITE_EVERY_MS = 10;

    @RegisterExtension
    final Fleet fleet = new Fleet(TestInfra.embedded());

    @Test
    void aBurstOfOneRowsChangesRunsOnceWithTheLastOrTheFirstVersionAndTheRestAreSuperseded() throws Exception {
        String suffix = Fleet.uniqueId("d").substring(2).replace('-', '_');
        String rows = "debounce_rows_" + suffix;
        String effects = "debounce_effects_" + suffix;
        Scripts.run(fleet.ds, """
                CREATE TABLE %1$s (id bigint PRIMARY KEY, version int NOT NULL);
                CREATE TABLE %2$s (seq bigserial PRIMARY KEY, wf text NOT NULL, row_id bigint, version int);
                INSERT INTO %1$s VALUES (1, 0);
                """.formatted(rows, effects));
        Workflow last = fleet.deployUntilClosed(workflow(Fleet.uniqueId("debounce-last"), "{\"ms\": 3000, \"keep\": \"last\"}",
                rows, effects));
        Workflow first = fleet.deployUntilClosed(workflow(Fleet.uniqueId("debounce-first"), "{\"ms\": 10000, \"keep\": \"first\"}",
                rows, effects));
        fleet.startEngine(2);
        Dispatcher d = fleet.startDispatcher();
        await().atMost(Duration.ofMinutes(1)).until(() -> d.captureStatus().capturing("public." + rows));
        fleet.awaitStableGroup(2); // no rebalance mid-burst: it would hold the changes back and could split the burst

        AtomicInteger written = new AtomicInteger();
        AtomicReference<Throwable> writeFailure = new AtomicReference<>();
        ScheduledExecutorService writer = Executors.newSingleThreadScheduledExecutor(r -> new Thread(r, "row-writer"));
        long t0 = System.nanoTime();
        try (Connection c = fleet.ds.getConnection()) {
            c.setAutoCommit(true); // one transaction per update
            writer.scheduleAtFixedRate(() -> {
                if (written.get() >= UPDATES || writeFailure.get() != null) {
                    return;
                }
                try (var st = c.createStatement()) {
                    st.executeUpdate("UPDATE " + rows + " SET version = version + 1 WHERE id = 1");
                    written.incrementAndGet();
                } catch (Throwable e) {
                    writeFailure.set(e);
                }
            }, 0, WRITE_EVERY_MS, TimeUnit.MILLISECONDS);
            await().atMost(Duration.ofMinutes(1)).until(() -> written.get() == UPDATES || writeFailure.get() != null);
        } finally {
            writer.shutdownNow();
            writer.awaitTermination(10, TimeUnit.SECONDS);
        }
        assertThat(writeFailure.get()).as("the writer's failure").isNull();
        System.out.printf("debounce: %d updates written in %d ms%n", UPDATES, (System.nanoTime() - t0) / 1_000_000);

        // Every change is an execution, finished: the one kept (succeeded) or superseded. No other can come after.
        await().atMost(Duration.ofMinutes(1)).pollInterval(Duration.ofMillis(250))
                .until(() -> fleet.finished(last.id()) == UPDATES && fleet.finished(first.id()) == UPDATES);
        System.out.printf("debounce: every change finished %d ms after the first write%n", (System.nanoTime() - t0) / 1_000_000);

        assertThat(fleet.executions(last.id())).isEqualTo(UPDATES);
        assertThat(fleet.succeeded(last.id())).as("keep last: executions run").isEqualTo(1);
        assertThat(versions(effects, last.id())).as("keep last: the one effect has the row's last version").containsExactly(UPDATES);
        assertSuperseded(last, "(debounce)");

        assertThat(fleet.executions(first.id())).isEqualTo(UPDATES);
        assertThat(fleet.succeeded(first.id())).as("keep first: executions run").isEqualTo(1);
        assertThat(versions(effects, first.id())).as("keep first: the one effect has the row's first changed version").containsExactly(1);
        assertSuperseded(first, "(debounce, keep first)");
        assertThat(fleet.count("SELECT count(*) FROM executions s JOIN executions k ON k.id = s.superseded_by "
                + "WHERE s.workflow_id = ? AND s.status = 'superseded' AND k.status = 'succeeded'", first.id()))
                .as("keep first: superseded by the execution kept").isEqualTo(UPDATES - 1);
    }

    /** 99 executions listed superseded by the admin API's query, each naming what replaced it, and linked to it. */
    private void assertSuperseded(Workflow wf, String reason) throws Exception {
        List<ExecutionRow> listed = new ExecutionRecords(fleet.ds)
                .list(new ExecutionRecords.Filter(wf.id(), ShownStatus.SUPERSEDED, null), null, 2 * UPDATES).items();
        assertThat(listed).as("executions of %s listed superseded", wf.id()).hasSize(UPDATES - 1);
        assertThat(listed).allSatisfy(r -> {
            assertThat(r.finishedAt()).isNotNull();
            assertThat(r.error()).startsWith("superseded by " + wf.id() + "@").endsWith(reason);
        });
        assertThat(fleet.count("SELECT count(*) FROM executions s JOIN executions k ON k.id = s.superseded_by "
                + "WHERE s.workflow_id = ? AND s.status = 'superseded' AND k.workflow_id = s.workflow_id", wf.id()))
                .as("superseded executions linked to the execution that replaced them").isEqualTo(UPDATES - 1);
    }

    private static String workflow(String id, String debounce, String table, String effects) {
        return """
                {"id": "%s", "trigger": {"type": "table", "table": "%s", "operations": ["update"]}, "debounce": %s, "nodes": [
                  {"type": "sql", "id": "record",
                   "sql": "INSERT INTO %s (wf, row_id, version) VALUES ('%s', CAST(? AS bigint), CAST(? AS int))",
                   "params": ["trigger.row.id", "trigger.row.version"]}]}"""
                .formatted(id, table, debounce, effects, id);
    }

    private List<Integer> versions(String effects, String workflow) throws Exception {
        List<Integer> out = new ArrayList<>();
        try (Connection c = fleet.ds.getConnection();
             PreparedStatement q = c.prepareStatement("SELECT version FROM " + effects + " WHERE wf = ? ORDER BY seq")) {
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
