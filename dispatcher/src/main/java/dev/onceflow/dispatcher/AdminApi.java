package dev.onceflow.dispatcher;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.common.Json;
import dev.onceflow.common.OperatorCommand;
import dev.onceflow.common.Topics;
import dev.onceflow.common.WorkflowStore;
import dev.onceflow.common.executions.Execution;
import dev.onceflow.common.executions.ExecutionRecords;
import dev.onceflow.common.executions.ExecutionRow;
import dev.onceflow.common.executions.ExecutionStatus;
import dev.onceflow.common.executions.ShownStatus;
import dev.onceflow.common.executions.NodeRun;
import dev.onceflow.common.executions.Page;
import dev.onceflow.common.http.ApiException;
import dev.onceflow.common.http.RoleServer;
import dev.onceflow.common.workflow.DefinitionException;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.common.workflow.Workflows;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.apache.kafka.clients.producer.Producer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The admin API's executions and workflows endpoints (JSON, bearer token; served by the
 * dispatcher's {@link RoleServer}). Reads and writes the engine's tables through
 * {@link ExecutionRecords}, which holds their SQL; this class keeps to parameters, JSON and status
 * codes (the workflows list still reads the {@code workflows} table here). Cancel and retry change
 * nothing here: they validate and publish an {@link OperatorCommand} on {@value Topics#TASKS}, which
 * the engine applies in its own batch (ADR 0025). Thread-safe.
 */
final class AdminApi {

    private static final Logger LOG = LoggerFactory.getLogger(AdminApi.class);
    static final int DEFAULT_LIMIT = 50;
    static final int MAX_LIMIT = 1000;

    private final DataSource db;
    private final ExecutionRecords records;
    private final WorkflowStore workflows;
    private final Producer<byte[], byte[]> producer;
    private final DeadLetterApi deadLetters;
    private final FleetApi fleet;

    private final java.time.Clock clock;

    /** @param producer idempotent, {@code acks=all}: publishes the operator commands (ADR 0025) */
    AdminApi(DataSource db, Producer<byte[], byte[]> producer, DeadLetterApi deadLetters, FleetApi fleet, java.time.Clock clock) {
        this.clock = clock;
        this.db = db;
        this.records = new ExecutionRecords(db);
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

    /**
     * {@code GET /api/executions?workflow=&status=&since=&limit=&cursor=}: newest first; the cursor
     * is the last id seen. {@code status} is one of the shown statuses ({@link ShownStatus}), the
     * ones every item carries: {@code waiting} finds the executions waiting on a timer.
     */
    private void list(Context ctx) throws SQLException {
        int limit = intParam(ctx, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT);
        Long cursor = ctx.queryParam("cursor") == null ? null : (long) intParam(ctx, "cursor", 0, 1, Integer.MAX_VALUE);
        ShownStatus status = null;
        if (ctx.queryParam("status") != null) {
            status = ShownStatus.parse(ctx.queryParam("status")).orElseThrow(() -> new ApiException(400, "status must be "
                    + ShownStatus.words() + "; got '" + ctx.queryParam("status") + "'"));
        }
        Instant since = null;
        if (ctx.queryParam("since") != null) {
            try {
                since = Instant.parse(ctx.queryParam("since"));
            } catch (java.time.format.DateTimeParseException e) {
                throw new ApiException(400, "since must be an ISO instant such as 2026-11-27T10:00:00Z; got '" + ctx.queryParam("since") + "'");
            }
        }
        Page page = records.list(new ExecutionRecords.Filter(ctx.queryParam("workflow"), status, since), cursor, limit);
        List<ObjectNode> items = new ArrayList<>();
        for (ExecutionRow row : page.items()) {
            items.add(withoutNulls(json(row, null)));
        }
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("items", items);
        body.put("nextCursor", page.nextCursor());
        RoleServer.json(ctx, 200, body);
    }

    /**
     * {@code GET /api/executions/{key}}: the execution and its node runs in the order they ran
     * ({@link ExecutionRecords#nodeRuns}), each with its status as shown.
     */
    private void show(Context ctx) throws SQLException {
        String key = ctx.pathParam("key");
        Execution e = find(key);
        ObjectNode execution = json(e.row(), e);
        ArrayNode nodes = execution.putArray("nodes");
        for (NodeRun run : records.nodeRuns(e.id())) {
            ObjectNode n = nodes.addObject();
            n.put("processedKey", run.processedKey());
            n.put("node", run.nodeId());
            n.put("path", run.path());
            n.put("attempt", run.attempt());
            n.put("status", run.shown().word());
            n.put("startedAt", instant(run.startedAt()));
            n.put("finishedAt", instant(run.finishedAt()));
            n.set("output", run.output());
            n.put("error", run.error());
        }
        RoleServer.json(ctx, 200, execution);
    }

    /**
     * An execution as the API shows it: as listed, or with {@code full} (its trigger, variables,
     * depth and publish time) as {@code show} answers.
     */
    private static ObjectNode json(ExecutionRow row, Execution full) {
        ObjectNode e = JsonNodeFactory.instance.objectNode();
        e.put("id", row.id());
        e.put("eventKey", row.eventKey());
        e.put("workflow", row.workflowId());
        e.put("version", row.workflowVersion());
        e.put("status", row.shown().word());
        if (full != null) {
            e.set("trigger", full.trigger());
            e.set("vars", full.vars());
        }
        e.put("createdAt", instant(row.createdAt()));
        e.put("finishedAt", instant(row.finishedAt()));
        e.put("error", row.error());
        if (full != null) {
            e.put("depth", full.depth());
            e.put("publishedAtMs", full.publishedAt() == null ? 0 : full.publishedAt().toEpochMilli());
        }
        return e;
    }

    /**
     * The list leaves out the fields that are null (a running execution's finishedAt and error),
     * as it always has: its items were maps, which {@link Json#MAPPER}'s NON_NULL inclusion drops;
     * {@code show} writes them as null (a tree keeps its nulls).
     */
    private static ObjectNode withoutNulls(ObjectNode n) {
        List<String> nulls = new ArrayList<>();
        n.fieldNames().forEachRemaining(f -> {
            if (n.get(f).isNull()) {
                nulls.add(f);
            }
        });
        n.remove(nulls);
        return n;
    }

    /** The execution of {@code key}, else 410 when retention removed it (its key still absorbs duplicates) or 404. */
    private Execution find(String key) throws SQLException {
        Optional<Execution> e = records.find(key);
        if (e.isEmpty()) {
            throw notFound(key);
        }
        return e.get();
    }

    private ApiException notFound(String key) throws SQLException {
        return records.retired(key)
                ? new ApiException(410, "execution '" + key + "' finished and its history was removed (retention.executions.ms); its key "
                        + "still absorbs duplicates until retention.keys.ms")
                : new ApiException(404, "no execution with event key '" + key + "'");
    }

    /**
     * {@code POST /api/executions/{key}/cancel}, with an optional body {@code {"reason": "..."}}:
     * validates that the execution exists and is running, waiting or queued, then publishes a
     * cancel command for the engine to apply (ADR 0025) and answers 202 with its id. The engine
     * finishes the execution {@code cancelled} in its own batch, with its outcome record; a node
     * running at that moment finishes, and nothing after it runs.
     */
    private void cancel(Context ctx) throws SQLException {
        String key = ctx.pathParam("key");
        Execution e = find(key);
        if (e.status().finished()) {
            throw new ApiException(409, "execution '" + key + "' is already " + e.status().db() + ": only a running, waiting or "
                    + "queued execution can be cancelled");
        }
        OperatorCommand command = OperatorCommand.cancel(key, e.id(), reason(ctx), clock.millis());
        publish(command, e);
        LOG.info("Cancel of execution {} requested through the admin API (command {})", key, command.id());
        Map<String, Object> answer = new LinkedHashMap<>();
        answer.put("commandId", command.id());
        answer.put("command", command.kind());
        answer.put("eventKey", key);
        RoleServer.json(ctx, 202, answer);
    }

    /**
     * {@code POST /api/executions/{key}/retry}: validates that the execution failed at a node of its
     * main path and that its workflow version is stored, then publishes a retry command for the
     * engine to apply (ADR 0025) and answers 202 with its id, the node and the attempt. The engine
     * sets the execution running and runs that node again as its next attempt (a new processed
     * key), with the outputs and variables of the nodes that succeeded before it; those do not run again.
     */
    private void retry(Context ctx) throws SQLException {
        String key = ctx.pathParam("key");
        Execution e = find(key);
        if (e.status() != ExecutionStatus.FAILED) {
            throw new ApiException(409, "execution '" + key + "' is " + e.status().db() + ": only a failed execution can be retried");
        }
        ExecutionRecords.FailedNode failed = records.failedNode(e.id()).orElseThrow(() -> new ApiException(409, "execution '"
                + key + "' failed before any node ran (" + (e.row().error() == null ? "" : e.row().error()) + "): there is no node to "
                + "continue from; fix the cause and publish the event again under a new key"));
        if (!failed.path().isEmpty()) {
            throw new ApiException(409, "node '" + failed.nodeId() + "' failed inside a parallel branch or loop iteration (" + failed.path()
                    + "); retrying from inside a branch is not supported yet");
        }
        if (workflows.load(e.row().workflowId(), e.row().workflowVersion()).isEmpty()) {
            throw new ApiException(409, "version " + e.row().workflowVersion() + " of workflow '" + e.row().workflowId()
                    + "' is no longer stored");
        }
        OperatorCommand command = OperatorCommand.retry(key, e.id(), failed.nodeId(), failed.attempt() + 1, clock.millis());
        publish(command, e);
        LOG.info("Retry of execution {} from node '{}' (attempt {}) requested through the admin API (command {})", key,
                command.node(), command.attempt(), command.id());
        Map<String, Object> answer = new LinkedHashMap<>();
        answer.put("commandId", command.id());
        answer.put("command", command.kind());
        answer.put("eventKey", key);
        answer.put("node", command.node());
        answer.put("attempt", command.attempt());
        answer.put("processedKey", key + "/" + command.node() + "#" + command.attempt());
        RoleServer.json(ctx, 202, answer);
    }

    /**
     * Produces the command on {@value Topics#TASKS}, keyed by the execution's ordering key (else its
     * event key), so it reaches the worker that owns its tasks, in order with them (ADR 0025). The
     * producer is idempotent with {@code acks=all}; a send Kafka does not take changed nothing: 503.
     */
    private void publish(OperatorCommand command, Execution e) {
        String partitionKey = e.orderingKey() != null ? e.orderingKey() : e.eventKey();
        try {
            producer.send(command.record(partitionKey)).get(30, TimeUnit.SECONDS);
        } catch (InterruptedException interrupted) {
            Thread.currentThread().interrupt();
            throw new ApiException(503, "interrupted while publishing the " + command.kind() + " command; nothing changed");
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException
                 | org.apache.kafka.common.KafkaException failed) {
            // Every failure to produce is one answer: the command is not out, and the API wrote nothing.
            throw new ApiException(503, "Kafka did not take the " + command.kind() + " command ("
                    + (failed.getCause() != null ? failed.getCause().getMessage() : failed.getMessage()) + "); nothing changed, try again");
        }
    }

    /** The optional {@code reason} of a JSON body; null without one. */
    private static String reason(Context ctx) {
        byte[] body = ctx.bodyAsBytes();
        if (body == null || body.length == 0) {
            return null;
        }
        try {
            JsonNode reason = Json.MAPPER.readTree(body).path("reason");
            return reason.isTextual() ? reason.asText() : null;
        } catch (java.io.IOException malformed) {
            throw new ApiException(400, "malformed JSON body: " + malformed.getMessage());
        }
    }

    // ---- workflows ------------------------------------------------------------------------------

    /**
     * {@code GET /api/workflows}: every workflow with its versions, the latest first, whether it is
     * enabled, and its executions counted by shown status ({@link ExecutionRecords#countsByWorkflow}).
     */
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
        Map<String, Map<ShownStatus, Long>> counts = records.countsByWorkflow();
        for (Map<String, Object> w : byId.values()) {
            Map<String, Long> executions = new LinkedHashMap<>();
            counts.getOrDefault((String) w.get("id"), ExecutionRecords.zeros()).forEach((s, n) -> executions.put(s.word(), n));
            w.put("executions", executions);
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

    static String instant(Instant t) {
        return t == null ? null : t.toString();
    }
}
