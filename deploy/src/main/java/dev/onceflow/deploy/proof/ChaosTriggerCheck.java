package dev.onceflow.deploy.proof;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import javax.sql.DataSource;

/**
 * The invariants of the chaos run's schedule and table workflows, read from PostgreSQL after the
 * system went quiet. Each returns its {@code duplicates}, {@code lost} and {@code unexpected} for the
 * run's totals, and the counts behind them for the summary's detail.
 *
 * <ul>
 *   <li><b>schedule</b>: from the first tick that has an execution to the schedule's end, every
 *       second has exactly one execution and one effect row. A tick missing while no dispatcher
 *       was running at all is excused (the fire-once misfire policy fires only the latest missed
 *       tick on restart), and reported as such; with two or more dispatchers the chaos faults
 *       never stop them all, so none is.</li>
 *   <li><b>table</b>: every change that committed in {@code chaos_rows} — the insert of a row
 *       and each update, which raises the row's {@code version} by one, so the table is the truth
 *       (a COMMIT cut by the PostgreSQL restart may or may not have happened) — has exactly one
 *       execution and one effect row, matched by the row's id and version, not by event key, so
 *       a change that started two executions under two keys is visible; every insert and update
 *       whose COMMIT the writer saw acknowledged is in the table; and the changes of each row ran
 *       in commit order (version order), else they count as {@code reordered}.</li>
 * </ul>
 * Stateless; one call per run.
 */
final class ChaosTriggerCheck {

    /** A span in which no dispatcher process was alive (epoch ms). */
    record Outage(long fromMs, long toMs) {
    }

    /** The schedule workflow, its window [start, end) of ticks every second, and the dispatcher outages. */
    record Ticks(String workflow, long startMs, long endMs, List<Outage> outages) {
    }

    /** The table workflow and what the row writer knows about its commits. */
    record Rows(String workflow, Set<Long> acknowledged, Set<Long> inDoubt, long failedRows, Set<String> updatesAcknowledged,
                long updatesInDoubt) {
        /** Inserts only: no update was written. */
        Rows(String workflow, Set<Long> acknowledged, Set<Long> inDoubt, long failedRows) {
            this(workflow, acknowledged, inDoubt, failedRows, Set.of(), 0);
        }
    }

    /**
     * One workflow's share of the totals, and its counts. {@code unexpected} counts what should not
     * exist at all and is neither a duplicate nor a loss (a row nobody wrote, an execution of an
     * event nobody published, a node run without its processed key); {@code reordered} the
     * executions that ran after a later event of their ordering key.
     */
    record Verdict(long duplicates, long lost, long unexpected, long reordered, Map<String, Object> detail) {
        Verdict(long duplicates, long lost, long unexpected, Map<String, Object> detail) {
            this(duplicates, lost, unexpected, 0, detail);
        }
    }

    private static final long SECOND = 1000;

    private ChaosTriggerCheck() {
    }

    static Verdict schedule(DataSource ds, Ticks ticks) throws SQLException {
        TreeMap<Long, String> status = new TreeMap<>();
        long offGrid = 0;
        for (Map.Entry<String, String> e : executions(ds, ticks.workflow()).entrySet()) {
            long t = Long.parseLong(e.getKey().substring(e.getKey().lastIndexOf('@') + 1));
            if (t < ticks.startMs() || t >= ticks.endMs() || t % SECOND != 0) {
                offGrid++; // an execution for a time the schedule never names: an extra one
            } else {
                status.put(t, e.getValue());
            }
        }
        Map<String, Long> effects = effectsByEventKey(ds, "tick");
        long lastTick = (ticks.endMs() - 1) / SECOND * SECOND;
        // Ticks before the first executed one came due before any dispatcher had loaded the
        // workflow (it is deployed when the run starts): not a loss. With no tick at all, all count.
        long first = status.isEmpty() ? (ticks.startMs() + SECOND - 1) / SECOND * SECOND : status.firstKey();
        long expected = 0;
        long executed = 0;
        long missing = 0;
        long excused = 0;
        for (long t = first; t <= lastTick; t += SECOND) {
            expected++;
            if (status.containsKey(t)) {
                executed++;
            } else if (duringOutage(t, ticks.outages(), status)) {
                excused++;
            } else {
                missing++;
            }
        }
        long missingEffect = 0;
        long duplicateEffects = 0;
        long failed = 0;
        long once = 0;
        for (Map.Entry<Long, String> e : status.entrySet()) {
            long n = effects.getOrDefault(ticks.workflow() + "@" + e.getKey(), 0L);
            if (n == 1) {
                once++;
            }
            if ("succeeded".equals(e.getValue()) && n == 0) {
                missingEffect++;
            }
            duplicateEffects += Math.max(0, n - 1);
            if ("failed".equals(e.getValue())) {
                failed++;
            }
        }
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("schedule_ticks_expected", expected);
        d.put("schedule_ticks_executed", executed);
        d.put("schedule_ticks_executed_once", once);
        d.put("schedule_ticks_missing", missing);
        d.put("schedule_ticks_missed_while_no_dispatcher_ran", excused);
        d.put("schedule_executions_off_schedule", offGrid);
        d.put("schedule_duplicate_effects", duplicateEffects);
        d.put("schedule_succeeded_missing_effect", missingEffect);
        d.put("schedule_failed_executions", failed);
        d.put("schedule_first_tick_after_start_s", status.isEmpty() ? null : (status.firstKey() - ticks.startMs()) / 1000.0);
        return new Verdict(offGrid + duplicateEffects, missing + missingEffect + failed, 0, d);
    }

    static Verdict table(DataSource ds, Rows rows) throws SQLException {
        // The table is the truth of what committed: a row's version counts its committed updates,
        // so its changes are the insert (version 0) and the updates to versions 1 .. version.
        Map<Long, Integer> present = new HashMap<>();
        try (Connection c = ds.getConnection(); PreparedStatement q = c.prepareStatement("SELECT id, version FROM chaos_rows");
             ResultSet rs = q.executeQuery()) {
            while (rs.next()) {
                present.put(rs.getLong(1), rs.getInt(2));
            }
        }
        Map<Change, Long> executions = new HashMap<>();
        Set<Change> succeeded = new HashSet<>();
        long failed = 0;
        try (Connection c = ds.getConnection(); PreparedStatement q = c.prepareStatement(
                "SELECT (trigger->'row'->>'id')::bigint, (trigger->'row'->>'version')::int, status FROM executions WHERE workflow_id = ?")) {
            q.setString(1, rows.workflow());
            try (ResultSet rs = q.executeQuery()) {
                while (rs.next()) {
                    Change change = new Change(rs.getLong(1), rs.getInt(2));
                    executions.merge(change, 1L, Long::sum);
                    if ("succeeded".equals(rs.getString(3))) {
                        succeeded.add(change);
                    } else if ("failed".equals(rs.getString(3))) {
                        failed++;
                    }
                }
            }
        }
        // Effects per change, and the first effect's place in the effect table's sequence: the
        // order in which the changes of one row ran.
        Map<Change, Long> effects = new HashMap<>();
        Map<Long, TreeMap<Long, Integer>> ranInOrder = new HashMap<>();
        try (Connection c = ds.getConnection(); PreparedStatement q = c.prepareStatement(
                "SELECT row_id, version, count(*), min(id) FROM chaos_effects WHERE node = 'seen' GROUP BY row_id, version");
             ResultSet rs = q.executeQuery()) {
            while (rs.next()) {
                Change change = new Change(rs.getLong(1), rs.getInt(2));
                effects.put(change, rs.getLong(3));
                ranInOrder.computeIfAbsent(change.id(), id -> new TreeMap<>()).put(rs.getLong(4), change.version());
            }
        }
        long committed = 0;
        long withoutExecution = 0;
        long extraExecutions = 0;
        long missingEffect = 0;
        long duplicateEffects = 0;
        long once = 0;
        long rowsOnce = 0;
        for (Map.Entry<Long, Integer> row : present.entrySet()) {
            boolean rowOnce = true;
            for (int v = 0; v <= row.getValue(); v++) {
                Change change = new Change(row.getKey(), v);
                committed++;
                long n = executions.getOrDefault(change, 0L);
                long e = effects.getOrDefault(change, 0L);
                if (n == 0) {
                    withoutExecution++;
                }
                extraExecutions += Math.max(0, n - 1);
                if (succeeded.contains(change) && e == 0) {
                    missingEffect++;
                }
                duplicateEffects += Math.max(0, e - 1);
                if (n == 1 && e == 1) {
                    once++;
                } else {
                    rowOnce = false;
                }
            }
            if (rowOnce) {
                rowsOnce++;
            }
        }
        // An execution of a change that never committed is an event that did not happen.
        long unknownChanges = executions.entrySet().stream().filter(x -> !committed(present, x.getKey()))
                .mapToLong(Map.Entry::getValue).sum();
        long acknowledgedAbsent = rows.acknowledged().stream().filter(id -> !present.containsKey(id)).count();
        long updatesAbsent = rows.updatesAcknowledged().stream().filter(u -> !committed(present, Change.parse(u))).count();
        long inDoubtCommitted = rows.inDoubt().stream().filter(present::containsKey).count();
        long unexplained = present.keySet().stream().filter(id -> !rows.acknowledged().contains(id) && !rows.inDoubt().contains(id)).count();
        // Order: a change that ran after a later change of its row. Only each change's first
        // effect counts, so a duplicate (counted above) is not also a reorder.
        long outOfOrder = 0;
        long rowsOutOfOrder = 0;
        for (TreeMap<Long, Integer> ran : ranInOrder.values()) {
            int highest = -1;
            long before = outOfOrder;
            for (int version : ran.values()) {
                if (version < highest) {
                    outOfOrder++;
                }
                highest = Math.max(highest, version);
            }
            if (outOfOrder > before) {
                rowsOutOfOrder++;
            }
        }

        Map<String, Object> d = new LinkedHashMap<>();
        d.put("table_rows_inserted", (long) present.size());
        d.put("table_rows_acknowledged", (long) rows.acknowledged().size());
        d.put("table_rows_in_doubt", (long) rows.inDoubt().size());
        d.put("table_rows_in_doubt_committed", inDoubtCommitted);
        d.put("table_rows_failed_before_commit", rows.failedRows());
        d.put("table_rows_acknowledged_but_absent", acknowledgedAbsent);
        d.put("table_rows_not_written_by_the_writer", unexplained); // unexpected
        d.put("table_updates_committed", committed - present.size());
        d.put("table_updates_acknowledged", (long) rows.updatesAcknowledged().size());
        d.put("table_updates_in_doubt", rows.updatesInDoubt());
        d.put("table_updates_acknowledged_but_absent", updatesAbsent);
        d.put("table_changes_committed", committed);
        d.put("table_changes_executed_once", once);
        d.put("table_rows_executed_once", rowsOnce);
        d.put("table_changes_without_execution", withoutExecution);
        d.put("table_extra_executions", extraExecutions);
        d.put("table_executions_of_absent_changes", unknownChanges);
        d.put("table_duplicate_effects", duplicateEffects);
        d.put("table_succeeded_missing_effect", missingEffect);
        d.put("table_failed_executions", failed);
        d.put("table_changes_out_of_order", outOfOrder);
        d.put("table_rows_out_of_order", rowsOutOfOrder);
        // A committed row that the writer neither saw committed nor had in doubt: it saw the
        // transaction fail before its COMMIT, so the row should not be there.
        return new Verdict(extraExecutions + unknownChanges + duplicateEffects,
                withoutExecution + missingEffect + failed + acknowledgedAbsent + updatesAbsent, unexplained, outOfOrder, d);
    }

    /** One change of a chaos row: its insert (version 0) or the update that made its version. */
    record Change(long id, int version) {
        static Change parse(String idColonVersion) {
            int colon = idColonVersion.indexOf(':');
            return new Change(Long.parseLong(idColonVersion.substring(0, colon)), Integer.parseInt(idColonVersion.substring(colon + 1)));
        }
    }

    private static boolean committed(Map<Long, Integer> present, Change change) {
        Integer version = present.get(change.id());
        return version != null && change.version() >= 0 && change.version() <= version;
    }

    /**
     * Whether tick {@code t} came due while no dispatcher ran: from a second before the outage (a
     * tick fired just before the kill may have died unsent in the producer's buffer) to the first
     * tick executed after the restart (the restarted replica fires only the latest missed tick).
     */
    private static boolean duringOutage(long t, List<Outage> outages, TreeMap<Long, String> executed) {
        for (Outage o : outages) {
            Long after = executed.ceilingKey(o.toMs());
            if (t > o.fromMs() - SECOND && (after == null || t < after)) {
                return true;
            }
        }
        return false;
    }

    /** event key → status of every execution of the workflow. */
    private static Map<String, String> executions(DataSource ds, String workflow) throws SQLException {
        Map<String, String> out = new HashMap<>();
        try (Connection c = ds.getConnection();
             PreparedStatement q = c.prepareStatement("SELECT event_key, status FROM executions WHERE workflow_id = ?")) {
            q.setString(1, workflow);
            try (ResultSet rs = q.executeQuery()) {
                while (rs.next()) {
                    out.put(rs.getString(1), rs.getString(2));
                }
            }
        }
        return out;
    }

    private static Map<String, Long> effectsByEventKey(DataSource ds, String node) throws SQLException {
        Map<String, Long> out = new HashMap<>();
        try (Connection c = ds.getConnection();
             PreparedStatement q = c.prepareStatement("SELECT event_key, count(*) FROM chaos_effects WHERE node = ? GROUP BY event_key")) {
            q.setString(1, node);
            try (ResultSet rs = q.executeQuery()) {
                while (rs.next()) {
                    out.put(rs.getString(1), rs.getLong(2));
                }
            }
        }
        return out;
    }
}
