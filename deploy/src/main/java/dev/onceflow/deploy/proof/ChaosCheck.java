package dev.onceflow.deploy.proof;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import javax.sql.DataSource;

/**
 * The invariants of a chaos run, read from PostgreSQL (and Kafka) after the system went quiet. Every
 * invariant counts in one of six totals, and the run passes only when all six are 0:
 * <ul>
 *   <li>{@code duplicates}: an effect row written more than once (the side-effect table has no
 *       unique constraint, so a node that ran twice is visible), an extra execution of a tick or
 *       a row (see {@link ChaosTriggerCheck});</li>
 *   <li>{@code lost}: an accepted event key without an execution, a succeeded execution missing
 *       an effect, a failed execution (the chaos workflows cannot fail), a tick or committed row
 *       or committed row change that never ran, an acknowledged insert or update that is not in
 *       the table;</li>
 *   <li>{@code unexpected}: what should not exist at all — a succeeded execution whose processed
 *       keys are not exactly its nodes' (the proof of a node run missing, or a node run that
 *       the graph does not reach), an execution of a trigger record nobody published (neither
 *       acknowledged nor in doubt), a table row the writer saw fail before its COMMIT;</li>
 *   <li>{@code reordered}: a change of a table row whose first execution ran after that of a
 *       later change of the same row (the table workflow orders by key: a row's changes must run
 *       in commit order);</li>
 *   <li>{@code stuck}: an execution still not terminal;</li>
 *   <li>{@code stalled}: a partition that did not drain ({@link ChaosKafka#drain}): records the
 *       group never committed past, or a transaction that stays open.</li>
 * </ul>
 * The {@code --unsafe} engines keep no processed keys (that is what makes them unsafe): for them
 * the processed-key invariant does not apply and is reported as {@code null}; they fail on their
 * duplicates.
 */
final class ChaosCheck {

    /** The totals of the verdict, in the order the summary prints them. */
    static final List<String> TOTALS = List.of("duplicates", "lost", "unexpected", "reordered", "stuck", "stalled");

    /**
     * The trigger-record workflows and what the publisher knows: the keys acknowledged at least
     * once, the keys in doubt (a copy failed and none was acknowledged), and whether the engines
     * keep processed keys (false for {@code --unsafe}).
     */
    record Records(String orders, String heavy, Set<String> accepted, Set<String> inDoubt, boolean processedKeysKept) {
    }

    private ChaosCheck() {
    }

    /** Every invariant; {@code drain} is what Kafka showed after the run (null when the broker could not be asked: then 1 stalled). */
    static Map<String, Object> check(DataSource ds, Records records, ChaosTriggerCheck.Ticks ticks, ChaosTriggerCheck.Rows rows,
                                     ChaosKafka.Drain drain, String drainError) throws SQLException {
        ChaosTriggerCheck.Verdict recs = records(ds, records, List.of(ticks.workflow(), rows.workflow()));
        ChaosTriggerCheck.Verdict schedule = ChaosTriggerCheck.schedule(ds, ticks);
        ChaosTriggerCheck.Verdict table = ChaosTriggerCheck.table(ds, rows);
        long stuck = count(ds, "SELECT count(*) FROM executions WHERE finished_at IS NULL");
        long stalled = drain == null ? 1 : drain.stalled();

        Map<String, Object> r = new LinkedHashMap<>();
        r.put("duplicates", recs.duplicates() + schedule.duplicates() + table.duplicates());
        r.put("lost", recs.lost() + schedule.lost() + table.lost());
        r.put("unexpected", recs.unexpected() + schedule.unexpected() + table.unexpected());
        r.put("reordered", recs.reordered() + schedule.reordered() + table.reordered());
        r.put("stuck", stuck);
        r.put("stalled", stalled);
        r.put("executions", recs.detail().get("executions"));
        r.put("events_accepted", (long) records.accepted().size());
        r.put("events_in_doubt", (long) records.inDoubt().size());
        Map<String, Object> detail = new LinkedHashMap<>(recs.detail());
        detail.remove("executions");
        detail.put("effect_rows", count(ds, "SELECT count(*) FROM chaos_effects"));
        detail.putAll(schedule.detail());
        detail.putAll(table.detail());
        r.put("detail", detail);
        Map<String, Object> k = new LinkedHashMap<>();
        k.put("stalled_partitions", drain == null ? null : drain.partitions());
        k.put("transactions_left_open", drain == null ? null : drain.openTransactions());
        if (drain == null) {
            k.put("error", drainError);
        }
        r.put("kafka", k);
        return r;
    }

    /**
     * The trigger-record workflows' invariants: every accepted key has exactly one execution (the
     * executions table's unique key makes "one"; "at least one" is checked here), each succeeded
     * one its effects exactly once and exactly its nodes' processed keys, and no execution is of
     * a key that was neither accepted nor in doubt. The processed-key invariant also covers the
     * one-node workflows in {@code oneNodeWorkflows} (the schedule's and the table's).
     */
    static ChaosTriggerCheck.Verdict records(DataSource ds, Records records, List<String> oneNodeWorkflows) throws SQLException {
        String orders = records.orders();
        String heavy = records.heavy();
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
        long missingExecutions = records.accepted().stream().filter(k -> !status.containsKey(k)).count();
        long failed = status.values().stream().filter("failed"::equals).count();
        long notPublished = status.keySet().stream().filter(k -> !records.accepted().contains(k) && !records.inDoubt().contains(k)).count();
        long inDoubtExecuted = records.inDoubt().stream().filter(status::containsKey).count();
        // Extra effect rows of the trigger-record workflows: one (event_key, node) written more than
        // once. The schedule's 'tick' and the table's 'seen' rows are counted by ChaosTriggerCheck.
        long duplicateEffects = count(ds, "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM chaos_effects f "
                + "WHERE node IN ('record', 'even', 'odd', 'book') AND " + keyOf("f.event_key", orders, heavy)
                + " GROUP BY event_key, node HAVING count(*) > 1) d");
        // Succeeded executions missing an effect: orders expect 2 distinct nodes, heavy expects 1.
        long missingEffects = count(ds, "SELECT count(*) FROM executions e WHERE e.status = 'succeeded' AND "
                + "e.workflow_id IN (" + quoted(List.of(orders, heavy)) + ") AND "
                + "(SELECT count(DISTINCT node) FROM chaos_effects f WHERE f.event_key = e.event_key) <> "
                + "CASE WHEN e.workflow_id = " + quoted(List.of(heavy)) + " THEN 1 ELSE 2 END");
        // Processed keys per succeeded execution: orders 4 (record, check, even|odd, done), heavy 2,
        // the schedule's and the table's one-node workflows 1.
        Long wrongProcessedKeys = null;
        if (records.processedKeysKept()) {
            List<String> all = new ArrayList<>(List.of(orders, heavy));
            all.addAll(oneNodeWorkflows);
            wrongProcessedKeys = count(ds, "SELECT count(*) FROM executions e WHERE e.status = 'succeeded' AND "
                    + "e.workflow_id IN (" + quoted(all) + ") AND "
                    + "(SELECT count(*) FROM processed_keys p WHERE p.execution_id = e.id) <> "
                    + "CASE e.workflow_id WHEN " + quoted(List.of(heavy)) + " THEN 2 WHEN " + quoted(List.of(orders)) + " THEN 4 ELSE 1 END");
        }
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("executions", (long) status.size());
        d.put("duplicate_effects_of_trigger_records", duplicateEffects);            // duplicates
        d.put("accepted_keys_without_execution", missingExecutions);               // lost
        d.put("succeeded_executions_missing_an_effect", missingEffects);           // lost
        d.put("failed_executions", failed);                                        // lost
        d.put("executions_with_unexpected_processed_keys", wrongProcessedKeys);    // unexpected; null: --unsafe keeps none
        d.put("executions_not_from_accepted_keys", notPublished);                  // unexpected
        d.put("keys_in_doubt_executed", inDoubtExecuted);
        return new ChaosTriggerCheck.Verdict(duplicateEffects, missingExecutions + missingEffects + failed,
                (wrongProcessedKeys == null ? 0 : wrongProcessedKeys) + notPublished, d);
    }

    /** Whether the report's six totals are all 0. */
    static boolean passed(Map<String, Object> report) {
        return TOTALS.stream().allMatch(t -> ((Number) report.get(t)).longValue() == 0);
    }

    private static String quoted(List<String> values) {
        return String.join(", ", values.stream().map(v -> "'" + v.replace("'", "''") + "'").toList());
    }

    /** An SQL condition: the event key belongs to one of the workflows (it starts with {@code workflow@}). */
    private static String keyOf(String column, String... workflows) {
        return "(" + String.join(" OR ", java.util.Arrays.stream(workflows)
                .map(w -> "left(" + column + ", " + (w.length() + 1) + ") = " + quoted(List.of(w + "@"))).toList()) + ")";
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
        sb.append(String.format("  table: %s rows inserted (%s acknowledged, %s in doubt) and %s updates committed (%s acknowledged, %s in doubt); "
                        + "%s of %s changes executed once, %s without execution, %s out of order (in %s rows); order %s%n",
                d.get("table_rows_inserted"), d.get("table_rows_acknowledged"), d.get("table_rows_in_doubt"),
                d.get("table_updates_committed"), d.get("table_updates_acknowledged"), d.get("table_updates_in_doubt"),
                d.get("table_changes_executed_once"), d.get("table_changes_committed"), d.get("table_changes_without_execution"),
                d.get("table_changes_out_of_order"), d.get("table_rows_out_of_order"), r.get("order")));
        if (r.get("batch") instanceof Map<?, ?> b) {
            sb.append(String.format("  seed-shaped job (schedule → query → loop → http → condition → write, delay, join): %s executions, "
                    + "%s succeeded, %s failed as outcome unknown, %s failed on a call's timeout or connection, %s failed otherwise %s, %s running; "
                    + "http: %s keys called, %s more than once, %s calls without a key; %s duplicate effects, %s succeeded with missing effects%n",
                    b.get("executions"), b.get("succeeded"), b.get("failed_outcome_unknown"), b.get("failed_call_error"),
                    b.get("failed_otherwise"), b.get("failed_otherwise_first"), b.get("running"),
                    b.get("http_keys_called"), b.get("http_keys_called_more_than_once"), b.get("http_calls_without_key"),
                    b.get("duplicate_effects"), b.get("succeeded_with_missing_effects")));
        }
        sb.append(String.format("  faults injected %d, by kind %s:%n", ((List<?>) r.get("faults")).size(), r.get("faults_by_kind")));
        for (Object f : (List<?>) r.get("faults")) {
            Map<String, Object> m = (Map<String, Object>) f;
            String measured = m.containsKey("members_evicted_after_ms") && m.get("members_evicted_after_ms") == null
                    ? String.format(" (no member seen leaving the group%s: nothing measured)",
                            Boolean.TRUE.equals(m.get("all_members_joined_before_freeze")) ? "" : ", which was not stable with every member joined")
                    : m.containsKey("processing_resumed_after_ms") ? String.format(" (evicted after %s ms, partitions %s, "
                    + "processing resumed after %s ms, %s)", m.get("members_evicted_after_ms"), m.get("partitions"),
                    m.get("processing_resumed_after_ms"), Boolean.TRUE.equals(m.get("resumed_before_thaw")) ? "before the thaw"
                            : Boolean.FALSE.equals(m.get("resumed_before_thaw")) ? "after the thaw"
                            : ((Number) m.get("partitions_with_records_waiting")).longValue() == 0 ? "no records waiting"
                            : "not within 30 s of the thaw") : "";
            sb.append(String.format("    %6s s  %-19s %s%s%n", m.get("at_s"), m.get("kind"), m.get("target"), measured));
        }
        if (r.get("roles_exited_by_themselves") instanceof List<?> exits && !exits.isEmpty()) {
            sb.append(String.format("  roles that exited by themselves (restarted, as a supervisor would): %d%n", exits.size()));
            for (Object e : exits) {
                Map<String, Object> m = (Map<String, Object>) e;
                sb.append(String.format("    %6s s  %-19s exit %s: %s%n", m.get("at_s"), m.get("role"), m.get("exit_code"), m.get("last_log_line")));
            }
        }
        Map<String, Object> k = (Map<String, Object>) r.get("kafka");
        if (k != null && (((Number) r.get("stalled")).longValue() > 0 || k.get("transactions_left_open") instanceof List<?> l && !l.isEmpty())) {
            sb.append("  kafka: partitions that did not drain ").append(k.get("stalled_partitions")).append(", transactions left open ")
                    .append(k.get("transactions_left_open")).append(k.get("error") == null ? "" : ", error " + k.get("error")).append('\n');
        }
        if (k != null && k.get("coordinator_load_races") instanceof List<?> races && !races.isEmpty()) {
            sb.append(String.format("  kafka: the group coordinator load race after a broker restart (%d log line%s; Kafka 4.3.1, "
                    + "ADR 0009), %s clean broker restart%s to heal it; a partition that did not drain may be its doing, first: %s%n",
                    races.size(), races.size() == 1 ? "" : "s", restarts(k), restarts(k) == 1 ? "" : "s", races.get(0)));
        }
        StringBuilder totals = new StringBuilder();
        for (String t : TOTALS) {
            totals.append(totals.length() == 0 ? "" : ", ").append(t).append(' ').append(r.get(t));
        }
        sb.append("  ").append(totals).append('\n');
        sb.append("  detail ").append(r.get("detail")).append('\n');
        sb.append(passed(r) ? "  verdict OK: every accepted event, tick and committed row change ran once, every effect once, "
                + "each row's changes in commit order, nothing unexpected, nothing stuck, every partition drained\n" : "  verdict FAILED\n");
        return sb.toString();
    }

    private static int restarts(Map<String, Object> kafka) {
        return kafka.get("coordinator_load_race_restarts") instanceof List<?> l ? l.size() : 0;
    }
}
