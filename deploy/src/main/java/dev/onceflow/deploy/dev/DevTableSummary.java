package dev.onceflow.deploy.dev;

import dev.onceflow.dispatcher.CaptureStatus;
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
import javax.sql.DataSource;

/**
 * What the table-triggered example did in a dev run, read back from PostgreSQL. Each execution
 * is matched to the row change that should have started it by its trigger data ({@code op},
 * {@code row.id}, {@code row.status}), not by event key: a change whose event key were not stable
 * (a replay with another key) would show as {@code duplicate_executions}, a change that fired
 * although it must not (an unwatched column, the condition) as {@code unexpected}, and a change
 * without a finished execution as {@code lost}. {@code demo_effects} has no unique constraint, so
 * a node run twice is an extra row ({@code duplicate_effects}).
 *
 * @param captureState    the dev dispatcher's capture state ({@code LEADING} when it captured)
 * @param captured        row changes the capture read (every change of the watched table, fired or not)
 * @param capturedEvents  events the capture published for them
 * @param sampleEventKey  one execution's event key, to show its shape
 */
record DevTableSummary(String workflow, String table, long inserts, long updates, long deletes, long expectedExecutions,
                       String captureState, long captured, long capturedEvents, long executions, long succeeded,
                       long failed, long duplicateExecutions, long unexpected, long lost, long effects,
                       long expectedEffects, long duplicateEffects, String sampleEventKey) {

    boolean ok() {
        return duplicateExecutions == 0 && unexpected == 0 && lost == 0 && duplicateEffects == 0 && effects == expectedEffects;
    }

    static DevTableSummary read(DataSource ds, String workflow, DemoRowChanges changes, CaptureStatus capture)
            throws SQLException {
        Map<DemoRowChanges.Expected, Integer> runs = new HashMap<>();
        Set<DemoRowChanges.Expected> finished = new HashSet<>();
        Set<DemoRowChanges.Expected> expected = new HashSet<>(changes.expected());
        long executions = 0;
        long succeeded = 0;
        long failed = 0;
        long unexpected = 0;
        String sample = null;
        try (Connection c = ds.getConnection()) {
            try (PreparedStatement q = c.prepareStatement("SELECT event_key, status, finished_at IS NOT NULL, trigger->>'op', "
                    + "(trigger->'row'->>'id')::bigint, trigger->'row'->>'status' FROM executions WHERE workflow_id = ? ORDER BY id")) {
                q.setString(1, workflow);
                try (ResultSet rs = q.executeQuery()) {
                    while (rs.next()) {
                        executions++;
                        sample = sample == null ? rs.getString(1) : sample;
                        if ("succeeded".equals(rs.getString(2))) {
                            succeeded++;
                        } else if ("failed".equals(rs.getString(2))) {
                            failed++;
                        }
                        DemoRowChanges.Expected change = new DemoRowChanges.Expected(rs.getString(4), rs.getLong(5), rs.getString(6));
                        if (!expected.contains(change)) {
                            unexpected++;
                            continue;
                        }
                        runs.merge(change, 1, Integer::sum);
                        if (rs.getBoolean(3)) {
                            finished.add(change);
                        }
                    }
                }
            }
            long duplicateExecutions = runs.values().stream().mapToLong(n -> n - 1).sum();
            long lost = expected.stream().filter(e -> !finished.contains(e)).count();
            long effects = DevSummary.single(c, "SELECT count(*) FROM demo_effects WHERE event_key LIKE ? || '@%'", workflow);
            long duplicateEffects = DevSummary.single(c, "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM demo_effects "
                    + "WHERE event_key LIKE ? || '@%' GROUP BY event_key, node HAVING count(*) > 1) d", workflow);
            List<DemoRowChanges.Expected> all = changes.expected();
            return new DevTableSummary(workflow, "public." + DemoRowChanges.TABLE, changes.inserts(), changes.updates(),
                    changes.deletes(), all.size(), capture == null ? "NONE" : capture.state(),
                    capture == null ? 0 : capture.changes(), capture == null ? 0 : capture.events(), executions, succeeded, failed,
                    duplicateExecutions, unexpected, lost, effects, all.size() + changes.shipped(), duplicateEffects, sample);
        }
    }

    Map<String, Object> toJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("workflow", workflow);
        m.put("table", table);
        m.put("rows_inserted", inserts);
        m.put("rows_updated", updates);
        m.put("rows_deleted", deletes);
        m.put("expected_executions", expectedExecutions);
        m.put("capture_state", captureState);
        m.put("changes_captured", captured);
        m.put("events_published", capturedEvents);
        m.put("executions", executions);
        m.put("executions_succeeded", succeeded);
        m.put("executions_failed", failed);
        m.put("duplicate_executions", duplicateExecutions);
        m.put("unexpected", unexpected);
        m.put("lost", lost);
        m.put("effects", effects);
        m.put("expected_effects", expectedEffects);
        m.put("duplicate_effects", duplicateEffects);
        m.put("sample_event_key", sampleEventKey);
        return m;
    }

    String human() {
        return String.format("""
                  table trigger        %s on %s: %,d inserts, %,d updates, %,d deletes made; %,d of them must fire
                    capture            %s, %,d changes captured, %,d events published
                    executions         %,d (%,d succeeded, %,d failed); %,d for one change twice, %,d unexpected, %,d lost
                    side effects       %,d rows of %,d expected, %,d duplicates
                    event key          %s
                """, workflow, table, inserts, updates, deletes, expectedExecutions, captureState, captured, capturedEvents,
                executions, succeeded, failed, duplicateExecutions, unexpected, lost, effects, expectedEffects, duplicateEffects,
                sampleEventKey == null ? "-" : sampleEventKey);
    }
}
