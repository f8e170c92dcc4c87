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
 * by hand, with a known defect each, must be counted as the duplicates, losses and unexpected rows
 * they are. (The trigger-record and Kafka invariants: {@link ChaosCheckIT}.) (The
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
        ds = TestInfra.embedded().newSchema(ChaosRowWriter.createTable() + "; CREATE TABLE chaos_effects (id bigserial PRIMARY KEY, "
                + "event_key text NOT NULL, node text NOT NULL, row_id bigint)");
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
        try (Connection c = ds.getConnection();
             PreparedStatement s = c.prepareStatement("INSERT INTO chaos_effects (event_key, node, row_id) VALUES (?, ?, ?)")) {
            s.setString(1, key);
            s.setString(2, node);
            s.setObject(3, rowId);
            s.executeUpdate();
        }
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
                .containsEntry("table_extra_executions", 1L).containsEntry("table_duplicate_effects", 1L)
                .containsEntry("table_rows_without_execution", 1L).containsEntry("table_succeeded_missing_effect", 1L)
                .containsEntry("table_rows_acknowledged_but_absent", 1L);
        assertThat(v.duplicates()).isEqualTo(2);
        assertThat(v.lost()).isEqualTo(3);
        assertThat(v.unexpected()).isZero();
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
