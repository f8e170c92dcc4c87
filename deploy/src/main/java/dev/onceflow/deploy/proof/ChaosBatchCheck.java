package dev.onceflow.deploy.proof;

import dev.onceflow.common.local.LocalReceiver;
import java.io.IOException;
import java.sql.SQLException;
import java.util.LinkedHashMap;
import java.util.Map;
import javax.sql.DataSource;

/**
 * The chaos run's seed-shaped workload ({@code chaos-batch}: schedule → SQL query → loop → http per
 * row → condition → SQL write, then a delay and a parallel join): a local receiver that counts the
 * calls per Idempotency-Key, and the check of its invariants. Every call carries a key and no key
 * is called twice (its nodes use {@code onUnknownOutcome: fail}); every delay's follow-ups and
 * every join's follow-up ran once; every execution finished, succeeded or failed as "outcome
 * unknown" (an engine killed between a call and its record), nothing else. Thread-safe.
 */
final class ChaosBatchCheck implements AutoCloseable {

    static final String WORKFLOW = "chaos-batch";

    private final LocalReceiver receiver = LocalReceiver.start();

    ChaosBatchCheck() throws IOException {
    }

    String url() {
        return receiver.url();
    }

    /** The invariants, with {@code duplicates}, {@code unexpected} and {@code stuck} to add to the run's totals. */
    Map<String, Object> check(DataSource ds) throws SQLException {
        String mine = "workflow_id = '" + WORKFLOW + "'";
        String effectsOfMine = "left(event_key, " + (WORKFLOW.length() + 1) + ") = '" + WORKFLOW + "@'";
        Map<String, Object> r = new LinkedHashMap<>();
        long executions = ChaosCheck.count(ds, "SELECT count(*) FROM executions WHERE " + mine);
        long succeeded = ChaosCheck.count(ds, "SELECT count(*) FROM executions WHERE " + mine + " AND status = 'succeeded'");
        long unknown = ChaosCheck.count(ds, "SELECT count(*) FROM executions WHERE " + mine
                + " AND status = 'failed' AND error LIKE '%outcome unknown%'");
        // A call that timed out or could not connect fails its node (no retry policy here): the
        // receiver may have seen it, and it is not made again, so no key is called twice.
        String callError = "(error LIKE '%notify'' failed: POST % timed out after %' OR error LIKE '%notify'' failed: POST % failed: java.%')";
        long callErrors = ChaosCheck.count(ds, "SELECT count(*) FROM executions WHERE " + mine + " AND status = 'failed' AND " + callError);
        long otherFailures = ChaosCheck.count(ds, "SELECT count(*) FROM executions WHERE " + mine
                + " AND status <> 'succeeded' AND status <> 'running' AND NOT (status = 'failed' AND error LIKE '%outcome unknown%') "
                + "AND NOT (status = 'failed' AND " + callError + ")");
        java.util.List<String> otherErrors = new java.util.ArrayList<>();
        try (java.sql.Connection c = ds.getConnection(); java.sql.Statement st = c.createStatement();
             java.sql.ResultSet rs = st.executeQuery("SELECT event_key || ': ' || status || ' ' || coalesce(error, '') FROM executions WHERE "
                     + mine + " AND status <> 'succeeded' AND status <> 'running' AND NOT (status = 'failed' AND error LIKE "
                     + "'%outcome unknown%') AND NOT (status = 'failed' AND " + callError + ") LIMIT 5")) {
            while (rs.next()) {
                otherErrors.add(rs.getString(1));
            }
        }
        long running = ChaosCheck.count(ds, "SELECT count(*) FROM executions WHERE " + mine + " AND status = 'running'");
        long duplicateEffects = ChaosCheck.count(ds, "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM chaos_effects WHERE "
                + effectsOfMine + " GROUP BY event_key, node, row_id) x");
        // A succeeded execution wrote one effect per row (3), left, right and done once each.
        long missing = ChaosCheck.count(ds, "SELECT count(*) FROM executions e WHERE " + mine + " AND status = 'succeeded' AND "
                + "(SELECT count(*) FROM chaos_effects f WHERE f.event_key = e.event_key) <> 6");
        long calledTwice = receiver.keysCalledMoreThanOnce();
        long withoutKey = receiver.callsWithoutKey();
        r.put("executions", executions);
        r.put("succeeded", succeeded);
        r.put("failed_outcome_unknown", unknown);
        r.put("failed_call_error", callErrors);
        r.put("failed_otherwise", otherFailures);
        r.put("failed_otherwise_first", otherErrors);
        r.put("running", running);
        r.put("http_keys_called", receiver.callsByKey().size());
        r.put("http_keys_called_more_than_once", calledTwice);
        r.put("http_calls_without_key", withoutKey);
        r.put("duplicate_effects", duplicateEffects);
        r.put("succeeded_with_missing_effects", missing);
        r.put("duplicates", calledTwice + withoutKey + duplicateEffects);
        r.put("unexpected", otherFailures + missing);
        r.put("stuck", running);
        return r;
    }

    @Override
    public void close() {
        receiver.close();
    }
}
