package dev.onceflow.deploy.dev;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import javax.sql.DataSource;

/**
 * What a dev run did, read back from PostgreSQL (not from the engine's own counters), so the
 * figures that matter, {@code duplicate_effects} and {@code lost}, are checked against the
 * effects themselves. {@code demo_effects} has no unique constraint: a node run twice is an
 * extra row.
 */
record DevSummary(long eventsPublished, long distinctEventKeys, long executions, long succeeded, long failed,
                  long nodeRuns, long effects, long duplicateEffects, long lost,
                  Map<String, Long> absorbed, double seconds, double executionsPerSecond, double nodesPerSecond) {

    boolean ok() {
        return duplicateEffects == 0 && lost == 0;
    }

    static DevSummary read(DataSource ds, String workflow, Set<String> keys, long published, Map<String, Long> absorbed,
                           long startMillis) throws SQLException {
        try (Connection c = ds.getConnection()) {
            Set<String> finished = new HashSet<>();
            long executions = 0;
            long succeeded = 0;
            long failed = 0;
            long lastFinish = startMillis;
            try (PreparedStatement q = c.prepareStatement(
                    "SELECT event_key, status, (extract(epoch FROM finished_at) * 1000)::bigint FROM executions WHERE workflow_id = ?")) {
                q.setString(1, workflow);
                try (ResultSet rs = q.executeQuery()) {
                    while (rs.next()) {
                        executions++;
                        String status = rs.getString(2);
                        if (status.equals("succeeded")) {
                            succeeded++;
                        } else if (status.equals("failed")) {
                            failed++;
                        }
                        long finishedAt = rs.getLong(3);
                        if (!rs.wasNull()) {
                            finished.add(rs.getString(1));
                            lastFinish = Math.max(lastFinish, finishedAt);
                        }
                    }
                }
            }
            long lost = keys.stream().filter(k -> !finished.contains(k)).count();
            long nodeRuns = single(c, "SELECT count(*) FROM processed_keys p JOIN executions e ON e.id = p.execution_id WHERE e.workflow_id = ?", workflow);
            long effects = single(c, "SELECT count(*) FROM demo_effects WHERE event_key LIKE ? || '@%'", workflow);
            long duplicates = single(c, "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM demo_effects "
                    + "WHERE event_key LIKE ? || '@%' GROUP BY event_key, node HAVING count(*) > 1) d", workflow);
            double seconds = Math.max(0.001, (lastFinish - startMillis) / 1000.0);
            return new DevSummary(published, keys.size(), executions, succeeded, failed, nodeRuns, effects, duplicates, lost,
                    absorbed, seconds, executions / seconds, nodeRuns / seconds);
        }
    }

    static long single(Connection c, String sql, String arg) throws SQLException {
        try (PreparedStatement q = c.prepareStatement(sql)) {
            q.setString(1, arg);
            try (ResultSet rs = q.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    Map<String, Object> toJson() {
        Map<String, Object> m = new java.util.LinkedHashMap<>();
        m.put("events_published", eventsPublished);
        m.put("distinct_event_keys", distinctEventKeys);
        m.put("executions", executions);
        m.put("executions_succeeded", succeeded);
        m.put("executions_failed", failed);
        m.put("node_runs", nodeRuns);
        m.put("effects", effects);
        m.put("duplicate_effects", duplicateEffects);
        m.put("lost", lost);
        m.put("absorbed", absorbed);
        m.put("seconds", Math.round(seconds * 1000) / 1000.0);
        m.put("executions_per_s", Math.round(executionsPerSecond * 10) / 10.0);
        m.put("nodes_per_s", Math.round(nodesPerSecond * 10) / 10.0);
        return m;
    }

    String human() {
        return String.format("""
                Summary
                  events published     %,d (%,d distinct keys, each %d times)
                  executions           %,d (%,d succeeded, %,d failed)
                  node runs            %,d
                  side effects         %,d rows, %,d duplicates
                  lost                 %,d (distinct keys without a finished execution)
                  duplicates absorbed  dispatcher %,d, execution key %,d, processed key %,d
                  throughput           %.1f executions/s, %.1f nodes/s over %.1f s (first publish to last finish)
                """, eventsPublished, distinctEventKeys, DemoWorkload.COPIES, executions, succeeded, failed, nodeRuns,
                effects, duplicateEffects, lost, absorbed.getOrDefault("dispatcher", 0L),
                absorbed.getOrDefault("execution_key", 0L), absorbed.getOrDefault("processed_key", 0L),
                executionsPerSecond, nodesPerSecond, seconds);
    }
}
