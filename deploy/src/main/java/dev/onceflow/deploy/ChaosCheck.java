package dev.onceflow.deploy;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import javax.sql.DataSource;

/**
 * The invariants of a chaos run, read from PostgreSQL after the system went quiet:
 * <ul>
 *   <li>every accepted event key has exactly one execution ({@code lost} counts keys without one);</li>
 *   <li>every node reached has exactly one processed key, and every succeeded execution has
 *       exactly its expected side-effect rows: extra rows are {@code duplicates}, missing rows
 *       are {@code lost};</li>
 *   <li>the schedule and table workflows: see {@link ChaosTriggerCheck}, whose duplicates and
 *       losses are added to the totals;</li>
 *   <li>nothing is {@code stuck} non-terminal.</li>
 * </ul>
 * The side-effect table has no unique constraint, so a node that ran twice is visible.
 */
final class ChaosCheck {

    private ChaosCheck() {
    }

    static Map<String, Object> check(DataSource ds, Set<String> accepted, String orders, String heavy, ChaosTriggerCheck.Ticks ticks,
                                     ChaosTriggerCheck.Rows rows) throws SQLException {
        Map<String, String> status = new HashMap<>();
        try (Connection c = ds.getConnection();
             PreparedStatement q = c.prepareStatement("SELECT event_key, status FROM executions WHERE workflow_id IN (?, ?)")) {
            q.setString(1, orders);
            q.setString(2, heavy);
            try (ResultSet rs = q.executeQuery()) {
                while (rs.next()) {
                    status.put(rs.getString(1), rs.getString(2));
                }
            }
        }
        long missingExecutions = accepted.stream().filter(k -> !status.containsKey(k)).count();
        long stuck = count(ds, "SELECT count(*) FROM executions WHERE finished_at IS NULL");
        long failed = status.values().stream().filter("failed"::equals).count();
        long executions = status.size();
        // Extra effect rows of the trigger-record workflows: one (event_key, node) written more than
        // once. The schedule's 'tick' and the table's 'seen' rows are counted by ChaosTriggerCheck.
        long duplicateEffects = count(ds, "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM chaos_effects "
                + "WHERE node IN ('record', 'even', 'odd', 'book') GROUP BY event_key, node HAVING count(*) > 1) d");
        // Succeeded executions missing an effect: orders expect 2 distinct nodes, heavy expects 1.
        long missingEffects = count(ds, "SELECT count(*) FROM executions e WHERE e.status = 'succeeded' AND "
                + "e.workflow_id IN ('" + orders + "', '" + heavy + "') AND "
                + "(SELECT count(DISTINCT node) FROM chaos_effects f WHERE f.event_key = e.event_key) <> "
                + "CASE WHEN e.workflow_id = '" + heavy + "' THEN 1 ELSE 2 END");
        // Processed keys per succeeded execution: orders 4 (record, check, even|odd, done), heavy 2,
        // the schedule's and the table's one-node workflows 1.
        long wrongProcessedKeys = count(ds, "SELECT count(*) FROM executions e WHERE e.status = 'succeeded' AND "
                + "(SELECT count(*) FROM processed_keys p WHERE p.execution_id = e.id) <> "
                + "CASE e.workflow_id WHEN '" + heavy + "' THEN 2 WHEN '" + orders + "' THEN 4 ELSE 1 END");
        long effects = count(ds, "SELECT count(*) FROM chaos_effects");
        ChaosTriggerCheck.Verdict schedule = ChaosTriggerCheck.schedule(ds, ticks);
        ChaosTriggerCheck.Verdict table = ChaosTriggerCheck.table(ds, rows);

        Map<String, Object> r = new LinkedHashMap<>();
        r.put("duplicates", duplicateEffects + schedule.duplicates() + table.duplicates());
        r.put("lost", missingExecutions + missingEffects + failed + schedule.lost() + table.lost());
        r.put("stuck", stuck);
        r.put("executions", executions);
        r.put("events_accepted", accepted.size());
        Map<String, Object> detail = new LinkedHashMap<>();
        detail.put("duplicate_effects_of_trigger_records", duplicateEffects);
        detail.put("accepted_keys_without_execution", missingExecutions);
        detail.put("succeeded_executions_missing_an_effect", missingEffects);
        detail.put("failed_executions", failed);
        detail.put("executions_with_unexpected_processed_keys", wrongProcessedKeys);
        detail.put("effect_rows", effects);
        detail.put("executions_not_from_accepted_keys", status.keySet().stream().filter(k -> !accepted.contains(k)).count());
        detail.putAll(schedule.detail());
        detail.putAll(table.detail());
        r.put("detail", detail);
        return r;
    }

    static long count(DataSource ds, String sql) throws SQLException {
        try (Connection c = ds.getConnection(); PreparedStatement q = c.prepareStatement(sql); ResultSet rs = q.executeQuery()) {
            rs.next();
            return rs.getLong(1);
        }
    }

    @SuppressWarnings("unchecked")
    static String human(Map<String, Object> r) {
        StringBuilder sb = new StringBuilder("Chaos summary\n");
        sb.append(String.format("  seed %s, %s s, unsafe %s%n", r.get("seed"), r.get("duration_s"), r.get("unsafe")));
        sb.append(String.format("  events accepted %s, executions %s, copies published %s%n", r.get("events_accepted"),
                r.get("executions"), r.get("events_published")));
        Map<String, Object> d = (Map<String, Object>) r.get("detail");
        sb.append(String.format("  schedule: %s ticks expected, %s executed once, %s missing, %s missed while no dispatcher ran%n",
                d.get("schedule_ticks_expected"), d.get("schedule_ticks_executed_once"), d.get("schedule_ticks_missing"),
                d.get("schedule_ticks_missed_while_no_dispatcher_ran")));
        sb.append(String.format("  table: %s rows committed (%s acknowledged, %s in doubt), %s executed once, %s without execution%n",
                d.get("table_rows_inserted"), d.get("table_rows_acknowledged"), d.get("table_rows_in_doubt"),
                d.get("table_rows_executed_once"), d.get("table_rows_without_execution")));
        sb.append(String.format("  faults injected %d:%n", ((java.util.List<?>) r.get("faults")).size()));
        for (Object f : (java.util.List<?>) r.get("faults")) {
            Map<String, Object> m = (Map<String, Object>) f;
            sb.append(String.format("    %6s s  %-19s %s%n", m.get("at_s"), m.get("kind"), m.get("target")));
        }
        sb.append(String.format("  duplicates %s, lost %s, stuck %s%n", r.get("duplicates"), r.get("lost"), r.get("stuck")));
        sb.append("  detail ").append(r.get("detail")).append('\n');
        boolean ok = ((Number) r.get("duplicates")).longValue() == 0 && ((Number) r.get("lost")).longValue() == 0
                && ((Number) r.get("stuck")).longValue() == 0;
        sb.append(ok ? "  verdict OK: every accepted event, tick and committed row ran once, every effect once, nothing stuck\n"
                : "  verdict FAILED\n");
        return sb.toString();
    }
}
