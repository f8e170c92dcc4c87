package dev.onceflow.dispatcher;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.common.EventKey;
import dev.onceflow.common.Json;
import dev.onceflow.common.TaskEnvelope;
import dev.onceflow.common.Topics;
import dev.onceflow.common.WorkflowStore;
import dev.onceflow.common.http.ApiException;
import dev.onceflow.common.http.RoleServer;
import dev.onceflow.common.workflow.DefinitionException;
import dev.onceflow.common.workflow.Node;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.common.workflow.Workflows;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The admin API's executions and workflows endpoints (JSON, bearer token; served by the
 * dispatcher's {@link RoleServer}). Reads and writes the engine's tables through short JDBC
 * transactions; a retry continues an execution by producing a task record on
 * {@value Topics#TASKS}, which the engine runs under a new processed key (a new attempt), so
 * nodes that succeeded do not run again. Thread-safe.
 */
final class AdminApi {

    private static final Logger LOG = LoggerFactory.getLogger(AdminApi.class);
    static final int DEFAULT_LIMIT = 50;
    static final int MAX_LIMIT = 1000;

    private final DataSource db;
    private final WorkflowStore workflows;
    private final Producer<byte[], byte[]> producer;
    private final DeadLetterApi deadLetters;
    private final FleetApi fleet;

    private final java.util.function.Consumer<String> cancelled;

    /** @param cancelled told the workflow of each execution cancelled here (a metric) */
    AdminApi(DataSource db, Producer<byte[], byte[]> producer, DeadLetterApi deadLetters, FleetApi fleet,
             java.util.function.Consumer<String> cancelled) {
        this.cancelled = cancelled;
        this.db = db;
        this.workflows = new WorkflowStore(db);
        this.producer = producer;
        this.deadLetters = deadLetters;
        this.fleet = fleet;
    }

    /** The endpoints registered by {@link #routes}, as {@code "METHOD /path"} (the OpenAPI file describes each). */
    private final List<String> endpoints = new ArrayList<>();

    void routes(RoutesConfig r) {
        add(r, "GET", "/api/executions", this::list);
        add(r, "GET", "/api/executions/{key}", this::show);
        add(r, "POST", "/api/executions/{key}/cancel", this::cancel);
        add(r, "POST", "/api/executions/{key}/retry", this::retry);
        add(r, "GET", "/api/workflows", this::workflows);
        add(r, "POST", "/api/workflows", this::deploy);
        add(r, "POST", "/api/workflows/{id}/enable", ctx -> enable(ctx, true));
        add(r, "POST", "/api/workflows/{id}/disable", ctx -> enable(ctx, false));
        add(r, "POST", "/api/workflows/{id}/rollback", this::rollback);
        add(r, "GET", "/api/dlq", deadLetters::list);
        add(r, "POST", "/api/dlq/redrive", deadLetters::redrive);
        add(r, "GET", "/api/fleet", fleet::show);
        byte[] openApi = openApi();
        r.get(dev.onceflow.common.HttpPaths.OPENAPI, ctx -> ctx.contentType("application/json").result(openApi));
    }

    private void add(RoutesConfig r, String method, String path, io.javalin.http.Handler handler) {
        if (method.equals("GET")) {
            r.get(path, handler);
        } else {
            r.post(path, handler);
        }
        endpoints.add(method + " " + path);
    }

    List<String> endpoints() {
        return List.copyOf(endpoints);
    }

    /** The OpenAPI description served at {@link dev.onceflow.common.HttpPaths#OPENAPI} (no token). */
    static byte[] openApi() {
        try (var in = AdminApi.class.getResourceAsStream("/openapi.json")) {
            if (in == null) {
                throw new IllegalStateException("openapi.json is missing from the dispatcher's jar");
            }
            return in.readAllBytes();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    // ---- executions ---------------------------------------------------------------------------

    /** {@code GET /api/executions?workflow=&status=&since=&limit=&cursor=}: newest first; the cursor is the last id seen. */
    private void list(Context ctx) throws SQLException {
        int limit = intParam(ctx, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT);
        Long cursor = ctx.queryParam("cursor") == null ? null : (long) intParam(ctx, "cursor", 0, 1, Integer.MAX_VALUE);
        String status = ctx.queryParam("status");
        if (status != null && !List.of("running", "succeeded", "failed", "cancelled").contains(status)) {
            throw new ApiException(400, "status must be one of running, succeeded, failed, cancelled; got '" + status + "'");
        }
        Instant since = null;
        if (ctx.queryParam("since") != null) {
            try {
                since = Instant.parse(ctx.queryParam("since"));
            } catch (java.time.format.DateTimeParseException e) {
                throw new ApiException(400, "since must be an ISO instant such as 2026-11-27T10:00:00Z; got '" + ctx.queryParam("since") + "'");
            }
        }
        StringBuilder sql = new StringBuilder("SELECT id, event_key, workflow_id, workflow_version, status, created_at, finished_at, error "
                + "FROM executions WHERE true");
        List<Object> args = new ArrayList<>();
        if (ctx.queryParam("workflow") != null) {
            sql.append(" AND workflow_id = ?");
            args.add(ctx.queryParam("workflow"));
        }
        if (status != null) {
            sql.append(" AND status = ?");
            args.add(status);
        }
        if (since != null) {
            sql.append(" AND created_at >= ?");
            args.add(Timestamp.from(since));
        }
        if (cursor != null) {
            sql.append(" AND id < ?");
            args.add(cursor);
        }
        sql.append(" ORDER BY id DESC LIMIT ?");
        args.add(limit + 1);
        List<Map<String, Object>> items = new ArrayList<>();
        try (Connection c = db.getConnection(); PreparedStatement q = c.prepareStatement(sql.toString())) {
            for (int i = 0; i < args.size(); i++) {
                q.setObject(i + 1, args.get(i));
            }
            try (ResultSet rs = q.executeQuery()) {
                while (rs.next()) {
                    Map<String, Object> m = new LinkedHashMap<>();
                    m.put("id", rs.getLong(1));
                    m.put("eventKey", rs.getString(2));
                    m.put("workflow", rs.getString(3));
                    m.put("version", rs.getInt(4));
                    m.put("status", rs.getString(5));
                    m.put("createdAt", instant(rs.getTimestamp(6)));
                    m.put("finishedAt", instant(rs.getTimestamp(7)));
                    m.put("error", rs.getString(8));
                    items.add(m);
                }
            }
        }
        Map<String, Object> body = new LinkedHashMap<>();
        boolean more = items.size() > limit;
        List<Map<String, Object>> page = more ? items.subList(0, limit) : items;
        body.put("items", page);
        body.put("nextCursor", more ? page.get(page.size() - 1).get("id") : null);
        RoleServer.json(ctx, 200, body);
    }

    /** {@code GET /api/executions/{key}}: the execution and its node timeline. */
    private void show(Context ctx) throws SQLException {
        String key = ctx.pathParam("key");
        try (Connection c = db.getConnection()) {
            ObjectNode execution = execution(c, key);
            ArrayNode nodes = execution.putArray("nodes");
            try (PreparedStatement q = c.prepareStatement("SELECT key, node_id, path, attempt, status, started_at, finished_at, output, error "
                    + "FROM processed_keys WHERE execution_id = ? ORDER BY started_at, key")) {
                q.setLong(1, execution.get("id").asLong());
                try (ResultSet rs = q.executeQuery()) {
                    while (rs.next()) {
                        ObjectNode n = nodes.addObject();
                        n.put("processedKey", rs.getString(1));
                        n.put("node", rs.getString(2));
                        n.put("path", rs.getString(3));
                        n.put("attempt", rs.getInt(4));
                        n.put("status", rs.getString(5));
                        n.put("startedAt", instant(rs.getTimestamp(6)));
                        n.put("finishedAt", instant(rs.getTimestamp(7)));
                        n.set("output", rs.getString(8) == null ? null : Json.tree(rs.getString(8)));
                        n.put("error", rs.getString(9));
                    }
                }
            }
            RoleServer.json(ctx, 200, execution);
        }
    }

    private static ObjectNode execution(Connection c, String key) throws SQLException {
        try (PreparedStatement q = c.prepareStatement("SELECT id, event_key, workflow_id, workflow_version, status, trigger, vars, "
                + "created_at, finished_at, error, depth, published_at FROM executions WHERE event_key = ?")) {
            q.setString(1, key);
            try (ResultSet rs = q.executeQuery()) {
                if (!rs.next()) {
                    throw new ApiException(retired(c, key) ? 410 : 404, retired(c, key)
                            ? "execution '" + key + "' finished and its history was removed (retention.executions.ms); its key still "
                                    + "absorbs duplicates until retention.keys.ms"
                            : "no execution with event key '" + key + "'");
                }
                ObjectNode e = JsonNodeFactory.instance.objectNode();
                e.put("id", rs.getLong(1));
                e.put("eventKey", rs.getString(2));
                e.put("workflow", rs.getString(3));
                e.put("version", rs.getInt(4));
                e.put("status", rs.getString(5));
                e.set("trigger", Json.tree(rs.getString(6)));
                e.set("vars", Json.tree(rs.getString(7)));
                e.put("createdAt", instant(rs.getTimestamp(8)));
                e.put("finishedAt", instant(rs.getTimestamp(9)));
                e.put("error", rs.getString(10));
                e.put("depth", rs.getInt(11));
                Timestamp published = rs.getTimestamp(12);
                e.put("publishedAtMs", published == null ? 0 : published.getTime());
                return e;
            }
        }
    }

    private static boolean retired(Connection c, String key) throws SQLException {
        try (PreparedStatement q = c.prepareStatement("SELECT 1 FROM retired_event_keys WHERE event_key = ?")) {
            q.setString(1, key);
            try (ResultSet rs = q.executeQuery()) {
                return rs.next();
            }
        }
    }

    /**
     * {@code POST /api/executions/{key}/cancel}: a running or waiting execution becomes
     * {@code cancelled}. The update waits for the share lock a worker holds on the execution while
     * a node of it runs, so a node running at that moment finishes, and nothing after it runs (the
     * engine reads the status before every wave, timers and tasks included).
     */
    private void cancel(Context ctx) throws SQLException {
        String key = ctx.pathParam("key");
        try (Connection c = db.getConnection();
             PreparedStatement u = c.prepareStatement("UPDATE executions SET status = 'cancelled', finished_at = now(), "
                     + "error = 'cancelled through the admin API' WHERE event_key = ? AND finished_at IS NULL RETURNING workflow_id")) {
            u.setString(1, key);
            String workflow = null;
            try (ResultSet rs = u.executeQuery()) {
                if (rs.next()) {
                    workflow = rs.getString(1);
                }
            }
            if (workflow != null) {
                cancelled.accept(workflow);
            }
            if (workflow == null) {
                ObjectNode e = execution(c, key); // 404 when unknown
                throw new ApiException(409, "execution '" + key + "' is already " + e.get("status").asText() + ": only a running or "
                        + "waiting execution can be cancelled");
            }
            LOG.info("Execution {} cancelled through the admin API", key);
            RoleServer.json(ctx, 200, Map.of("eventKey", key, "status", "cancelled"));
        }
    }

    /**
     * {@code POST /api/executions/{key}/retry}: a failed execution continues from its failed node,
     * as a new attempt (a new processed key), with the outputs and variables of the nodes that
     * succeeded before it; those do not run again. The execution is set running first, then the
     * task is produced; if Kafka does not take it, the execution is set back to failed and the
     * call answers 503 (try again).
     */
    private void retry(Context ctx) throws Exception {
        String key = ctx.pathParam("key");
        TaskEnvelope task;
        try (Connection c = db.getConnection()) {
            c.setAutoCommit(false);
            ObjectNode e = execution(c, key);
            try (PreparedStatement lock = c.prepareStatement("SELECT status FROM executions WHERE id = ? FOR UPDATE")) {
                lock.setLong(1, e.get("id").asLong());
                try (ResultSet rs = lock.executeQuery()) {
                    rs.next();
                    if (!"failed".equals(rs.getString(1))) {
                        throw new ApiException(409, "execution '" + key + "' is " + rs.getString(1) + ": only a failed execution can be retried");
                    }
                }
            }
            task = retryTask(c, e);
            try (PreparedStatement u = c.prepareStatement("UPDATE executions SET status = 'running', finished_at = NULL, error = NULL "
                    + "WHERE id = ?")) {
                u.setLong(1, e.get("id").asLong());
                u.executeUpdate();
            }
            c.commit();
        }
        try {
            producer.send(new ProducerRecord<>(Topics.TASKS, key.getBytes(StandardCharsets.UTF_8), Json.bytes(task))).get(30, TimeUnit.SECONDS);
        } catch (Exception failed) {
            try (Connection c = db.getConnection();
                 PreparedStatement u = c.prepareStatement("UPDATE executions SET status = 'failed', finished_at = now(), "
                         + "error = ? WHERE event_key = ? AND status = 'running'")) {
                u.setString(1, "retry not started: Kafka did not take its task (" + failed.getMessage() + ")");
                u.setString(2, key);
                u.executeUpdate();
            }
            throw new ApiException(503, "Kafka did not take the retry's task: " + failed.getMessage() + "; the execution is failed again");
        }
        LOG.info("Execution {} retried from node '{}' (attempt {}) through the admin API", key, task.node(), task.attempt());
        RoleServer.json(ctx, 202, Map.of("eventKey", key, "node", task.node(), "attempt", task.attempt(),
                "processedKey", task.processedKey()));
    }

    /** The task that runs the failed node again, on the main path, as its next attempt. */
    private TaskEnvelope retryTask(Connection c, ObjectNode e) throws SQLException {
        long id = e.get("id").asLong();
        String failedNode = null;
        String failedPath = null;
        int attempt = 0;
        try (PreparedStatement q = c.prepareStatement("SELECT node_id, path, attempt FROM processed_keys WHERE execution_id = ? "
                + "AND status = 'failed' ORDER BY finished_at DESC NULLS LAST, attempt DESC LIMIT 1")) {
            q.setLong(1, id);
            try (ResultSet rs = q.executeQuery()) {
                if (rs.next()) {
                    failedNode = rs.getString(1);
                    failedPath = rs.getString(2);
                    attempt = rs.getInt(3);
                }
            }
        }
        if (failedNode == null) {
            throw new ApiException(409, "execution '" + e.get("eventKey").asText() + "' failed before any node ran (" + e.get("error").asText("")
                    + "): there is no node to continue from; fix the cause and publish the event again under a new key");
        }
        if (!failedPath.isEmpty()) {
            throw new ApiException(409, "node '" + failedNode + "' failed inside a parallel branch or loop iteration (" + failedPath
                    + "); retrying from inside a branch is not supported yet");
        }
        try (PreparedStatement q = c.prepareStatement("SELECT max(attempt) FROM processed_keys WHERE execution_id = ? AND node_id = ? AND path = ''")) {
            q.setLong(1, id);
            q.setString(2, failedNode);
            try (ResultSet rs = q.executeQuery()) {
                rs.next();
                attempt = Math.max(attempt, rs.getInt(1));
            }
        }
        Workflow wf = workflows.load(e.get("workflow").asText(), e.get("version").asInt())
                .orElseThrow(() -> new ApiException(409, "version " + e.get("version").asInt() + " of workflow '"
                        + e.get("workflow").asText() + "' is no longer stored"));
        Map<String, JsonNode> outputs = new HashMap<>();
        ObjectNode vars = JsonNodeFactory.instance.objectNode();
        try (PreparedStatement q = c.prepareStatement("SELECT node_id, output FROM processed_keys WHERE execution_id = ? AND path = '' "
                + "AND status IN ('succeeded', 'waiting') ORDER BY finished_at NULLS LAST")) {
            q.setLong(1, id);
            try (ResultSet rs = q.executeQuery()) {
                while (rs.next()) {
                    JsonNode output = rs.getString(2) == null ? null : Json.tree(rs.getString(2));
                    if (output != null) {
                        outputs.put(rs.getString(1), output);
                        if (wf.node(rs.getString(1)).orElse(null) instanceof Node.Calculation && output.isObject()) {
                            vars.setAll((ObjectNode) output);
                        }
                    }
                }
            }
        }
        String eventKey = e.get("eventKey").asText();
        long eventTime;
        try {
            eventTime = EventKey.parse(eventKey).timestamp();
        } catch (RuntimeException notAKey) {
            eventTime = 0;
        }
        return new TaskEnvelope(eventKey, id, wf.id(), wf.version(), failedNode, "", eventTime, (ObjectNode) e.get("trigger"), outputs,
                e.get("publishedAtMs").asLong(), e.get("depth").asInt(), vars, attempt + 1);
    }

    // ---- workflows ------------------------------------------------------------------------------

    /** {@code GET /api/workflows}: every workflow with its versions, the latest first, and whether it is enabled. */
    private void workflows(Context ctx) throws SQLException {
        Map<String, Map<String, Object>> byId = new LinkedHashMap<>();
        try (Connection c = db.getConnection();
             PreparedStatement q = c.prepareStatement("SELECT id, version, enabled, definition->'trigger'->>'type' "
                     + "FROM workflows ORDER BY id, version DESC")) {
            try (ResultSet rs = q.executeQuery()) {
                while (rs.next()) {
                    Map<String, Object> w = byId.computeIfAbsent(rs.getString(1), id -> {
                        Map<String, Object> m = new LinkedHashMap<>();
                        m.put("id", id);
                        m.put("versions", new ArrayList<Integer>());
                        return m;
                    });
                    @SuppressWarnings("unchecked")
                    List<Integer> versions = (List<Integer>) w.get("versions");
                    if (versions.isEmpty()) {
                        w.put("latest", rs.getInt(2));
                        w.put("enabled", rs.getBoolean(3));
                        w.put("trigger", rs.getString(4));
                    }
                    versions.add(rs.getInt(2));
                }
            }
        }
        RoleServer.json(ctx, 200, Map.of("items", new ArrayList<>(byId.values())));
    }

    /** {@code POST /api/workflows}: deploys the body as the next version (validation errors name the node and field: 400). */
    private void deploy(Context ctx) throws SQLException {
        Workflow wf;
        try {
            wf = Workflows.parse("request body", ctx.bodyAsBytes());
        } catch (DefinitionException e) {
            throw new ApiException(400, e.getMessage());
        }
        Workflow stored = workflows.deploy(wf);
        RoleServer.json(ctx, 201, Map.of("id", stored.id(), "version", stored.version()));
    }

    private void enable(Context ctx, boolean enabled) throws SQLException {
        String id = ctx.pathParam("id");
        if (!workflows.setEnabled(id, enabled)) {
            throw new ApiException(404, "no workflow '" + id + "' is deployed");
        }
        RoleServer.json(ctx, 200, Map.of("id", id, "enabled", enabled));
    }

    /** {@code POST /api/workflows/{id}/rollback?version=N}: deploys version N's definition again, as the next version. */
    private void rollback(Context ctx) throws SQLException {
        String id = ctx.pathParam("id");
        int version = intParam(ctx, "version", -1, 1, Integer.MAX_VALUE);
        if (version < 0) {
            throw new ApiException(400, "rollback needs ?version=N, the version whose definition to deploy again");
        }
        Workflow old = workflows.load(id, version)
                .orElseThrow(() -> new ApiException(404, "workflow '" + id + "' has no version " + version));
        Workflow stored = workflows.deploy(old);
        RoleServer.json(ctx, 201, Map.of("id", id, "version", stored.version(), "definitionOf", version));
    }

    // ---- helpers --------------------------------------------------------------------------------

    static int intParam(Context ctx, String name, int def, int min, int max) {
        String v = ctx.queryParam(name);
        if (v == null) {
            return def;
        }
        try {
            int n = Integer.parseInt(v);
            if (n < min || n > max) {
                throw new ApiException(400, name + " must be between " + min + " and " + max + "; got " + n);
            }
            return n;
        } catch (NumberFormatException e) {
            throw new ApiException(400, name + " must be a whole number; got '" + v + "'");
        }
    }

    static String instant(Timestamp t) {
        return t == null ? null : t.toInstant().toString();
    }
}
