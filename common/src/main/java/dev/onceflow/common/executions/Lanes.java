package dev.onceflow.common.executions;

import com.fasterxml.jackson.core.type.TypeReference;
import dev.onceflow.common.Json;
import dev.onceflow.common.TaskEnvelope;
import java.io.IOException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.TreeSet;

/**
 * Lanes (ADR 0021): the unfinished executions of one ordering key, in id order, of which at most
 * their {@code per_key} run and the others wait {@code queued}. A lane has no row of its own: its
 * state is its executions, read under a transaction-scoped advisory lock on the ordering key, so
 * there is no counter to drift and nothing to rebuild after a crash or a rebalance.
 *
 * <p>Every writer of a lane takes its lock before it counts: the engine creating executions (they
 * are inserted {@code queued}, then {@link #admit}ted), and whoever finishes one (the engine's
 * finish, an operator's cancel), after its finishing {@code UPDATE}. Under READ COMMITTED each
 * statement after the lock sees every commit that released it, so of an inserter and a finisher
 * racing on one lane, whichever counts second sees the other's work: no queued execution is left
 * behind with nothing running (the lost wake-up), and no lane runs more than its limit.
 *
 * <p>A queued execution's start task waits in a {@code start} timer due at {@code infinity};
 * admitting it makes the timer due (at once for an operator, after a grace for the engine, which
 * produces the task itself and marks the timer fired after its Kafka commit). Not thread-safe: one
 * per connection.
 */
public final class Lanes {

    private static final TypeReference<List<TaskEnvelope>> TASKS = new TypeReference<>() {
    };

    /**
     * A queued execution the lane just let run.
     *
     * @param tasks its start task, from its {@code start} timer; empty when it has none (created in
     *              the same transaction, whose caller starts it itself)
     */
    public record Admitted(long id, String eventKey, String orderingKey, List<TaskEnvelope> tasks) {
    }

    private final Connection connection;
    private final PreparedStatement lock;
    private final PreparedStatement lockTotals;
    private final PreparedStatement admit;
    private final PreparedStatement state;
    private final PreparedStatement running;
    private final PreparedStatement totalsOf;

    public Lanes(Connection connection) throws SQLException {
        this.connection = connection;
        // Sorted in the subquery, so every transaction takes its locks in the same order. The
        // two-key form keeps lanes apart from Onceflow's other advisory locks (the capture's).
        this.lock = connection.prepareStatement("SELECT pg_advisory_xact_lock(hashtext('onceflow.lane'), h) "
                + "FROM (SELECT DISTINCT hashtext(k) AS h FROM unnest(?::text[]) AS u(k) ORDER BY 1) AS s");
        // A workflow under concurrency.total (ADR 0022): taken before any lane lock by every writer
        // of its lanes, so whoever holds it may count and admit across all of them.
        this.lockTotals = connection.prepareStatement("SELECT pg_advisory_xact_lock(hashtext('onceflow.total'), h) "
                + "FROM (SELECT DISTINCT hashtext(w) AS h FROM unnest(?::text[]) AS u(w) ORDER BY 1) AS s");
        // The head of each lane, up to its per_key minus what runs: one statement, through the
        // partial index executions_lane. 'queued' is checked again on the row being updated, so an
        // execution cancelled meanwhile is never set running.
        this.state = connection.prepareStatement("SELECT ordering_key, count(*) FILTER (WHERE status = 'running'), "
                + "count(*) FILTER (WHERE status = 'queued' AND (not_before IS NULL OR not_before <= now())) "
                + "FROM executions WHERE ordering_key = ANY(?) AND finished_at IS NULL GROUP BY ordering_key");
        this.running = connection.prepareStatement("SELECT workflow_id, count(*) FROM executions WHERE workflow_id = ANY(?) "
                + "AND total IS NOT NULL AND finished_at IS NULL AND status = 'running' GROUP BY workflow_id");
        this.totalsOf = connection.prepareStatement("SELECT DISTINCT workflow_id FROM executions WHERE ordering_key = ANY(?) "
                + "AND finished_at IS NULL AND total IS NOT NULL");
        // The lanes asked, and with a workflow under concurrency.total every lane of it with one
        // queued: their heads, as their per_key allows, then per such workflow the oldest of those
        // heads up to its total minus what runs (only when this transaction holds its lock).
        this.admit = connection.prepareStatement("WITH keys AS (SELECT unnest(?::text[]) AS k UNION "
                + "SELECT ordering_key FROM executions WHERE workflow_id = ANY(?) AND total IS NOT NULL "
                + "AND finished_at IS NULL AND status = 'queued'), "
                + "lane AS (SELECT x.id, x.status, x.per_key, x.total, x.workflow_id, "
                + "count(*) FILTER (WHERE x.status = 'running') OVER (PARTITION BY x.ordering_key) AS running, "
                + "row_number() OVER (PARTITION BY x.ordering_key, x.status ORDER BY x.id) AS pos "
                // an execution still in its debounce wait or before its rate limit's turn is not in line yet
                + "FROM executions x WHERE x.ordering_key IN (SELECT k FROM keys) AND x.finished_at IS NULL "
                + "AND (x.status = 'running' OR x.not_before IS NULL OR x.not_before <= now())), "
                + "heads AS (SELECT * FROM lane WHERE status = 'queued' AND pos <= coalesce(per_key, 1) - running), "
                + "wrun AS (SELECT workflow_id, count(*) AS n FROM executions WHERE workflow_id = ANY(?) AND total IS NOT NULL "
                + "AND finished_at IS NULL AND status = 'running' GROUP BY workflow_id), "
                + "ranked AS (SELECT h.id, h.total, coalesce(w.n, 0) AS wn, h.workflow_id = ANY(?) AS held, "
                + "row_number() OVER (PARTITION BY h.workflow_id, h.total IS NULL ORDER BY h.id) AS wpos "
                + "FROM heads h LEFT JOIN wrun w ON w.workflow_id = h.workflow_id), "
                + "picked AS (SELECT id FROM ranked WHERE total IS NULL OR (held AND wpos <= total - wn)), "
                + "up AS (UPDATE executions x SET status = 'running' FROM picked WHERE x.id = picked.id AND x.status = 'queued' "
                + "RETURNING x.id, x.event_key, x.ordering_key), "
                // fired_at cleared: a debounced one's timer may have fired while its lane was busy
                + "t AS (UPDATE timers SET due_at = ?, fired_at = NULL FROM up WHERE timers.execution_id = up.id "
                + "AND timers.kind = 'start' RETURNING timers.execution_id, timers.tasks) "
                + "SELECT up.id, up.event_key, up.ordering_key, t.tasks FROM up LEFT JOIN t ON t.execution_id = up.id ORDER BY up.id");
    }

    /**
     * Locks these workflows' {@code concurrency.total} until the transaction ends (ADR 0022), in
     * one fixed order. Taken before the lanes' locks.
     */
    public void lockTotals(Collection<String> workflows) throws SQLException {
        takeLocks(lockTotals, workflows);
    }

    /** Runs one of the lock statements for these names, sorted; returns once every lock is held. */
    private void takeLocks(PreparedStatement statement, Collection<String> names) throws SQLException {
        if (names.isEmpty()) {
            return;
        }
        statement.setArray(1, connection.createArrayOf("text", new TreeSet<>(names).toArray(new String[0])));
        try (ResultSet rs = statement.executeQuery()) {
            while (rs.next()) {
                // each row is one lock taken
            }
        }
    }

    /** How many executions under a {@code concurrency.total} run, by workflow (absent: none). */
    public java.util.Map<String, Integer> running(Collection<String> workflows) throws SQLException {
        java.util.Map<String, Integer> counts = new java.util.HashMap<>();
        if (workflows.isEmpty()) {
            return counts;
        }
        running.setArray(1, connection.createArrayOf("text", workflows.toArray(new String[0])));
        try (ResultSet rs = running.executeQuery()) {
            while (rs.next()) {
                counts.put(rs.getString(1), rs.getInt(2));
            }
        }
        return counts;
    }

    /** The workflows with unfinished executions under a {@code concurrency.total} in these lanes. */
    public java.util.Set<String> totalsOf(Collection<String> orderingKeys) throws SQLException {
        java.util.Set<String> workflows = new TreeSet<>();
        if (orderingKeys.isEmpty()) {
            return workflows;
        }
        totalsOf.setArray(1, connection.createArrayOf("text", orderingKeys.toArray(new String[0])));
        try (ResultSet rs = totalsOf.executeQuery()) {
            while (rs.next()) {
                workflows.add(rs.getString(1));
            }
        }
        return workflows;
    }

    /** Locks these lanes until the transaction ends, in one fixed order (no deadlock between two lockers). */
    public void lock(Collection<String> orderingKeys) throws SQLException {
        takeLocks(lock, orderingKeys);
    }

    /**
     * Each lane's running executions and those queued in line (not in a debounce wait), by
     * ordering key as {@code {running, queued}}; lanes with neither are absent. The lanes must be
     * {@link #lock}ed by this transaction for the answer to hold until it ends.
     */
    public java.util.Map<String, int[]> state(Collection<String> orderingKeys) throws SQLException {
        java.util.Map<String, int[]> lanes = new java.util.HashMap<>();
        if (orderingKeys.isEmpty()) {
            return lanes;
        }
        state.setArray(1, connection.createArrayOf("text", orderingKeys.toArray(new String[0])));
        try (ResultSet rs = state.executeQuery()) {
            while (rs.next()) {
                lanes.put(rs.getString(1), new int[] {rs.getInt(2), rs.getInt(3)});
            }
        }
        return lanes;
    }

    /**
     * Lets the head of each lane run, as far as its limit allows: sets them {@code running} and
     * their {@code start} timers due at {@code startDueMs}. The lanes must be {@link #lock}ed by
     * this transaction. For each of {@code totals}, whose {@link #lockTotals lock} this
     * transaction holds, the oldest heads of all its lanes are admitted up to its
     * {@code concurrency.total}; an execution under a total of a workflow not in {@code totals} is
     * left queued.
     */
    public List<Admitted> admit(Collection<String> orderingKeys, Collection<String> totals, long startDueMs) throws SQLException {
        List<Admitted> admitted = new ArrayList<>();
        if (orderingKeys.isEmpty() && totals.isEmpty()) {
            return admitted;
        }
        java.sql.Array workflows = connection.createArrayOf("text", new TreeSet<>(totals).toArray(new String[0]));
        admit.setArray(1, connection.createArrayOf("text", new TreeSet<>(orderingKeys).toArray(new String[0])));
        admit.setArray(2, workflows);
        admit.setArray(3, workflows);
        admit.setArray(4, workflows);
        admit.setTimestamp(5, new Timestamp(startDueMs));
        try (ResultSet rs = admit.executeQuery()) {
            while (rs.next()) {
                String tasks = rs.getString(4);
                admitted.add(new Admitted(rs.getLong(1), rs.getString(2), rs.getString(3),
                        tasks == null ? List.of() : Json.MAPPER.readValue(tasks, TASKS)));
            }
        } catch (IOException e) {
            throw new SQLException("a start timer's task does not decode: " + e.getMessage(), e);
        }
        return admitted;
    }

    /**
     * Locks the workflows' totals and the lanes, and admits: what a finish or a cancel does after
     * its update. {@code totals}: the workflows under a {@code concurrency.total} whose executions
     * it finished (a freed slot of the whole workflow may admit another lane's head).
     */
    public List<Admitted> release(Collection<String> orderingKeys, Collection<String> totals, long startDueMs) throws SQLException {
        lockTotals(totals);
        lock(orderingKeys);
        return admit(orderingKeys, totals, startDueMs);
    }
}
