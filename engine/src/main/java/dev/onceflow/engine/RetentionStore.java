package dev.onceflow.engine;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

/**
 * Retention's statements (ADR 0015), on one connection of its own, each call one batch inside a
 * transaction the caller commits. Both statements lock only rows no one else holds
 * ({@code FOR UPDATE SKIP LOCKED}), so runners in many engine processes remove disjoint rows and
 * never wait on an engine for a row it reads; any other wait is cut at {@link #LOCK_TIMEOUT_MS}.
 * Not thread-safe: owned by one {@link Retention} (or a test).
 */
final class RetentionStore implements AutoCloseable {

    /** How long a retention statement may wait for a lock: it gives way to engines and tries at its next pass. */
    static final long LOCK_TIMEOUT_MS = 1_000;
    /** A batch that runs longer than this is cancelled: batches are meant to take milliseconds. */
    static final long STATEMENT_TIMEOUT_MS = 30_000;

    /** One removal batch: executions removed (with their history) and event keys retired. */
    record Removed(int executions, int keysRetired) {
    }

    private final Connection connection;
    private final PreparedStatement remove;
    private final PreparedStatement expire;
    private final PreparedStatement expireLimits;

    RetentionStore(Connection connection) throws SQLException {
        this.connection = connection;
        connection.setTransactionIsolation(Connection.TRANSACTION_READ_COMMITTED);
        connection.setAutoCommit(false);
        try (Statement st = connection.createStatement()) {
            st.execute("SET lock_timeout = " + LOCK_TIMEOUT_MS);
            st.execute("SET statement_timeout = " + STATEMENT_TIMEOUT_MS);
            st.execute("SET application_name = 'onceflow-retention'");
        }
        connection.commit();
        // One statement, so one snapshot and one transaction: the key is retired exactly when its
        // execution disappears (an engine that waited on this delete sees both; ExecutionStore).
        // The oldest first, those an engine holds skipped. A key already past the horizon is not
        // retired: it would be expired at once.
        remove = connection.prepareStatement("""
                WITH doomed AS (
                    SELECT id, event_key, finished_at FROM executions
                    WHERE finished_at IS NOT NULL AND finished_at < now() - ? * interval '1 ms'
                    ORDER BY finished_at LIMIT ?
                    FOR UPDATE SKIP LOCKED),
                retired AS (
                    INSERT INTO retired_event_keys (event_key, finished_at)
                    SELECT event_key, finished_at FROM doomed WHERE finished_at >= now() - ? * interval '1 ms'
                    ON CONFLICT (event_key) DO UPDATE SET finished_at = greatest(retired_event_keys.finished_at, EXCLUDED.finished_at)
                    RETURNING 1),
                removed AS (
                    DELETE FROM executions e USING doomed d WHERE e.id = d.id RETURNING 1)
                SELECT (SELECT count(*) FROM removed), (SELECT count(*) FROM retired)""");
        expire = connection.prepareStatement("""
                DELETE FROM retired_event_keys WHERE event_key IN (
                    SELECT event_key FROM retired_event_keys WHERE finished_at < now() - ? * interval '1 ms'
                    ORDER BY finished_at LIMIT ?
                    FOR UPDATE SKIP LOCKED)""");
        // ADR 0022: a bucket whose next start is long past is a full one, and a closed debounce
        // window is no window: both the same as no row, so gone.
        expireLimits = connection.prepareStatement("""
                WITH b AS (DELETE FROM rate_buckets WHERE bucket IN (
                    SELECT bucket FROM rate_buckets WHERE tat < now() - interval '1 minute' LIMIT ? FOR UPDATE SKIP LOCKED)
                    RETURNING 1),
                w AS (DELETE FROM debounce_windows WHERE ordering_key IN (
                    SELECT ordering_key FROM debounce_windows WHERE until < now() - interval '1 minute' LIMIT ? FOR UPDATE SKIP LOCKED)
                    RETURNING 1)
                SELECT greatest((SELECT count(*) FROM b), (SELECT count(*) FROM w))""");
    }

    /**
     * Removes up to {@code limit} executions that finished more than {@code historyMs} ago (never
     * an unfinished one), with their processed keys, timers and branch arrivals (cascade), and
     * retires their event keys unless already past {@code horizonMs}. Uncommitted.
     */
    Removed removeFinished(long historyMs, long horizonMs, int limit) throws SQLException {
        remove.setLong(1, historyMs);
        remove.setInt(2, limit);
        remove.setLong(3, horizonMs);
        try (ResultSet rs = remove.executeQuery()) {
            rs.next();
            return new Removed(rs.getInt(1), rs.getInt(2));
        }
    }

    /** Deletes up to {@code limit} retired keys whose execution finished more than {@code horizonMs} ago. Uncommitted. */
    int expireKeys(long horizonMs, int limit) throws SQLException {
        expire.setLong(1, horizonMs);
        expire.setInt(2, limit);
        return expire.executeUpdate();
    }

    /**
     * Deletes up to {@code limit} rate limit buckets and as many debounce windows that mean
     * nothing any more (ADR 0022); returns the larger count. Uncommitted.
     */
    int expireLimits(int limit) throws SQLException {
        expireLimits.setInt(1, limit);
        expireLimits.setInt(2, limit);
        try (ResultSet rs = expireLimits.executeQuery()) {
            rs.next();
            return rs.getInt(1);
        }
    }

    void commit() throws SQLException {
        connection.commit();
    }

    void rollbackQuietly() {
        try {
            connection.rollback();
        } catch (SQLException ignored) {
            // the connection is broken; the owner replaces it
        }
    }

    @Override
    public void close() {
        try {
            connection.close();
        } catch (SQLException ignored) {
            // closing a broken connection
        }
    }
}
