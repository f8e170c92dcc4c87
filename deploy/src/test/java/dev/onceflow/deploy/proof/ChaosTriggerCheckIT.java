package dev.onceflow.deploy.proof;

import static org.assertj.core.api.Assertions.assertThat;

import dev.onceflow.deploy.Fleet;
import dev.onceflow.deploy.Scripts;
import dev.onceflow.deploy.TestInfra;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The chaos checker's schedule and table invariants can fail: executions and effect rows written
 * by hand, with a known defect each, must be counted as the duplicates, losses, unexpected rows and
 * reorders they are. (The trigger-record and Kafka invariants: {@link ChaosCheckIT}.) (The
 * unsafe chaos run proves this for the trigger-record workflows; duplicates of ticks and captured
 * rows reach its engines too rarely to rely on.) Each test has its own schema for
 * {@code chaos_rows} and {@code chaos_effects} and its own workflow ids in {@code executions}.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class ChaosTriggerCheckIT {

    private static final long T = 1_800_000_000_000L; // a whole second
    private final String workflow = Fleet.uniqueId("wf");
    private DataSource ds;

    @BeforeEach
    void schema() throws Exception {
        ds = TestInfra.embedded().newSchema(ChaosRowWriter.createTable() + "; " + ChaosCommand.createEffectsTable());
    }

    private void execution(String key, String status, String trigger) throws Exception {
        try (Connection c = ds.getConnection(); PreparedStatement s = c.prepareStatement("INSERT INTO executions "
                + "(event_key, workflow_id, workflow_version, status, trigger, finished_at) VALUES (?, ?, 1, ?, ?::jsonb, now())")) {
            s.setString(1, key);
            s.setString(2, workflow);
            s.setString(3, status);
            s.setString(4, trigger);
            s.executeUpdate();
        }
    }

    private void effect(String key, String node, Long rowId) throws Exception {
        effect(key, node, rowId, 0);
    }

    /** An effect row; they are numbered in the order written, which the order check reads. */
    private void effect(String key, String node, Long rowId, int version) throws Exception {
        try (Connection c = ds.getConnection(); PreparedStatement s = c.prepareStatement(
                "INSERT INTO chaos_effects (event_key, node, row_id, version) VALUES (?, ?, ?, ?)")) {
            s.setString(1, key);
            s.setString(2, node);
            s.setObject(3, rowId);
            s.setInt(4, version);
            s.executeUpdate();
        }
    }

    /** A succeeded execution of change {@code version} of row {@code id}, and its effect row. */
    private void change(long id, int version, String position) throws Exception {
        String key = workflow + "@" + id + "#" + position;
        execution(key, "succeeded", "{\"row\": {\"id\": %d, \"version\": %d}}".formatted(id, version));
        effect(key, "seen", id, version);
    }

    /** Ticks T+1 s .. T+9 s ran, but for T+5 s; T+3 s wrote its effect twice; one execution is for T+2.5 s. */
    private void ticksWithDefects() throws Exception {
        for (int s = 1; s <= 9; s++) {
            if (s == 5) {
                continue;
            }
            String key = workflow + "@" + (T + s * 1000L);
            execution(key, "succeeded", "{}");
            effect(key, "tick", null);
            if (s == 3) {
                effect(key, "tick", null);
            }
        }
        execution(workflow + "@" + (T + 2500), "succeeded", "{}");
    }

    @Test
    void scheduleCheckCountsAMissingTickADuplicateEffectAndAnOffScheduleExecution() throws Exception {
        ticksWithDefects();

        ChaosTriggerCheck.Verdict v = ChaosTriggerCheck.schedule(ds, new ChaosTriggerCheck.Ticks(workflow, T, T + 10_000, List.of()));

        assertThat(v.detail()).containsEntry("schedule_ticks_expected", 9L).containsEntry("schedule_ticks_executed", 8L)
                .containsEntry("schedule_ticks_executed_once", 7L).containsEntry("schedule_ticks_missing", 1L)
                .containsEntry("schedule_duplicate_effects", 1L).containsEntry("schedule_executions_off_schedule", 1L);
        assertThat(v.lost()).isEqualTo(1);
        assertThat(v.duplicates()).isEqualTo(2);
    }

    @Test
    void aTickMissedWhileNoDispatcherRanIsReportedApartNotLost() throws Exception {
        ticksWithDefects();
        List<ChaosTriggerCheck.Outage> outage = List.of(new ChaosTriggerCheck.Outage(T + 4_500, T + 5_800));

        ChaosTriggerCheck.Verdict v = ChaosTriggerCheck.schedule(ds, new ChaosTriggerCheck.Ticks(workflow, T, T + 10_000, outage));

        assertThat(v.detail()).containsEntry("schedule_ticks_missing", 0L)
                .containsEntry("schedule_ticks_missed_while_no_dispatcher_ran", 1L);
        assertThat(v.lost()).isZero();
    }

    @Test
    void tableCheckCountsARowRunTwiceUnderTwoKeysARowNeverRunAndAnAcknowledgedRowThatIsAbsent() throws Exception {
        Scripts.run(ds, "INSERT INTO chaos_rows (id, tx, payload) SELECT g, 1, 'x' FROM generate_series(1, 5) g");
        String row = "{\"row\": {\"id\": %d}}";
        execution(workflow + "@1#a", "succeeded", row.formatted(1));
        effect(workflow + "@1#a", "seen", 1L);
        execution(workflow + "@2#a", "succeeded", row.formatted(2));   // row 2, captured twice under two
        effect(workflow + "@2#a", "seen", 2L);                         // positions: two executions, two effects
        execution(workflow + "@2#b", "succeeded", row.formatted(2));
        effect(workflow + "@2#b", "seen", 2L);
        execution(workflow + "@4#a", "succeeded", row.formatted(4));   // row 3 never ran; row 4 ran without its effect
        execution(workflow + "@5#a", "succeeded", row.formatted(5));
        effect(workflow + "@5#a", "seen", 5L);

        ChaosTriggerCheck.Verdict v = ChaosTriggerCheck.table(ds, new ChaosTriggerCheck.Rows(workflow, Set.of(1L, 2L, 3L, 4L, 5L, 6L),
                Set.of(), 0));

        assertThat(v.detail()).containsEntry("table_rows_inserted", 5L).containsEntry("table_rows_executed_once", 2L)
                .containsEntry("table_changes_executed_once", 2L)
                .containsEntry("table_extra_executions", 1L).containsEntry("table_duplicate_effects", 1L)
                .containsEntry("table_changes_without_execution", 1L).containsEntry("table_succeeded_missing_effect", 1L)
                .containsEntry("table_rows_acknowledged_but_absent", 1L);
        assertThat(v.duplicates()).isEqualTo(2);
        assertThat(v.lost()).isEqualTo(3);
        assertThat(v.unexpected()).isZero();
        assertThat(v.reordered()).isZero();
    }

    /**
     * Row 1 was updated twice (version 2) and each change ran once; row 2's update to version 1
     * committed and was acknowledged but never ran; row 3 has an execution of a version it never
     * reached, and the writer holds an acknowledged update to a version the table does not have.
     */
    @Test
    void tableCheckCountsEachUpdateAsAChangeOfItsOwn() throws Exception {
        Scripts.run(ds, "INSERT INTO chaos_rows (id, tx, payload, version) VALUES (1, 1, 'x', 2), (2, 1, 'x', 1), (3, 1, 'x', 0)");
        change(1, 0, "a");
        change(1, 1, "b");
        change(1, 2, "c");
        change(2, 0, "a");
        change(3, 0, "a");
        change(3, 1, "b");

        ChaosTriggerCheck.Verdict v = ChaosTriggerCheck.table(ds, new ChaosTriggerCheck.Rows(workflow, Set.of(1L, 2L, 3L), Set.of(), 0,
                Set.of("1:1", "1:2", "2:1", "3:2"), 0));

        assertThat(v.detail()).containsEntry("table_changes_committed", 6L).containsEntry("table_updates_committed", 3L)
                .containsEntry("table_changes_executed_once", 5L).containsEntry("table_changes_without_execution", 1L)
                .containsEntry("table_executions_of_absent_changes", 1L).containsEntry("table_updates_acknowledged_but_absent", 1L)
                .containsEntry("table_rows_executed_once", 2L);
        assertThat(v.lost()).as("2:1 never ran, 3:2 acknowledged but absent").isEqualTo(2);
        assertThat(v.duplicates()).as("an execution of 3:1, which never committed").isEqualTo(1);
        assertThat(v.reordered()).isZero();
    }

    /**
     * Row 1's changes ran 0, 2, 1, 3: version 1 ran after version 2, one change out of order.
     * Row 2's ran 0, 1, 2 and then version 0 again: a duplicate, not a reorder.
     */
    @Test
    void tableCheckCountsAChangeThatRanAfterALaterOneAsReorderedAndADuplicateOnlyAsADuplicate() throws Exception {
        Scripts.run(ds, "INSERT INTO chaos_rows (id, tx, payload, version) VALUES (1, 1, 'x', 3), (2, 1, 'x', 2)");
        change(1, 0, "a");
        change(1, 2, "c");
        change(1, 1, "b");
        change(1, 3, "d");
        change(2, 0, "a");
        change(2, 1, "b");
        change(2, 2, "c");
        change(2, 0, "a2");

        ChaosTriggerCheck.Verdict v = ChaosTriggerCheck.table(ds, new ChaosTriggerCheck.Rows(workflow, Set.of(1L, 2L), Set.of(), 0,
                Set.of("1:1", "1:2", "1:3", "2:1", "2:2"), 0));

        assertThat(v.detail()).containsEntry("table_changes_out_of_order", 1L).containsEntry("table_rows_out_of_order", 1L)
                .containsEntry("table_extra_executions", 1L).containsEntry("table_duplicate_effects", 1L);
        assertThat(v.reordered()).isEqualTo(1);
        assertThat(v.duplicates()).isEqualTo(2);
        assertThat(v.lost()).isZero();
    }

    @Test
    void tableCheckCountsARowTheWriterSawFailBeforeItsCommitAsUnexpected() throws Exception {
        Scripts.run(ds, "INSERT INTO chaos_rows (id, tx, payload) SELECT g, 1, 'x' FROM generate_series(1, 3) g");
        String row = "{\"row\": {\"id\": %d}}";
        for (long id = 1; id <= 3; id++) {
            execution(workflow + "@" + id + "#a", "succeeded", row.formatted(id));
            effect(workflow + "@" + id + "#a", "seen", id);
        }

        // Row 1 acknowledged, row 2 in doubt (its COMMIT was cut), row 3: the writer saw its transaction fail before COMMIT.
        ChaosTriggerCheck.Verdict v = ChaosTriggerCheck.table(ds, new ChaosTriggerCheck.Rows(workflow, Set.of(1L), Set.of(2L), 1));

        assertThat(v.detail()).containsEntry("table_rows_not_written_by_the_writer", 1L).containsEntry("table_rows_executed_once", 3L)
                .containsEntry("table_rows_in_doubt_committed", 1L);
        assertThat(v.unexpected()).isEqualTo(1);
        assertThat(v.duplicates()).isZero();
        assertThat(v.lost()).isZero();
    }
}
