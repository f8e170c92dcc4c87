package dev.onceflow.engine;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import dev.onceflow.common.EventEnvelope;
import dev.onceflow.common.Json;
import dev.onceflow.common.executions.ExecutionStatus;
import dev.onceflow.common.executions.Lanes;
import dev.onceflow.common.executions.NodeStatus;
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
 * NOTHING} that inserts nothing means another delivery already won. An event key whose execution
 * retention removed keeps winning through {@code retired_event_keys} until its horizon (ADR 0015).
 * Not thread-safe: one per worker, owned by its {@link EngineLoop}.
 */
final class ExecutionStore implements AutoCloseable {

    private static final TypeReference<List<String>> STRINGS = new TypeReference<>() {
    };
    private static final TypeReference<List<dev.onceflow.common.TaskEnvelope>> TASKS = new TypeReference<>() {
    };

    /**
     * An execution row as far as the engine needs it: enough to produce its outcome again, with
     * the same content, when a redelivery finds it finished.
     *
     * @param finishedAt  epoch ms, 0 while running
     * @param publishedAt epoch ms of the trigger record that created it, 0 when unknown
     */
    record Execution(long id, String status, String workflow, int version, String error, long finishedAt,
                     long publishedAt, String orderingKey) {
        boolean running() {
            return ExecutionStatus.RUNNING.db().equals(status);
        }

        /** Waiting in its lane (ADR 0021): nothing of it ran, and it has no outcome. */
        boolean queued() {
            return ExecutionStatus.QUEUED.db().equals(status);
        }

        boolean finished() {
            return !running() && !queued();
        }
    }

    /**
     * A processed key found already present: the node ran before; its stored outcome.
     *
     * @param retried a retry timer was set for the next attempt (ADR 0013)
     */
    record StoredRun(NodeStatus status, JsonNode output, List<String> next, String error, boolean retried, long startedAtMs) {
    }

    /** A due timer: its processed key and the task records it produces. */
    record DueTimer(String key, String kind, List<dev.onceflow.common.TaskEnvelope> tasks) {
    }

    private final Connection connection;
    private final PreparedStatement insertExecution;
    private final PreparedStatement selectExecution;
    private final PreparedStatement finishExecution;
    private final PreparedStatement selectKey;
    private final PreparedStatement completeKey;
    private final PreparedStatement lockStates;
    private final PreparedStatement upsertLease;
    private final PreparedStatement insertTimer;
    private final PreparedStatement insertArrival;
    private final PreparedStatement selectArrivals;
    private final PreparedStatement dueTimers;
    private final PreparedStatement markFired;
    private final PreparedStatement markWaitedOut;
    private final PreparedStatement insertExecutions;
    private final PreparedStatement retiredAmong;
    private final PreparedStatement undoExecutions;
    private final PreparedStatement presentKeys;
    private final PreparedStatement insertClaims;
    private final PreparedStatement supersede;
    private final PreparedStatement insertStart;
    private final PreparedStatement queuedAmong;
    private final List<Runnable> pendingFinishes = new ArrayList<>();
    /** The queued finishes' values, sent as one multi-row UPDATE at {@link #flushFinishes}. */
    private final List<Long> finishIds = new ArrayList<>();
    private final List<String> finishStatuses = new ArrayList<>();
    private final List<String> finishErrors = new ArrayList<>();
    private final List<Long> finishTimes = new ArrayList<>();
    private final Lanes lanes;
    private final Limits limits;
    private final PreparedStatement linkSuperseded;
    /** Queued executions admitted from their lanes by this transaction, whose start tasks are to go out with it. */
    private final List<Lanes.Admitted> admitted = new ArrayList<>();
    /**
     * Lanes this transaction locked and left with nothing queued (every execution it created in
     * them was admitted): until it ends nobody else can queue there, so a finish in one of them
     * frees nothing to admit and skips the lane's statements (ADR 0021). Forgotten at every
     * commit and rollback.
     */
    private final Set<String> quietLanes = new HashSet<>();
    /** Outcomes queued for {@link #flush}, by key; a later outcome of a key replaces an earlier one. */
    private final Map<String, String[]> pendingCompletes = new java.util.TreeMap<>();
    /**
     * Claims of this transaction not yet written, by key (ADR 0027): each is inserted once, at
     * {@link #flushClaims}, with the outcome its node reached in this transaction, instead of an
     * insert now and an update later.
     */
    private final Map<String, PendingClaim> pendingClaims = new java.util.TreeMap<>();

    /** A claim held in memory until {@link #flushClaims}; {@code status} starts {@code started}. */
    private static final class PendingClaim {
        final long executionId;
        final String nodeId;
        final String path;
        final int attempt;
        String status = NodeStatus.STARTED.db();
        String output;
        String next;
        String error;
        boolean finished;

        PendingClaim(long executionId, String nodeId, String path, int attempt) {
            this.executionId = executionId;
            this.nodeId = nodeId;
            this.path = path;
            this.attempt = attempt;
        }
    }
    private int savepoints;
    private final boolean logicalWal;
    private final PreparedStatement emitDepth;
    /** The depth last told to PostgreSQL in this transaction, -1 for none (ADR 0011). */
    private int markedDepth = -1;

    ExecutionStore(Connection connection) throws SQLException {
        this.connection = connection;
        // The single-winner arguments of this class (and dropRetired's) rest on READ COMMITTED: a
        // statement sees what committed before it started, and a unique-index wait ends on the
        // other transaction's commit. Pinned, so a database default of REPEATABLE READ cannot
        // silently change them.
        connection.setTransactionIsolation(Connection.TRANSACTION_READ_COMMITTED);
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
                + "finished_at, published_at, ordering_key FROM executions WHERE event_key = ?");
        // The finish time comes from the engine's clock, not now(): now() is the start of the
        // batch's transaction, and the outcome record must carry exactly the stored time, so that
        // an outcome produced again for a redelivery has the same content as the first.
        // One statement for all of a batch's finishes; each row says whether it finished the
        // execution (RETURNING) and which lane that frees (ADR 0021). Times in epoch ms, converted
        // exactly (integer microseconds), so the row holds the outcome's time to the millisecond.
        finishExecution = connection.prepareStatement("UPDATE executions x SET status = u.s, error = u.e, "
                + "finished_at = timestamptz 'epoch' + u.f * interval '1 millisecond' "
                + "FROM unnest(?::bigint[], ?::text[], ?::text[], ?::bigint[]) AS u(i, s, e, f) "
                + "WHERE x.id = u.i AND x.finished_at IS NULL RETURNING x.id, x.ordering_key, x.workflow_id, x.total");
        lanes = new Lanes(connection);
        limits = new Limits(connection);
        // Debounce keep "first": an event superseded at its insert names the execution kept, maybe
        // inserted by the same statement (which its subqueries cannot see), so a second statement.
        linkSuperseded = connection.prepareStatement("UPDATE executions x SET superseded_by = k.id "
                + "FROM unnest(?::bigint[], ?::text[]) AS u(i, kept) JOIN executions k ON k.event_key = u.kept WHERE x.id = u.i");
        queuedAmong = connection.prepareStatement("SELECT id, ordering_key FROM executions WHERE id = ANY(?) AND status = 'queued' "
                + "AND ordering_key IS NOT NULL");
        // An execution with a lane is created running when its lane, read under its lock, has room
        // and no one waiting, else queued (ADR 0021).
        insertExecutions = connection.prepareStatement("INSERT INTO executions (event_key, workflow_id, workflow_version, "
                + "status, trigger, source, published_at, depth, ordering_key, per_key, not_before, debounce_from, total, "
                + "finished_at, error) "
                + "SELECT k, w, v, st, t::jsonb, s, "
                + "CASE WHEN p > 0 THEN to_timestamp(p / 1000.0) END, d, o, q, "
                + "CASE WHEN b IS NOT NULL THEN now() + b * interval '1 millisecond' "
                + "WHEN nb IS NOT NULL THEN timestamptz 'epoch' + nb * interval '1 microsecond' END, "
                + "CASE WHEN b IS NOT NULL THEN now() END, tot, "
                + "CASE WHEN st = 'superseded' THEN timestamptz 'epoch' + ?::bigint * interval '1 millisecond' END, er "
                + "FROM unnest(?::text[], ?::text[], ?::int[], ?::text[], ?::text[], ?::bigint[], ?::int[], ?::text[], ?::int[], "
                + "?::bigint[], ?::text[], ?::bigint[], ?::int[], ?::text[]) AS u(k, w, v, t, s, p, d, o, q, b, st, nb, tot, er) "
                + "ON CONFLICT (event_key) DO NOTHING RETURNING event_key, id");
        // Debounce: the lane's executions still waiting out their debounce give way to the newest
        // (superseded, finished, their start timers gone); the newest inherits the burst's start
        // and waits no longer than its maxMs from there. The times are PostgreSQL's, like the
        // timers' (a start timer fires by now(), and its lane is then asked again).
        supersede = connection.prepareStatement("WITH s AS (SELECT * FROM unnest(?::text[], ?::bigint[], ?::bigint[]) "
                + "AS u(k, survivor, maxms)), "
                + "old AS (UPDATE executions x SET status = 'superseded', superseded_by = s.survivor, "
                + "finished_at = timestamptz 'epoch' + ?::bigint * interval '1 millisecond', "
                + "error = 'superseded by ' || (SELECT event_key FROM executions WHERE id = s.survivor) || ' (debounce)' "
                + "FROM s WHERE x.ordering_key = s.k AND x.finished_at IS NULL AND x.status = 'queued' "
                + "AND x.not_before IS NOT NULL AND x.id < s.survivor "
                + "RETURNING x.id, x.event_key, x.workflow_id, x.workflow_version, x.published_at, x.error, x.debounce_from, "
                + "s.survivor, s.maxms), "
                + "burst AS (SELECT survivor, min(debounce_from) AS f, max(maxms) AS maxms FROM old GROUP BY survivor), "
                + "cut AS (UPDATE executions y SET debounce_from = least(y.debounce_from, burst.f), "
                + "not_before = least(y.not_before, least(y.debounce_from, burst.f) + burst.maxms * interval '1 millisecond') "
                + "FROM burst WHERE y.id = burst.survivor RETURNING y.id), "
                + "gone AS (DELETE FROM timers t USING old WHERE t.execution_id = old.id AND t.kind = 'start' RETURNING t.key) "
                + "SELECT id, event_key, workflow_id, workflow_version, published_at, error FROM old ORDER BY id");
        // A queued execution's start task; due when its debounce wait ends, or never until admitted.
        insertStart = connection.prepareStatement("INSERT INTO timers (key, execution_id, task_partition, kind, due_at, tasks) "
                + "SELECT ?, ?, ?, 'start', coalesce((SELECT not_before FROM executions WHERE id = ?), 'infinity'), ?::jsonb "
                + "ON CONFLICT (key, kind) DO NOTHING");
        retiredAmong = connection.prepareStatement("SELECT event_key FROM retired_event_keys WHERE event_key = ANY(?)");
        undoExecutions = connection.prepareStatement("DELETE FROM executions WHERE id = ANY(?)");
        presentKeys = connection.prepareStatement("SELECT key FROM processed_keys WHERE key = ANY(?)");
        // Planned at every run, for its keys and the table's size then: a plan cached while the
        // table was small (never analyzed yet) scans it whole, and kept for ever costs a scan of a
        // growing table per wave (seen in bench: 500 executions/s, PostgreSQL busy in this query).
        presentKeys.unwrap(org.postgresql.PGStatement.class).setPrepareThreshold(0);
        insertClaims = connection.prepareStatement("INSERT INTO processed_keys "
                + "(key, execution_id, node_id, path, status, attempt, output, next, error, finished_at) "
                + "SELECT k, e, n, p, s, a, o::jsonb, x::jsonb, r, CASE WHEN f THEN now() END "
                + "FROM unnest(?::text[], ?::bigint[], ?::text[], ?::text[], ?::text[], ?::int4[], ?::text[], ?::text[], ?::text[], "
                + "?::bool[]) AS u(k, e, n, p, s, a, o, x, r, f) "
                + "ON CONFLICT (key) DO NOTHING RETURNING key");
        selectKey = connection.prepareStatement("SELECT status, output, next, error, "
                + "EXISTS (SELECT 1 FROM timers t WHERE t.key = processed_keys.key AND t.kind = 'retry'), started_at "
                + "FROM processed_keys WHERE key = ?");
        upsertLease = connection.prepareStatement("INSERT INTO timers (key, execution_id, task_partition, kind, due_at, tasks) "
                + "VALUES (?, ?, ?, 'lease', ?, ?::jsonb) ON CONFLICT (key, kind) DO UPDATE SET due_at = EXCLUDED.due_at, fired_at = NULL, "
                + "tasks = EXCLUDED.tasks");
        lockStates = connection.prepareStatement("SELECT id, status FROM executions WHERE id = ANY(?) FOR SHARE");
        insertTimer = connection.prepareStatement("INSERT INTO timers (key, execution_id, task_partition, kind, due_at, tasks) "
                + "VALUES (?, ?, ?, ?, ?, ?::jsonb) ON CONFLICT (key, kind) DO NOTHING");
        insertArrival = connection.prepareStatement("INSERT INTO branch_arrivals (owner_key, branch, execution_id, output) "
                + "VALUES (?, ?, ?, ?::jsonb) ON CONFLICT (owner_key, branch) DO NOTHING");
        selectArrivals = connection.prepareStatement("SELECT branch, output FROM branch_arrivals WHERE owner_key = ? ORDER BY branch");
        dueTimers = connection.prepareStatement("SELECT key, kind, tasks FROM timers WHERE fired_at IS NULL "
                + "AND task_partition = ANY(?) AND due_at <= now() ORDER BY due_at LIMIT ?");
        markFired = connection.prepareStatement("UPDATE timers SET fired_at = now() WHERE fired_at IS NULL "
                + "AND (key, kind) IN (SELECT * FROM unnest(?::text[], ?::text[]))");
        markWaitedOut = connection.prepareStatement("UPDATE processed_keys SET status = 'succeeded', finished_at = now() "
                + "WHERE key = ANY(?) AND status = 'waiting'");
        // One statement for every outcome of a batch (issue 21): the keys' rows were claimed before,
        // mostly by this very transaction, so the update takes no new row lock in the common case.
        completeKey = connection.prepareStatement("UPDATE processed_keys p SET status = u.s, output = u.o::jsonb, "
                + "next = u.n::jsonb, error = u.e, finished_at = now() "
                + "FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[]) AS u(k, s, o, n, e) WHERE p.key = u.k");
    }

    Connection connection() {
        return connection;
    }

    /**
     * Creates the execution of an event unless one exists for its key.
     *
     * @return the new execution id, or empty when the key already had an execution or is retired (a duplicate event)
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
        Optional<Long> id;
        try (ResultSet rs = insertExecution.executeQuery()) {
            id = rs.next() ? Optional.of(rs.getLong(1)) : Optional.empty();
        }
        if (id.isPresent() && !dropRetired(Map.of(event.eventKey(), id.get())).isEmpty()) {
            return Optional.empty();
        }
        return id;
    }

    /**
     * What {@link #createExecutions} created.
     *
     * @param ids     event key → new execution id, for the keys that had no execution and are not
     *                retired (the others are duplicates)
     * @param running the ids among them that run now: those without a lane, and those their lane
     *                admitted at once; the others are queued, and their start tasks are to be kept
     *                in {@code start} timers ({@link #queueStart})
     */
    record Created(Map<String, Long> ids, Set<Long> running, List<Superseded> superseded, Map<String, Long> throttled) {
        /** Whether the execution of {@code id} was replaced by a later one of its lane in the same transaction. */
        boolean supersededHere(long id) {
            return superseded.stream().anyMatch(s -> s.id() == id);
        }
    }

    /** An execution replaced, unrun, by a later event of its lane within its debounce window; finished now. */
    record Superseded(long id, String eventKey, String workflow, int version, long publishedAt, String error, long finishedAt) {
    }

    /**
     * An event's lane (ADRs 0021, 0022): its ordering key (or, for an unordered workflow with
     * limits, its event key: a lane of one), its workflow's {@code concurrency.perKey} and
     * {@code total} (null for none), its debounce ({@code null} ms for none) and its rate limit
     * (null for none).
     */
    record Lane(String key, int perKey, Long debounceMs, Long debounceMaxMs, boolean keepFirst, Integer total,
                dev.onceflow.common.workflow.Workflow.RateLimit rate) {
        static Lane of(dev.onceflow.common.workflow.Workflow wf, String key) {
            dev.onceflow.common.workflow.Workflow.Debounce d = wf.debounce();
            return new Lane(key, wf.perKey(), d == null ? null : d.ms(), d == null ? null : d.maxMs(),
                    d != null && dev.onceflow.common.workflow.Workflow.Debounce.KEEP_FIRST.equals(d.keep()), wf.total(), wf.rateLimit());
        }

        /** A lane with only a per-key limit and maybe a debounce ({@code keep: "last"}). */
        Lane(String key, int perKey, Long debounceMs, Long debounceMaxMs) {
            this(key, perKey, debounceMs, debounceMaxMs, false, null, null);
        }

        /** The rate limit's bucket: the workflow's, or with {@code perKey} the lane's. */
        String bucket(String workflow) {
            return rate == null ? null : rate.perKey() ? "k:" + key : "w:" + workflow;
        }
    }

    /**
     * Creates the executions of many events in one statement (one round trip) unless one exists
     * for a key. The event keys must be distinct. An event with a lane is created under its lane's
     * lock (and its workflow's, with a {@code concurrency.total}): running when the lane, the
     * total and the rate limit let it start now, else queued, and the lane then admits its head
     * (ADR 0021): older queued executions first, whose start tasks {@link #takeAdmitted} hands
     * over, their timers due at {@code startDueMs} in case they never go out.
     *
     * <p>A debounced event's execution ({@code keep: "last"}) waits {@code debounceMs} before its
     * lane may admit it, and replaces the executions of its lane still waiting so (they become
     * {@code superseded} now, at {@code nowMs}, and their start timers go); its own wait is cut to
     * its burst's {@code debounceMaxMs}. Under {@code keep: "first"} an event within the window
     * of its lane's kept execution is created {@code superseded} by it; the others are kept and
     * open a window. A rate-limited event whose start the bucket puts later waits, queued, until
     * then (ADR 0022).
     *
     * @param lanes per event, its lane, or null for none
     */
    Created createExecutions(List<EventEnvelope> events, List<Lane> lanes, long startDueMs, long nowMs) throws SQLException {
        Map<String, Long> created = new HashMap<>();
        Set<Long> running = new HashSet<>();
        Map<String, Long> throttled = new HashMap<>();
        if (events.isEmpty()) {
            return new Created(created, running, List.of(), throttled);
        }
        int n = events.size();
        String[] keys = new String[n];
        String[] workflows = new String[n];
        Integer[] versions = new Integer[n];
        String[] triggers = new String[n];
        String[] sources = new String[n];
        Long[] published = new Long[n];
        Integer[] depths = new Integer[n];
        String[] orderingKeys = new String[n];
        Integer[] perKeys = new Integer[n];
        Long[] debounces = new Long[n];
        Long[] notBefore = new Long[n];
        Integer[] totals = new Integer[n];
        String[] errors = new String[n];
        Set<String> laneKeys = new java.util.TreeSet<>();
        Set<String> totalWorkflows = new java.util.TreeSet<>();
        Set<String> firstLanes = new java.util.TreeSet<>();
        Set<String> buckets = new java.util.TreeSet<>();
        for (int i = 0; i < n; i++) {
            EventEnvelope e = events.get(i);
            Lane lane = lanes.get(i);
            if (lane != null && lane.key() != null) {
                orderingKeys[i] = lane.key();
                perKeys[i] = lane.perKey();
                debounces[i] = lane.keepFirst() ? null : lane.debounceMs();
                totals[i] = lane.total();
                laneKeys.add(lane.key());
                if (lane.total() != null) {
                    totalWorkflows.add(e.workflow());
                }
                if (lane.keepFirst()) {
                    firstLanes.add(lane.key());
                }
                if (lane.rate() != null) {
                    buckets.add(lane.bucket(e.workflow()));
                }
            }
            keys[i] = e.eventKey();
            workflows[i] = e.workflow();
            versions[i] = e.version();
            triggers[i] = Json.text(e.data());
            sources[i] = e.source();
            published[i] = e.publishedAt();
            depths[i] = e.depth();
        }
        // The workflows' totals, then the lanes, are locked before the insert: ids within a lane
        // follow its lock order. Under the locks, each lane's state decides which events start
        // at once: inserted running, they cost no second write (an uncontended lane's whole price
        // is the lock and this read).
        this.lanes.lockTotals(totalWorkflows);
        this.lanes.lock(laneKeys);
        Map<String, int[]> state = this.lanes.state(laneKeys);
        Map<String, Integer> workflowRunning = new HashMap<>(this.lanes.running(totalWorkflows));
        long clockMicros = firstLanes.isEmpty() && buckets.isEmpty() ? 0 : limits.nowMicros();
        Map<String, Limits.Window> windows = new HashMap<>(limits.windows(firstLanes));
        Map<String, Long> tats = limits.lockBuckets(buckets);
        Map<String, Integer> keptAt = new java.util.LinkedHashMap<>();
        String[] statuses = new String[n];
        String[] keptBy = new String[n];
        boolean admitAfter = false;
        for (int i = 0; i < n; i++) {
            if (orderingKeys[i] == null) {
                statuses[i] = ExecutionStatus.RUNNING.db();
                continue;
            }
            Lane l = lanes.get(i);
            if (l.keepFirst()) {
                Limits.Window open = windows.get(orderingKeys[i]);
                if (open != null && open.untilMicros() > clockMicros) {
                    statuses[i] = ExecutionStatus.SUPERSEDED.db();
                    keptBy[i] = open.keptEventKey();
                    errors[i] = "superseded by " + open.keptEventKey() + " (debounce, keep first)";
                    continue;
                }
                windows.put(orderingKeys[i], new Limits.Window(keys[i], clockMicros + l.debounceMs() * 1000));
                keptAt.put(orderingKeys[i], i);
            }
            if (l.rate() != null) {
                String bucket = l.bucket(workflows[i]);
                long[] tat = {tats.getOrDefault(bucket, clockMicros)};
                long start = Limits.reserve(tat, clockMicros, l.rate().perSecond(), l.rate().burst());
                tats.put(bucket, tat[0]);
                if (start > clockMicros) {
                    statuses[i] = ExecutionStatus.QUEUED.db(); // not in line until then: its start timer is due then
                    notBefore[i] = start;
                    throttled.merge(workflows[i], 1L, Long::sum);
                    continue;
                }
            }
            int[] lane = state.computeIfAbsent(orderingKeys[i], k -> new int[2]); // {running, queued in line}
            boolean totalRoom = totals[i] == null || workflowRunning.getOrDefault(workflows[i], 0) < totals[i];
            if (debounces[i] == null && lane[1] == 0 && lane[0] < perKeys[i] && totalRoom) {
                statuses[i] = ExecutionStatus.RUNNING.db();
                lane[0]++;
                if (totals[i] != null) {
                    workflowRunning.merge(workflows[i], 1, Integer::sum);
                }
            } else {
                statuses[i] = ExecutionStatus.QUEUED.db();
                lane[1] += debounces[i] == null ? 1 : 0;
                admitAfter = true;
            }
        }
        limits.saveBuckets(tats);
        insertExecutions.setLong(1, nowMs);
        insertExecutions.setArray(2, connection.createArrayOf("text", keys));
        insertExecutions.setArray(3, connection.createArrayOf("text", workflows));
        insertExecutions.setArray(4, connection.createArrayOf("int4", versions));
        insertExecutions.setArray(5, connection.createArrayOf("text", triggers));
        insertExecutions.setArray(6, connection.createArrayOf("text", sources));
        insertExecutions.setArray(7, connection.createArrayOf("int8", published));
        insertExecutions.setArray(8, connection.createArrayOf("int4", depths));
        insertExecutions.setArray(9, connection.createArrayOf("text", orderingKeys));
        insertExecutions.setArray(10, connection.createArrayOf("int4", perKeys));
        insertExecutions.setArray(11, connection.createArrayOf("int8", debounces));
        insertExecutions.setArray(12, connection.createArrayOf("text", statuses));
        insertExecutions.setArray(13, connection.createArrayOf("int8", notBefore));
        insertExecutions.setArray(14, connection.createArrayOf("int4", totals));
        insertExecutions.setArray(15, connection.createArrayOf("text", errors));
        try (ResultSet rs = insertExecutions.executeQuery()) {
            while (rs.next()) {
                created.put(rs.getString(1), rs.getLong(2));
            }
        }
        if (!created.isEmpty()) {
            dropRetired(created).forEach(created::remove);
        }
        for (int i = 0; i < n; i++) {
            Long id = created.get(keys[i]);
            if (id != null && ExecutionStatus.RUNNING.db().equals(statuses[i])) {
                running.add(id);
            } else if (id == null && orderingKeys[i] != null && ExecutionStatus.RUNNING.db().equals(statuses[i])) {
                admitAfter = true; // a duplicate (or a retired key) took a slot it does not use
            }
        }
        List<Superseded> superseded = new ArrayList<>(supersede(events, lanes, created, nowMs));
        superseded.addAll(keepFirst(events, created, statuses, keptBy, errors, keptAt, windows, nowMs));
        if (admitAfter) {
            Set<Long> createdIds = new HashSet<>(created.values());
            for (Lanes.Admitted a : this.lanes.admit(laneKeys, totalWorkflows, startDueMs)) {
                if (createdIds.contains(a.id())) {
                    running.add(a.id()); // created here: the caller starts it
                } else {
                    admitted.add(a);
                }
            }
        }
        Set<String> waiting = new HashSet<>();
        for (int i = 0; i < n; i++) {
            Long id = created.get(keys[i]);
            if (orderingKeys[i] != null && (id == null || !running.contains(id))) {
                waiting.add(orderingKeys[i]); // queued, superseded or a duplicate: the lane is not known quiet
            }
        }
        for (String lane : laneKeys) {
            if (waiting.contains(lane)) {
                quietLanes.remove(lane);
            } else {
                quietLanes.add(lane);
            }
        }
        return new Created(created, running, superseded, throttled);
    }

    /**
     * Debounce {@code keep: "first"} (ADR 0022), after the insert: the events created
     * {@code superseded} name the execution kept, and the lanes whose kept execution was created
     * here open their window.
     */
    private List<Superseded> keepFirst(List<EventEnvelope> events, Map<String, Long> created, String[] statuses, String[] keptBy,
                                       String[] errors, Map<String, Integer> keptAt, Map<String, Limits.Window> windows, long nowMs)
            throws SQLException {
        List<Superseded> superseded = new ArrayList<>();
        List<Long> ids = new ArrayList<>();
        List<String> kept = new ArrayList<>();
        for (int i = 0; i < events.size(); i++) {
            Long id = created.get(events.get(i).eventKey());
            if (id != null && keptBy[i] != null) {
                EventEnvelope e = events.get(i);
                ids.add(id);
                kept.add(keptBy[i]);
                superseded.add(new Superseded(id, e.eventKey(), e.workflow(), e.version(), e.publishedAt(), errors[i], nowMs));
            }
        }
        if (!ids.isEmpty()) {
            linkSuperseded.setArray(1, connection.createArrayOf("int8", ids.toArray(new Long[0])));
            linkSuperseded.setArray(2, connection.createArrayOf("text", kept.toArray(new String[0])));
            linkSuperseded.executeUpdate();
        }
        List<String> lanes = new ArrayList<>();
        List<Long> keptIds = new ArrayList<>();
        List<String> keptKeys = new ArrayList<>();
        List<Long> until = new ArrayList<>();
        keptAt.forEach((lane, i) -> {
            Long id = created.get(events.get(i).eventKey());
            if (id != null) {
                lanes.add(lane);
                keptIds.add(id);
                keptKeys.add(events.get(i).eventKey());
                until.add(windows.get(lane).untilMicros());
            }
        });
        limits.saveWindows(lanes, keptIds, keptKeys, until);
        return superseded;
    }

    /**
     * Debounce (ADR 0021): per lane with debounced executions created here, the newest replaces
     * the lane's executions still in their debounce wait, and its wait is cut to its burst's maxMs.
     */
    private List<Superseded> supersede(List<EventEnvelope> events, List<Lane> lanes, Map<String, Long> created, long nowMs)
            throws SQLException {
        Map<String, Long> survivors = new java.util.TreeMap<>();
        Map<String, Long> maxMs = new HashMap<>();
        for (int i = 0; i < events.size(); i++) {
            EventEnvelope e = events.get(i);
            Long id = created.get(e.eventKey());
            Lane lane = lanes.get(i);
            if (id != null && lane != null && lane.debounceMs() != null && !lane.keepFirst() && lane.key() != null) {
                survivors.merge(lane.key(), id, Math::max);
                maxMs.put(lane.key(), lane.debounceMaxMs());
            }
        }
        List<Superseded> superseded = new ArrayList<>();
        if (survivors.isEmpty()) {
            return superseded;
        }
        supersede.setArray(1, connection.createArrayOf("text", survivors.keySet().toArray(new String[0])));
        supersede.setArray(2, connection.createArrayOf("int8", survivors.values().toArray(new Long[0])));
        supersede.setArray(3, connection.createArrayOf("int8", survivors.keySet().stream().map(maxMs::get).toArray(Long[]::new)));
        supersede.setLong(4, nowMs);
        try (ResultSet rs = supersede.executeQuery()) {
            while (rs.next()) {
                Timestamp published = rs.getTimestamp(5);
                superseded.add(new Superseded(rs.getLong(1), rs.getString(2), rs.getString(3), rs.getInt(4),
                        published == null ? 0 : published.getTime(), rs.getString(6), nowMs));
            }
        }
        return superseded;
    }

    /** Keeps the start task of a queued execution in its {@code start} timer, not due until its lane admits it. */
    void queueStart(String eventKey, long executionId, int partition, dev.onceflow.common.TaskEnvelope start)
            throws SQLException {
        insertStart.setString(1, eventKey);
        insertStart.setLong(2, executionId);
        insertStart.setInt(3, partition);
        insertStart.setLong(4, executionId);
        insertStart.setString(5, Json.text(List.of(start)));
        insertStart.executeUpdate();
    }

    /** The ids among these that are queued in their lanes, with their ordering keys. */
    Map<Long, String> queuedAmong(Set<Long> ids) throws SQLException {
        flushFinishes();
        Map<Long, String> queued = new HashMap<>();
        if (ids.isEmpty()) {
            return queued;
        }
        queuedAmong.setArray(1, connection.createArrayOf("int8", ids.toArray(new Long[0])));
        try (ResultSet rs = queuedAmong.executeQuery()) {
            while (rs.next()) {
                queued.put(rs.getLong(1), rs.getString(2));
            }
        }
        return queued;
    }

    /**
     * Asks these lanes again (a debounced or throttled execution's wait ended, ADRs 0021, 0022):
     * under their locks (and their workflows' totals'), admits their heads. What it admits waits in {@link #takeAdmitted}.
     */
    void askLanes(Set<String> orderingKeys, long startDueMs) throws SQLException {
        admitted.addAll(lanes.release(orderingKeys, lanes.totalsOf(orderingKeys), startDueMs));
    }

    /**
     * The queued executions this transaction admitted from their lanes since the last call (by
     * creating executions or finishing them): their start tasks are to be produced with it.
     */
    List<Lanes.Admitted> takeAdmitted() {
        List<Lanes.Admitted> taken = List.copyOf(admitted);
        admitted.clear();
        return taken;
    }

    /**
     * Undoes, in this transaction, the executions just created whose event key retention retired
     * (ADR 0015): the key still absorbs duplicates until its horizon. Why a statement of its own:
     * an insert whose key's execution was being deleted by retention waited on the unique index
     * for retention's transaction and, after its commit, inserted; the insert's snapshot is older
     * than that commit and cannot see the key retention retired in it. This statement starts
     * after the insert returned, so its snapshot is newer than every commit the insert waited
     * for. One round trip per batch that created executions (a probe of the retired keys, about
     * 1.3 ms for 500 keys here, ADR 0015), a second only when it found one.
     *
     * @param created event key → id of the executions this transaction just created
     * @return the event keys whose new execution was undone (duplicates)
     */
    private List<String> dropRetired(Map<String, Long> created) throws SQLException {
        retiredAmong.setArray(1, connection.createArrayOf("text", created.keySet().toArray(new String[0])));
        List<String> retired = new ArrayList<>();
        try (ResultSet rs = retiredAmong.executeQuery()) {
            while (rs.next()) {
                retired.add(rs.getString(1));
            }
        }
        if (!retired.isEmpty()) {
            undoExecutions.setArray(1, connection.createArrayOf("int8", retired.stream().map(created::get).toArray(Long[]::new)));
            undoExecutions.executeUpdate();
        }
        return retired;
    }

    /**
     * Claims node runs (ADR 0027): reads which of the keys exist (one statement), and holds a
     * claim in memory for each absent one; the claims are inserted at {@link #flushClaims}, by the
     * commit at the latest, with the outcomes their nodes reach in this transaction. A key that
     * another transaction inserts meanwhile makes that insert find it (PostgreSQL makes the insert
     * wait for the other transaction) and this transaction roll back whole, effects included:
     * each node's effect still commits only with its own processed key. The keys must be distinct.
     *
     * @return the keys claimed (their nodes must run); the others existed
     */
    Set<String> claimLater(List<String> keys, List<Long> executionIds, List<String> nodeIds, List<String> paths,
                           List<Integer> attempts) throws SQLException {
        Set<String> claimed = new HashSet<>();
        if (keys.isEmpty()) {
            return claimed;
        }
        flushClaims(); // a key claimed earlier in this transaction is present, not claimable again
        Set<String> present = new HashSet<>();
        presentKeys.setArray(1, connection.createArrayOf("text", keys.toArray(new String[0])));
        try (ResultSet rs = presentKeys.executeQuery()) {
            while (rs.next()) {
                present.add(rs.getString(1));
            }
        }
        for (int i = 0; i < keys.size(); i++) {
            if (!present.contains(keys.get(i))) {
                pendingClaims.put(keys.get(i), new PendingClaim(executionIds.get(i), nodeIds.get(i), paths.get(i), attempts.get(i)));
                claimed.add(keys.get(i));
            }
        }
        return claimed;
    }

    /**
     * Inserts the claims held since the last flush, each with its outcome so far, in one
     * statement.
     *
     * @throws SQLException SQLState 40001 (transient: the batch is rolled back and delivered
     *                      again, and finds the key) when another transaction inserted one of the
     *                      keys after {@link #claimLater} read it absent
     */
    private void flushClaims() throws SQLException {
        if (pendingClaims.isEmpty()) {
            return;
        }
        int n = pendingClaims.size();
        String[] keys = new String[n];
        Long[] executions = new Long[n];
        String[] nodes = new String[n];
        String[] paths = new String[n];
        String[] statuses = new String[n];
        Integer[] attempts = new Integer[n];
        String[] outputs = new String[n];
        String[] nexts = new String[n];
        String[] errors = new String[n];
        Boolean[] finished = new Boolean[n];
        int i = 0;
        for (Map.Entry<String, PendingClaim> e : pendingClaims.entrySet()) {
            PendingClaim c = e.getValue();
            keys[i] = e.getKey();
            executions[i] = c.executionId;
            nodes[i] = c.nodeId;
            paths[i] = c.path;
            statuses[i] = c.status;
            attempts[i] = c.attempt;
            outputs[i] = c.output;
            nexts[i] = c.next;
            errors[i] = c.error;
            finished[i] = c.finished;
            i++;
        }
        pendingClaims.clear();
        insertClaims.setArray(1, connection.createArrayOf("text", keys));
        insertClaims.setArray(2, connection.createArrayOf("int8", executions));
        insertClaims.setArray(3, connection.createArrayOf("text", nodes));
        insertClaims.setArray(4, connection.createArrayOf("text", paths));
        insertClaims.setArray(5, connection.createArrayOf("text", statuses));
        insertClaims.setArray(6, connection.createArrayOf("int4", attempts));
        insertClaims.setArray(7, connection.createArrayOf("text", outputs));
        insertClaims.setArray(8, connection.createArrayOf("text", nexts));
        insertClaims.setArray(9, connection.createArrayOf("text", errors));
        insertClaims.setArray(10, connection.createArrayOf("bool", finished));
        Set<String> inserted = new HashSet<>();
        try (ResultSet rs = insertClaims.executeQuery()) {
            while (rs.next()) {
                inserted.add(rs.getString(1));
            }
        }
        if (inserted.size() != n) {
            List<String> lost = new ArrayList<>();
            for (String k : keys) {
                if (!inserted.contains(k)) {
                    lost.add(k);
                }
            }
            throw new SQLException("processed key(s) " + lost + " were inserted by another transaction while this one ran their "
                    + "nodes; rolling back this batch, effects included, to replay them (ADR 0027)", "40001");
        }
    }

    /**
     * Queues {@link #finishExecution}: sent with the other queued finishes as one JDBC batch at
     * the next {@link #flushFinishes} (or before a read of executions); {@code onFinished} runs
     * then if this statement is the one that finished the execution.
     */
    void finishLater(long executionId, String status, String error, long finishedAt, Runnable onFinished) {
        finishIds.add(executionId);
        finishStatuses.add(status);
        finishErrors.add(error);
        finishTimes.add(finishedAt);
        pendingFinishes.add(onFinished);
    }

    /**
     * Sends the queued finishes in one statement; runs the callback of each that finished its
     * execution; then releases the lanes they freed (ADR 0021): the heads admitted there wait in
     * {@link #takeAdmitted}, their timers due {@link #START_GRACE_MS} after the finish.
     */
    void flushFinishes() throws SQLException {
        if (pendingFinishes.isEmpty()) {
            return;
        }
        Map<Long, Runnable> callbacks = new java.util.LinkedHashMap<>();
        for (int i = 0; i < finishIds.size(); i++) {
            callbacks.putIfAbsent(finishIds.get(i), pendingFinishes.get(i));
        }
        long lastFinish = finishTimes.stream().mapToLong(Long::longValue).max().orElse(0);
        finishExecution.setArray(1, connection.createArrayOf("int8", finishIds.toArray(new Long[0])));
        finishExecution.setArray(2, connection.createArrayOf("text", finishStatuses.toArray(new String[0])));
        finishExecution.setArray(3, connection.createArrayOf("text", finishErrors.toArray(new String[0])));
        finishExecution.setArray(4, connection.createArrayOf("int8", finishTimes.toArray(new Long[0])));
        clearFinishes();
        Set<Long> finished = new HashSet<>();
        Set<String> freed = new java.util.TreeSet<>();
        Set<String> totals = new java.util.TreeSet<>();
        try (ResultSet rs = finishExecution.executeQuery()) {
            while (rs.next()) {
                finished.add(rs.getLong(1));
                String lane = rs.getString(2);
                if (lane != null) {
                    freed.add(lane);
                }
                if (rs.getObject(4) != null) {
                    totals.add(rs.getString(3)); // a slot of the whole workflow is free (ADR 0022)
                }
            }
        }
        callbacks.forEach((id, callback) -> {
            if (finished.contains(id)) {
                callback.run();
            }
        });
        freed.removeAll(quietLanes);
        admitted.addAll(lanes.release(freed, totals, lastFinish + START_GRACE_MS));
    }

    /**
     * How long an admitted execution's start timer waits before it produces the start task itself:
     * the engine produces it with the batch that admitted it and marks the timer fired after its
     * Kafka commit, so the timer only fires when that commit never came (ADR 0021).
     */
    static final long START_GRACE_MS = 10_000;


    private void clearFinishes() {
        pendingFinishes.clear();
        finishIds.clear();
        finishStatuses.clear();
        finishErrors.clear();
        finishTimes.clear();
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
                    finished == null ? 0 : finished.getTime(), published == null ? 0 : published.getTime(), rs.getString(8)));
        }
    }


    /**
     * Locks a processed key's row until the commit and returns its status: the claim of a long
     * statement's own transaction (ADR 0021). A second runner of the same key waits here until the
     * first commits (then finds an outcome) or rolls back (then runs it).
     */
    Optional<NodeStatus> lockKey(String key) throws SQLException {
        flushClaims();
        flush();
        try (PreparedStatement ps = connection.prepareStatement("SELECT status FROM processed_keys WHERE key = ? FOR UPDATE")) {
            ps.setString(1, key);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? Optional.of(NodeStatus.of(rs.getString(1))) : Optional.empty();
            }
        }
    }

    Optional<StoredRun> storedRun(String key) throws SQLException {
        flushClaims(); // a claim and an outcome made earlier in this batch must be visible
        flush();
        selectKey.setString(1, key);
        try (ResultSet rs = selectKey.executeQuery()) {
            if (!rs.next()) {
                return Optional.empty();
            }
            String output = rs.getString(2);
            String next = rs.getString(3);
            return Optional.of(new StoredRun(NodeStatus.of(rs.getString(1)),
                    output == null ? null : Json.tree(output),
                    next == null ? List.of() : Json.MAPPER.convertValue(Json.tree(next), STRINGS),
                    rs.getString(4), rs.getBoolean(5), rs.getTimestamp(6).getTime()));
        }
    }

    void complete(String key, NodeStatus status, JsonNode output, List<String> next, String error) throws SQLException {
        PendingClaim claim = pendingClaims.get(key);
        if (claim != null) {
            // Claimed by this transaction and not written yet: inserted with this outcome.
            claim.status = status.db();
            claim.output = output == null ? null : Json.text(output);
            claim.next = Json.text(next);
            claim.error = error;
            claim.finished = true;
            return;
        }
        // Queued, and sent as one multi-row statement before the commit: nothing in the batch
        // reads an outcome back except storedRun, which flushes first. Sorted by key, so two
        // transactions that complete the same keys lock them in one order.
        pendingCompletes.put(key, new String[] {status.db(), output == null ? null : Json.text(output), Json.text(next), error});
    }

    private void flush() throws SQLException {
        if (pendingCompletes.isEmpty()) {
            return;
        }
        int n = pendingCompletes.size();
        String[][] columns = new String[5][n];
        int i = 0;
        for (Map.Entry<String, String[]> e : pendingCompletes.entrySet()) {
            columns[0][i] = e.getKey();
            for (int c = 0; c < 4; c++) {
                columns[c + 1][i] = e.getValue()[c];
            }
            i++;
        }
        pendingCompletes.clear();
        for (int c = 0; c < 5; c++) {
            completeKey.setArray(c + 1, connection.createArrayOf("text", columns[c]));
        }
        completeKey.executeUpdate();
    }

    /**
     * Reads, and share-locks until the commit, the status of the given executions: a finish
     * committed first (a cancel applied by another worker's transaction, a zombie's or the new
     * owner's: ADR 0025) is seen here, and one that comes later waits for this transaction, so no
     * node runs after its execution was cancelled.
     */
    Map<Long, ExecutionStatus> lockStates(Set<Long> executionIds) throws SQLException {
        flushFinishes();
        Map<Long, ExecutionStatus> states = new HashMap<>();
        if (executionIds.isEmpty()) {
            return states;
        }
        lockStates.setArray(1, connection.createArrayOf("int8", executionIds.toArray(new Long[0])));
        try (ResultSet rs = lockStates.executeQuery()) {
            while (rs.next()) {
                states.put(rs.getLong(1), ExecutionStatus.of(rs.getString(2)));
            }
        }
        return states;
    }

    /** Sets a timer (ADR 0013) unless the key has one: it produces {@code tasks} once due. */
    void setTimer(String key, long executionId, int partition, String kind, long dueAtMs,
                  List<dev.onceflow.common.TaskEnvelope> tasks) throws SQLException {
        insertTimer.setString(1, key);
        insertTimer.setLong(2, executionId);
        insertTimer.setInt(3, partition);
        insertTimer.setString(4, kind);
        insertTimer.setTimestamp(5, new Timestamp(dueAtMs));
        insertTimer.setString(6, Json.text(tasks));
        insertTimer.executeUpdate();
    }

    /**
     * Sets (or sets again, for a call made again) the lease timer of a claimed {@code http} call:
     * if no outcome is recorded by {@code dueAtMs}, it delivers the task again, which then finds the
     * key claimed without an outcome (design, "HTTP").
     */
    void setLease(String key, long executionId, int partition, long dueAtMs, dev.onceflow.common.TaskEnvelope task)
            throws SQLException {
        upsertLease.setString(1, key);
        upsertLease.setLong(2, executionId);
        upsertLease.setInt(3, partition);
        upsertLease.setTimestamp(4, new Timestamp(dueAtMs));
        upsertLease.setString(5, Json.text(List.of(task)));
        upsertLease.executeUpdate();
    }

    /** Records that branch {@code branch} of {@code ownerKey} arrived (once: a redelivery inserts nothing). */
    void arrive(String ownerKey, int branch, long executionId, JsonNode output) throws SQLException {
        insertArrival.setString(1, ownerKey);
        insertArrival.setInt(2, branch);
        insertArrival.setLong(3, executionId);
        insertArrival.setString(4, output == null ? null : Json.text(output));
        insertArrival.executeUpdate();
    }

    /** The branches of {@code ownerKey} that arrived, by index, with their outputs. */
    java.util.SortedMap<Integer, JsonNode> arrivals(String ownerKey) throws SQLException {
        selectArrivals.setString(1, ownerKey);
        java.util.SortedMap<Integer, JsonNode> arrived = new java.util.TreeMap<>();
        try (ResultSet rs = selectArrivals.executeQuery()) {
            while (rs.next()) {
                String output = rs.getString(2);
                arrived.put(rs.getInt(1), output == null ? com.fasterxml.jackson.databind.node.NullNode.getInstance()
                        : Json.tree(output));
            }
        }
        return arrived;
    }

    /** Up to {@code limit} unfired timers of these partitions that are due by PostgreSQL's clock, oldest first. */
    List<DueTimer> dueTimers(Set<Integer> partitions, int limit) throws SQLException {
        List<DueTimer> due = new ArrayList<>();
        if (partitions.isEmpty()) {
            return due;
        }
        dueTimers.setArray(1, connection.createArrayOf("int4", partitions.toArray(new Integer[0])));
        dueTimers.setInt(2, limit);
        try (ResultSet rs = dueTimers.executeQuery()) {
            while (rs.next()) {
                due.add(new DueTimer(rs.getString(1), rs.getString(2),
                        Json.MAPPER.readValue(rs.getString(3), TASKS)));
            }
        } catch (java.io.IOException e) {
            throw new SQLException("a timer's tasks do not decode: " + e.getMessage(), e);
        }
        return due;
    }

    /** Marks timers fired, and the delays that set them done: after their tasks were produced. */
    void markFired(List<DueTimer> timers) throws SQLException {
        markFired(timers.stream().map(DueTimer::key).toList(), timers.stream().map(DueTimer::kind).toList());
    }

    /** Marks the {@code start} timers of these event keys fired: their start tasks were produced (ADR 0021). */
    void markStartsFired(List<String> eventKeys) throws SQLException {
        markFired(eventKeys, java.util.Collections.nCopies(eventKeys.size(), START));
    }

    /** The timer kind of a queued execution's start task (ADR 0021). */
    static final String START = "start";

    /** Marks the lease timers of these keys fired: their calls' outcomes are recorded. */
    void markLeasesFired(List<String> keys) throws SQLException {
        markFired(keys, java.util.Collections.nCopies(keys.size(), ApplyOutcome.LEASE));
    }

    private void markFired(List<String> keys, List<String> kinds) throws SQLException {
        java.sql.Array array = connection.createArrayOf("text", keys.toArray(new String[0]));
        markFired.setArray(1, array);
        markFired.setArray(2, connection.createArrayOf("text", kinds.toArray(new String[0])));
        markFired.executeUpdate();
        if (kinds.contains(ApplyOutcome.DELAY)) {
            flushClaims();
            markWaitedOut.setArray(1, array);
            markWaitedOut.executeUpdate();
        }
    }

    // ---- operator commands (ADR 0025): rare, so their statements are prepared per call -----------

    /** What a retried node's task carries from its execution: the trigger data and the depth. */
    record Start(com.fasterxml.jackson.databind.node.ObjectNode trigger, int depth) {
    }

    /** The trigger data and depth of an execution, for a task rebuilt by an operator's retry. */
    Start startOf(long executionId) throws SQLException {
        try (PreparedStatement q = connection.prepareStatement("SELECT trigger, depth FROM executions WHERE id = ?")) {
            q.setLong(1, executionId);
            try (ResultSet rs = q.executeQuery()) {
                if (!rs.next()) {
                    return null;
                }
                JsonNode trigger = rs.getString(1) == null ? null : Json.tree(rs.getString(1));
                return new Start(trigger instanceof com.fasterxml.jackson.databind.node.ObjectNode o ? o : null, rs.getInt(2));
            }
        }
    }

    /**
     * Sets a failed execution running again (an operator's retry): only while it is failed, so a
     * redelivered command changes nothing. Returns whether it did.
     */
    boolean restart(long executionId) throws SQLException {
        flushFinishes();
        try (PreparedStatement u = connection.prepareStatement("UPDATE executions SET status = 'running', finished_at = NULL, "
                + "error = NULL WHERE id = ? AND status = 'failed'")) {
            u.setLong(1, executionId);
            return u.executeUpdate() == 1;
        }
    }

    /** Deletes the unfired start timer of a queued execution that will never start (cancelled). */
    void dropStartTimer(long executionId) throws SQLException {
        try (PreparedStatement d = connection.prepareStatement("DELETE FROM timers WHERE execution_id = ? AND kind = 'start' "
                + "AND fired_at IS NULL")) {
            d.setLong(1, executionId);
            d.executeUpdate();
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
        quietLanes.clear(); // the locks taken after the savepoint may be gone with it
    }

    /** Savepoints taken in the open transaction (each that wrote is a subtransaction of it). */
    int savepointsTaken() {
        return savepoints;
    }

    Savepoint savepoint() throws SQLException {
        return connection.setSavepoint("s" + (savepoints++ & 0xffff));
    }

    void commit() throws SQLException {
        flushClaims();
        flush();
        flushFinishes();
        connection.commit();
        savepoints = 0;
        markedDepth = -1;
        quietLanes.clear();
    }

    /** Sends every queued statement now, so a savepoint taken next covers only what follows. */
    void flushQueued() throws SQLException {
        flushClaims();
        flush();
        flushFinishes();
    }

    /**
     * Drops the queued statements without sending them: they belong to work that is being rolled
     * back to a savepoint taken after the last {@link #flushQueued}.
     */
    void discardQueued() throws SQLException {
        pendingClaims.clear();
        pendingCompletes.clear();
        clearFinishes();
        admitted.clear();
    }

    void rollbackQuietly() {
        markedDepth = -1;
        pendingClaims.clear();
        pendingCompletes.clear();
        clearFinishes();
        admitted.clear();
        quietLanes.clear();
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
