package dev.onceflow.common.executions;

import com.fasterxml.jackson.databind.JsonNode;
import dev.onceflow.common.Json;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import javax.sql.DataSource;

/**
 * The reads and operator commands over the engine's execution tables ({@code executions},
 * {@code processed_keys}, {@code retired_event_keys}) for the roles that are not the engine: the
 * dispatcher's admin API (list, show, and what it validates an operator's command with, ADR 0025)
 * and its schedule source (the last tick). Operator commands change nothing here: the engine
 * applies them. The engine owns these tables: their shape is the one migrations {@code V1__core.sql},
 * {@code V3__execution_depth.sql}, {@code V4__waiting_executions.sql} and {@code V5__retention.sql}
 * give them, and a migration that changes a column read here changes this class with it. The
 * engine writes them through its own store ({@code ExecutionStore}), with the same
 * {@link ExecutionStatus} and {@link NodeStatus}; the proof harness keeps its own SQL on purpose.
 * Thread-safe: each call takes its own connection and ends its own transaction.
 */
public final class ExecutionRecords {

    /**
     * What {@link #list} returns; each condition is left out when null. {@code status} is the
     * status as shown ({@link ShownStatus}): {@code waiting} and {@code running} split the
     * executions stored {@code running} by whether they wait on a timer.
     */
    public record Filter(String workflowId, ShownStatus status, Instant since) {

        public static final Filter ALL = new Filter(null, null, null);
    }

    /**
     * The node a failed execution continues from.
     *
     * @param path    the loop iteration or branch it failed in, empty on the main path
     * @param attempt the highest attempt of that node so far (on the main path, or of that failed run)
     * @param outputs the outputs of the main path's nodes that succeeded or wait, oldest first
     */
    public record FailedNode(String nodeId, String path, int attempt, List<Output> outputs) {

        public FailedNode {
            outputs = List.copyOf(outputs);
        }
    }

    /** One node's output, as a retried task carries it. */
    public record Output(String nodeId, JsonNode output) {
    }

    /**
     * An execution that waits on a timer: a delay node's, or the backoff before a node's next
     * attempt (not a call's lease: that call is in flight). Uses {@code timers_execution}.
     */
    private static final String WAITS_ON_TIMER = "EXISTS (SELECT 1 FROM timers t WHERE t.execution_id = executions.id "
            + "AND t.fired_at IS NULL AND t.kind IN ('delay', 'retry'))";
    /** The status as shown ({@link ShownStatus}), in SQL; the timers are read only for running executions. */
    private static final String SHOWN_STATUS = "CASE WHEN status = 'running' AND " + WAITS_ON_TIMER + " THEN 'waiting' ELSE status END";
    private static final String ROW_COLUMNS = "id, event_key, workflow_id, workflow_version, status, created_at, finished_at, error, "
            + "status = 'running' AND " + WAITS_ON_TIMER;
    private static final String EXECUTION_COLUMNS = ROW_COLUMNS + ", trigger, vars, depth, published_at, ordering_key";

    private final DataSource dataSource;

    public ExecutionRecords(DataSource dataSource) {
        this.dataSource = dataSource;
    }

    /**
     * Executions newest first (by id), at most {@code limit}, those with an id below {@code cursor}
     * when it is not null: the cursor is the last id of the previous page.
     */
    public Page list(Filter filter, Long cursor, int limit) throws SQLException {
        StringBuilder sql = new StringBuilder("SELECT " + ROW_COLUMNS + " FROM executions WHERE true");
        List<Object> args = new ArrayList<>();
        if (filter.workflowId() != null) {
            sql.append(" AND workflow_id = ?");
            args.add(filter.workflowId());
        }
        if (filter.status() != null) {
            sql.append(" AND ").append(SHOWN_STATUS).append(" = ?");
            args.add(filter.status().word());
        }
        if (filter.since() != null) {
            sql.append(" AND created_at >= ?");
            args.add(Timestamp.from(filter.since()));
        }
        if (cursor != null) {
            sql.append(" AND id < ?");
            args.add(cursor);
        }
        // One row more than the page tells whether another page follows.
        sql.append(" ORDER BY id DESC LIMIT ?");
        args.add(limit + 1);
        List<ExecutionRow> rows = new ArrayList<>();
        try (Connection c = dataSource.getConnection(); PreparedStatement q = c.prepareStatement(sql.toString())) {
            for (int i = 0; i < args.size(); i++) {
                q.setObject(i + 1, args.get(i));
            }
            try (ResultSet rs = q.executeQuery()) {
                while (rs.next()) {
                    rows.add(row(rs));
                }
            }
        }
        boolean more = rows.size() > limit;
        List<ExecutionRow> page = more ? rows.subList(0, limit) : rows;
        return new Page(page, more ? page.get(page.size() - 1).id() : null);
    }

    /** The execution of an event key, if it (still) exists. */
    public Optional<Execution> find(String eventKey) throws SQLException {
        try (Connection c = dataSource.getConnection();
             PreparedStatement q = c.prepareStatement("SELECT " + EXECUTION_COLUMNS + " FROM executions WHERE event_key = ?")) {
            q.setString(1, eventKey);
            try (ResultSet rs = q.executeQuery()) {
                return rs.next() ? Optional.of(execution(rs)) : Optional.empty();
            }
        }
    }

    /**
     * Whether retention removed the execution of this event key (ADR 0015): its key still absorbs
     * duplicates until {@code retention.keys.ms}.
     */
    public boolean retired(String eventKey) throws SQLException {
        try (Connection c = dataSource.getConnection();
             PreparedStatement q = c.prepareStatement("SELECT 1 FROM retired_event_keys WHERE event_key = ?")) {
            q.setString(1, eventKey);
            try (ResultSet rs = q.executeQuery()) {
                return rs.next();
            }
        }
    }

    /**
     * The node runs of an execution in the order they ran ({@link RunOrder}: start, finish, then
     * the follow-ups each chose), each with its status as shown, derived with the execution's
     * status read in the same statement (a cancelled execution's started or waiting runs show
     * {@code cancelled}; the stored rows stay as the engine wrote them).
     */
    public List<NodeRun> nodeRuns(long executionId) throws SQLException {
        List<NodeRun> runs = new ArrayList<>();
        try (Connection c = dataSource.getConnection();
             PreparedStatement q = c.prepareStatement("SELECT p.key, p.node_id, p.path, p.attempt, p.status, p.started_at, p.finished_at, "
                     + "p.output, p.error, p.next, e.status FROM processed_keys p JOIN executions e ON e.id = p.execution_id "
                     + "WHERE p.execution_id = ?")) {
            q.setLong(1, executionId);
            try (ResultSet rs = q.executeQuery()) {
                while (rs.next()) {
                    NodeStatus stored = NodeStatus.of(rs.getString(5));
                    runs.add(new NodeRun(rs.getString(1), rs.getString(2), rs.getString(3), rs.getInt(4), stored,
                            ShownStatus.ofNode(stored, ExecutionStatus.of(rs.getString(11))), instant(rs.getTimestamp(6)),
                            instant(rs.getTimestamp(7)), json(rs.getString(8)), rs.getString(9), strings(json(rs.getString(10)))));
                }
            }
        }
        return RunOrder.sort(runs);
    }

    /**
     * Executions per workflow by status as shown, in one statement (a scan of {@code executions};
     * the timers are read only for running ones). Every status is present, zero when none.
     */
    public java.util.SortedMap<String, java.util.Map<ShownStatus, Long>> countsByWorkflow() throws SQLException {
        java.util.SortedMap<String, java.util.Map<ShownStatus, Long>> counts = new java.util.TreeMap<>();
        try (Connection c = dataSource.getConnection();
             PreparedStatement q = c.prepareStatement("SELECT workflow_id, " + SHOWN_STATUS + ", count(*) FROM executions GROUP BY 1, 2")) {
            q.setQueryTimeout(30);
            try (ResultSet rs = q.executeQuery()) {
                while (rs.next()) {
                    counts.computeIfAbsent(rs.getString(1), w -> zeros())
                            .put(ShownStatus.parse(rs.getString(2)).orElseThrow(), rs.getLong(3));
                }
            }
        }
        return counts;
    }

    /** Every status with count zero, in the vocabulary's order. */
    public static java.util.Map<ShownStatus, Long> zeros() {
        java.util.Map<ShownStatus, Long> m = new java.util.EnumMap<>(ShownStatus.class);
        for (ShownStatus s : ShownStatus.values()) {
            m.put(s, 0L);
        }
        return m;
    }

    private static List<String> strings(JsonNode array) {
        List<String> out = new ArrayList<>();
        if (array != null && array.isArray()) {
            array.forEach(n -> out.add(n.asText()));
        }
        return out;
    }

    /**
     * The latest schedule tick that started an execution of a workflow: the largest event-key
     * timestamp among its executions whose key ends in {@code @<epoch ms>} (a tick's key has no
     * {@code #} discriminator), if any.
     */
    public Optional<Instant> lastTick(String workflowId) throws SQLException {
        try (Connection c = dataSource.getConnection();
             PreparedStatement q = c.prepareStatement("SELECT max(substring(event_key from '@([0-9]+)$')::bigint) "
                     + "FROM executions WHERE workflow_id = ? AND event_key ~ '@[0-9]+$'")) {
            q.setString(1, workflowId);
            try (ResultSet rs = q.executeQuery()) {
                rs.next();
                long t = rs.getLong(1);
                return rs.wasNull() ? Optional.empty() : Optional.of(Instant.ofEpochMilli(t));
            }
        }
    }

    /**
     * The node a failed execution continues from ({@link #failedNode(Connection, long)}), read on a
     * connection of its own: what the admin API validates a retry with before it publishes the
     * command (ADR 0025); the engine reads it again when it applies the command.
     */
    public Optional<FailedNode> failedNode(long executionId) throws SQLException {
        try (Connection c = dataSource.getConnection()) {
            return failedNode(c, executionId);
        }
    }

    /**
     * The node a failed execution continues from, in one statement: the failed run that finished
     * last (the higher attempt on a tie), the highest attempt of that node on the main path (the
     * retry runs as the next one, under a processed key no earlier delivery holds: ADR 0013), and
     * the outputs of the main path's nodes that succeeded or wait, in the order they finished.
     */
    public static Optional<FailedNode> failedNode(Connection c, long executionId) throws SQLException {
        try (PreparedStatement q = c.prepareStatement("WITH failed AS (SELECT node_id, path, attempt FROM processed_keys "
                + "WHERE execution_id = ? AND status = 'failed' ORDER BY finished_at DESC NULLS LAST, attempt DESC LIMIT 1) "
                + "SELECT f.node_id, f.path, greatest(f.attempt, (SELECT max(p.attempt) FROM processed_keys p "
                + "WHERE p.execution_id = ? AND p.node_id = f.node_id AND p.path = '')), "
                + "(SELECT jsonb_agg(jsonb_build_array(p.node_id, p.output) ORDER BY p.finished_at NULLS LAST) FROM processed_keys p "
                + "WHERE p.execution_id = ? AND p.path = '' AND p.status IN ('succeeded', 'waiting') AND p.output IS NOT NULL) "
                + "FROM failed f")) {
            q.setLong(1, executionId);
            q.setLong(2, executionId);
            q.setLong(3, executionId);
            try (ResultSet rs = q.executeQuery()) {
                if (!rs.next()) {
                    return Optional.empty();
                }
                List<Output> outputs = new ArrayList<>();
                JsonNode pairs = json(rs.getString(4));
                if (pairs != null) {
                    for (JsonNode pair : pairs) {
                        outputs.add(new Output(pair.get(0).asText(), pair.get(1)));
                    }
                }
                return Optional.of(new FailedNode(rs.getString(1), rs.getString(2), rs.getInt(3), outputs));
            }
        }
    }

    /** The mapper of {@link #ROW_COLUMNS}, columns 1 to 9. */
    private static ExecutionRow row(ResultSet rs) throws SQLException {
        return new ExecutionRow(rs.getLong(1), rs.getString(2), rs.getString(3), rs.getInt(4), ExecutionStatus.of(rs.getString(5)),
                rs.getBoolean(9), instant(rs.getTimestamp(6)), instant(rs.getTimestamp(7)), rs.getString(8));
    }

    /** The mapper of {@link #EXECUTION_COLUMNS}: {@link #row}, then columns 10 to 13. */
    private static Execution execution(ResultSet rs) throws SQLException {
        return new Execution(row(rs), json(rs.getString(10)), json(rs.getString(11)), rs.getInt(12), instant(rs.getTimestamp(13)),
                rs.getString(14));
    }

    private static Instant instant(Timestamp t) {
        return t == null ? null : t.toInstant();
    }

    private static JsonNode json(String text) {
        return text == null ? null : Json.tree(text);
    }

    /** Executions finished in one time bucket, by status, and latency (ms, trigger publication → finish) of those that ran to an end. */
    public record FinishedBucket(long succeeded, long failed, long cancelled, Double p50, Double p95, Double p99, Double max) {
        public static final FinishedBucket NONE = new FinishedBucket(0, 0, 0, null, null, null, null);
    }

    /**
     * Executions finished in [{@code fromSecond}, {@code toSecond}), per bucket of {@code stepSeconds}
     * keyed by its start (epoch seconds): counts by status, and p50/p95/p99/max of
     * {@code finished_at - published_at} over the succeeded and failed (uses {@code executions_finished}, V5).
     */
    public java.util.SortedMap<Long, FinishedBucket> finishedPerBucket(long fromSecond, long toSecond, int stepSeconds) throws SQLException {
        java.util.SortedMap<Long, FinishedBucket> out = new java.util.TreeMap<>();
        if (fromSecond >= toSecond) {
            return out;
        }
        String latency = "extract(epoch FROM finished_at - published_at) * 1000";
        String timed = " FILTER (WHERE status IN ('succeeded', 'failed') AND published_at IS NOT NULL)";
        try (Connection c = dataSource.getConnection(); PreparedStatement q = c.prepareStatement(
                "SELECT floor(extract(epoch FROM finished_at) / " + stepSeconds + ")::bigint * " + stepSeconds + ", "
                        + "count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status = 'failed'), "
                        + "count(*) FILTER (WHERE status = 'cancelled'), "
                        + "percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY " + latency + ")" + timed + ", "
                        + "max(" + latency + ")" + timed + " "
                        + "FROM executions WHERE finished_at >= ? AND finished_at < ? GROUP BY 1")) {
            q.setTimestamp(1, Timestamp.from(Instant.ofEpochSecond(fromSecond)));
            q.setTimestamp(2, Timestamp.from(Instant.ofEpochSecond(toSecond)));
            q.setQueryTimeout(30);
            try (ResultSet rs = q.executeQuery()) {
                while (rs.next()) {
                    java.sql.Array pct = rs.getArray(5);
                    Double[] p = pct == null ? null : roundedTenths((Object[]) pct.getArray());
                    double max = rs.getDouble(6);
                    out.put(rs.getLong(1), new FinishedBucket(rs.getLong(2), rs.getLong(3), rs.getLong(4),
                            p == null ? null : p[0], p == null ? null : p[1], p == null ? null : p[2], rs.wasNull() ? null : max));
                }
            }
        }
        return out;
    }

    private static Double[] roundedTenths(Object[] values) {
        Double[] d = new Double[values.length];
        for (int i = 0; i < values.length; i++) {
            d[i] = values[i] == null ? null : Math.round(((Number) values[i]).doubleValue() * 10) / 10.0;
        }
        return d;
    }
}
