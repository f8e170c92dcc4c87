package dev.onceflow.engine;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import dev.onceflow.common.EventEnvelope;
import dev.onceflow.common.Json;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Savepoint;
import java.sql.Timestamp;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.Optional;

/**
 * Executions and processed keys, on one worker's connection, inside the batch transaction the
 * caller opens and commits. The unique {@code executions.event_key} and the primary key of
 * {@code processed_keys} are the single winners of every race: an {@code INSERT … ON CONFLICT DO
 * NOTHING} that inserts nothing means another delivery already won. Not thread-safe: one per
 * worker, owned by its {@link EngineLoop}.
 */
final class ExecutionStore implements AutoCloseable {

    private static final TypeReference<List<String>> STRINGS = new TypeReference<>() {
    };

    /**
     * An execution row as far as the engine needs it: enough to produce its outcome again, with
     * the same content, when a redelivery finds it finished.
     *
     * @param finishedAt  epoch ms, 0 while running
     * @param publishedAt epoch ms of the trigger record that created it, 0 when unknown
     */
    record Execution(long id, String status, String workflow, int version, String error, long finishedAt,
                     long publishedAt) {
        boolean running() {
            return "running".equals(status);
        }
    }

    /** A processed key found already present: the node ran before; its stored outcome. */
    record StoredRun(String status, JsonNode output, List<String> next, String error) {
    }

    private final Connection connection;
    private final PreparedStatement insertExecution;
    private final PreparedStatement selectExecution;
    private final PreparedStatement finishExecution;
    private final PreparedStatement claimKey;
    private final PreparedStatement selectKey;
    private final PreparedStatement completeKey;
    private final PreparedStatement insertExecutions;
    private final PreparedStatement claimKeys;
    private final List<Runnable> pendingFinishes = new ArrayList<>();
    private int pendingCompletes;
    private int savepoints;
    private final boolean logicalWal;
    private final PreparedStatement emitDepth;
    /** The depth last told to PostgreSQL in this transaction, -1 for none (ADR 0011). */
    private int markedDepth = -1;

    ExecutionStore(Connection connection) throws SQLException {
        this.connection = connection;
        connection.setAutoCommit(false);
        try (java.sql.Statement st = connection.createStatement(); ResultSet rs = st.executeQuery("SHOW wal_level")) {
            logicalWal = rs.next() && "logical".equals(rs.getString(1));
        }
        connection.commit();
        emitDepth = connection.prepareStatement("SELECT pg_logical_emit_message(true, 'onceflow.depth', ?)");
        insertExecution = connection.prepareStatement("INSERT INTO executions (event_key, workflow_id, workflow_version, "
                + "status, trigger, source, published_at, error, finished_at, depth) VALUES (?, ?, ?, ?, ?::jsonb, ?, ?, ?, "
                + "CASE WHEN ? = 'running' THEN NULL ELSE ?::timestamptz END, ?) ON CONFLICT (event_key) DO NOTHING RETURNING id");
        selectExecution = connection.prepareStatement("SELECT id, status, workflow_id, workflow_version, error, "
                + "finished_at, published_at FROM executions WHERE event_key = ?");
        // The finish time comes from the engine's clock, not now(): now() is the start of the
        // batch's transaction, and the outcome record must carry exactly the stored time, so that
        // an outcome produced again for a redelivery has the same content as the first.
        finishExecution = connection.prepareStatement("UPDATE executions SET status = ?, error = ?, finished_at = ?::timestamptz "
                + "WHERE id = ? AND finished_at IS NULL");
        insertExecutions = connection.prepareStatement("INSERT INTO executions (event_key, workflow_id, workflow_version, "
                + "status, trigger, source, published_at, depth) SELECT k, w, v, 'running', t::jsonb, s, "
                + "CASE WHEN p > 0 THEN to_timestamp(p / 1000.0) END, d "
                + "FROM unnest(?::text[], ?::text[], ?::int[], ?::text[], ?::text[], ?::bigint[], ?::int[]) "
                + "AS u(k, w, v, t, s, p, d) "
                + "ON CONFLICT (event_key) DO NOTHING RETURNING event_key, id");
        claimKeys = connection.prepareStatement("INSERT INTO processed_keys (key, execution_id, node_id, path, status) "
                + "SELECT k, e, n, p, 'started' FROM unnest(?::text[], ?::bigint[], ?::text[], ?::text[]) AS u(k, e, n, p) "
                + "ON CONFLICT (key) DO NOTHING RETURNING key");
        claimKey = connection.prepareStatement("INSERT INTO processed_keys (key, execution_id, node_id, path, status) "
                + "VALUES (?, ?, ?, ?, 'started') ON CONFLICT (key) DO NOTHING");
        selectKey = connection.prepareStatement("SELECT status, output, next, error FROM processed_keys WHERE key = ?");
        completeKey = connection.prepareStatement("UPDATE processed_keys SET status = ?, output = ?::jsonb, "
                + "next = ?::jsonb, error = ?, finished_at = now() WHERE key = ?");
    }

    Connection connection() {
        return connection;
    }

    /**
     * Creates the execution of an event unless one exists for its key.
     *
     * @return the new execution id, or empty when the key already had an execution (a duplicate event)
     */
    Optional<Long> createExecution(EventEnvelope event, String status, String error, long finishedAt) throws SQLException {
        insertExecution.setString(1, event.eventKey());
        insertExecution.setString(2, event.workflow());
        insertExecution.setInt(3, event.version());
        insertExecution.setString(4, status);
        insertExecution.setString(5, Json.text(event.data()));
        insertExecution.setString(6, event.source());
        insertExecution.setTimestamp(7, event.publishedAt() > 0 ? new Timestamp(event.publishedAt()) : null);
        insertExecution.setString(8, error);
        insertExecution.setString(9, status);
        insertExecution.setTimestamp(10, new Timestamp(finishedAt));
        insertExecution.setInt(11, event.depth());
        try (ResultSet rs = insertExecution.executeQuery()) {
            return rs.next() ? Optional.of(rs.getLong(1)) : Optional.empty();
        }
    }

    /**
     * Creates the running executions of many events in one statement (one round trip) unless one
     * exists for a key. The event keys must be distinct.
     *
     * @return event key → new execution id, for the keys that had no execution (the others are duplicates)
     */
    Map<String, Long> createExecutions(List<EventEnvelope> events) throws SQLException {
        Map<String, Long> created = new HashMap<>();
        if (events.isEmpty()) {
            return created;
        }
        int n = events.size();
        String[] keys = new String[n];
        String[] workflows = new String[n];
        Integer[] versions = new Integer[n];
        String[] triggers = new String[n];
        String[] sources = new String[n];
        Long[] published = new Long[n];
        Integer[] depths = new Integer[n];
        for (int i = 0; i < n; i++) {
            EventEnvelope e = events.get(i);
            keys[i] = e.eventKey();
            workflows[i] = e.workflow();
            versions[i] = e.version();
            triggers[i] = Json.text(e.data());
            sources[i] = e.source();
            published[i] = e.publishedAt();
            depths[i] = e.depth();
        }
        insertExecutions.setArray(1, connection.createArrayOf("text", keys));
        insertExecutions.setArray(2, connection.createArrayOf("text", workflows));
        insertExecutions.setArray(3, connection.createArrayOf("int4", versions));
        insertExecutions.setArray(4, connection.createArrayOf("text", triggers));
        insertExecutions.setArray(5, connection.createArrayOf("text", sources));
        insertExecutions.setArray(6, connection.createArrayOf("int8", published));
        insertExecutions.setArray(7, connection.createArrayOf("int4", depths));
        try (ResultSet rs = insertExecutions.executeQuery()) {
            while (rs.next()) {
                created.put(rs.getString(1), rs.getLong(2));
            }
        }
        return created;
    }

    /**
     * Claims many node runs in one statement (one round trip): the multi-row form of
     * {@link #claim}, with the same single-winner semantics per key. The keys must be distinct.
     *
     * @return the keys this call inserted (their nodes must run); the others existed
     */
    Set<String> claimAll(List<String> keys, List<Long> executionIds, List<String> nodeIds, List<String> paths)
            throws SQLException {
        Set<String> claimed = new HashSet<>();
        if (keys.isEmpty()) {
            return claimed;
        }
        claimKeys.setArray(1, connection.createArrayOf("text", keys.toArray(new String[0])));
        claimKeys.setArray(2, connection.createArrayOf("int8", executionIds.toArray(new Long[0])));
        claimKeys.setArray(3, connection.createArrayOf("text", nodeIds.toArray(new String[0])));
        claimKeys.setArray(4, connection.createArrayOf("text", paths.toArray(new String[0])));
        try (ResultSet rs = claimKeys.executeQuery()) {
            while (rs.next()) {
                claimed.add(rs.getString(1));
            }
        }
        return claimed;
    }

    /**
     * Queues {@link #finishExecution}: sent with the other queued finishes as one JDBC batch at
     * the next {@link #flushFinishes} (or before a read of executions); {@code onFinished} runs
     * then if this statement is the one that finished the execution.
     */
    void finishLater(long executionId, String status, String error, long finishedAt, Runnable onFinished)
            throws SQLException {
        finishExecution.setString(1, status);
        finishExecution.setString(2, error);
        finishExecution.setTimestamp(3, new Timestamp(finishedAt));
        finishExecution.setLong(4, executionId);
        finishExecution.addBatch();
        pendingFinishes.add(onFinished);
    }

    void flushFinishes() throws SQLException {
        if (pendingFinishes.isEmpty()) {
            return;
        }
        List<Runnable> callbacks = new ArrayList<>(pendingFinishes);
        pendingFinishes.clear();
        int[] counts = finishExecution.executeBatch();
        for (int i = 0; i < counts.length; i++) {
            if (counts[i] == 1) {
                callbacks.get(i).run();
            }
        }
    }

    Optional<Execution> execution(String eventKey) throws SQLException {
        flushFinishes(); // an execution finished earlier in this batch must be seen finished
        selectExecution.setString(1, eventKey);
        try (ResultSet rs = selectExecution.executeQuery()) {
            if (!rs.next()) {
                return Optional.empty();
            }
            Timestamp finished = rs.getTimestamp(6);
            Timestamp published = rs.getTimestamp(7);
            return Optional.of(new Execution(rs.getLong(1), rs.getString(2), rs.getString(3), rs.getInt(4), rs.getString(5),
                    finished == null ? 0 : finished.getTime(), published == null ? 0 : published.getTime()));
        }
    }

    /** Marks the execution finished unless it already is; returns whether this call finished it. */
    boolean finishExecution(long executionId, String status, String error, long finishedAt) throws SQLException {
        flushFinishes();
        finishExecution.setString(1, status);
        finishExecution.setString(2, error);
        finishExecution.setTimestamp(3, new Timestamp(finishedAt));
        finishExecution.setLong(4, executionId);
        return finishExecution.executeUpdate() == 1;
    }

    /**
     * Claims a node run. Returns true when this delivery inserted the processed key and so must
     * run the node; false when the key existed (the node ran, or is running in a transaction that
     * committed first: PostgreSQL makes this insert wait for it).
     */
    boolean claim(String key, long executionId, String nodeId, String path) throws SQLException {
        claimKey.setString(1, key);
        claimKey.setLong(2, executionId);
        claimKey.setString(3, nodeId);
        claimKey.setString(4, path);
        return claimKey.executeUpdate() == 1;
    }

    Optional<StoredRun> storedRun(String key) throws SQLException {
        flush(); // an outcome completed earlier in this batch must be visible
        selectKey.setString(1, key);
        try (ResultSet rs = selectKey.executeQuery()) {
            if (!rs.next()) {
                return Optional.empty();
            }
            String output = rs.getString(2);
            String next = rs.getString(3);
            return Optional.of(new StoredRun(rs.getString(1),
                    output == null ? null : Json.tree(output),
                    next == null ? List.of() : Json.MAPPER.convertValue(Json.tree(next), STRINGS),
                    rs.getString(4)));
        }
    }

    void complete(String key, String status, JsonNode output, List<String> next, String error) throws SQLException {
        completeKey.setString(1, status);
        completeKey.setString(2, output == null ? null : Json.text(output));
        completeKey.setString(3, Json.text(next));
        completeKey.setString(4, error);
        completeKey.setString(5, key);
        // Queued, and sent as one JDBC batch (one round trip) before the commit: nothing in the
        // batch reads an outcome back except storedRun, which flushes first.
        completeKey.addBatch();
        pendingCompletes++;
    }

    private void flush() throws SQLException {
        if (pendingCompletes > 0) {
            pendingCompletes = 0;
            completeKey.executeBatch();
        }
    }

    /**
     * Tells PostgreSQL, in this transaction, that row changes from here on are made at
     * {@code depth}: a transactional logical decoding message that the row-change capture reads
     * in WAL order with the changes (ADR 0011). Sent only when it differs from the last one of
     * the transaction, and only with {@code wal_level = logical} (no capture can read it otherwise).
     */
    void markDepth(int depth) throws SQLException {
        if (!logicalWal || depth == markedDepth) {
            return;
        }
        emitDepth.setString(1, Integer.toString(depth));
        emitDepth.execute();
        markedDepth = depth;
    }

    /** Rolls back to a savepoint; a depth message sent after it is undone with it. */
    void rollbackTo(Savepoint savepoint) throws SQLException {
        connection.rollback(savepoint);
        markedDepth = -1;
    }

    Savepoint savepoint() throws SQLException {
        return connection.setSavepoint("s" + (savepoints++ & 0xffff));
    }

    void commit() throws SQLException {
        flush();
        flushFinishes();
        connection.commit();
        savepoints = 0;
        markedDepth = -1;
    }

    /** Sends every queued statement now, so a savepoint taken next covers only what follows. */
    void flushQueued() throws SQLException {
        flush();
        flushFinishes();
    }

    /**
     * Drops the queued statements without sending them: they belong to work that is being rolled
     * back to a savepoint taken after the last {@link #flushQueued}.
     */
    void discardQueued() throws SQLException {
        pendingCompletes = 0;
        pendingFinishes.clear();
        completeKey.clearBatch();
        finishExecution.clearBatch();
    }

    void rollbackQuietly() {
        markedDepth = -1;
        pendingCompletes = 0;
        pendingFinishes.clear();
        try {
            completeKey.clearBatch();
            finishExecution.clearBatch();
        } catch (SQLException ignored) {
            // the connection is broken; the caller replaces it
        }
        try {
            connection.rollback();
        } catch (SQLException ignored) {
            // the connection is broken; the caller replaces it
        }
        savepoints = 0;
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
