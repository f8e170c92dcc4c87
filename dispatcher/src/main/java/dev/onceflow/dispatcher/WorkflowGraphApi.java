package dev.onceflow.dispatcher;

import dev.onceflow.common.Json;
import dev.onceflow.common.WorkflowStore;
import dev.onceflow.common.http.ApiException;
import dev.onceflow.common.http.RoleServer;
import dev.onceflow.common.workflow.Node;
import dev.onceflow.common.workflow.Workflow;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import javax.sql.DataSource;

/**
 * {@code GET /api/workflows/{id}/versions/{version}}: one stored version's definition, and its graph
 * as the console draws it: the nodes with their type, and the edges each node can take, labelled
 * by why ({@code then}, {@code else}, {@code branch}, {@code each}, {@code after}). The edges come
 * from {@link Node#successors()}, so the picture follows the engine's own reading of the
 * definition. Stateless and thread-safe.
 */
final class WorkflowGraphApi {

    static final String PATH = "/api/workflows/{id}/versions/{version}";

    private final WorkflowStore workflows;

    WorkflowGraphApi(DataSource db) {
        this.workflows = new WorkflowStore(db);
    }

    void routes(RoutesConfig r) {
        r.get(PATH, this::show);
    }

    /** The endpoints {@link #routes} registers, as {@code "METHOD /path"}. */
    static List<String> endpoints() {
        return List.of("GET " + PATH);
    }

    private void show(Context ctx) throws SQLException {
        String id = ctx.pathParam("id");
        int version;
        try {
            version = Integer.parseInt(ctx.pathParam("version"));
        } catch (NumberFormatException e) {
            throw new ApiException(400, "version must be a whole number; got '" + ctx.pathParam("version") + "'");
        }
        Workflow wf = workflows.load(id, version)
                .orElseThrow(() -> new ApiException(404, "workflow '" + id + "' has no version " + version));
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("id", wf.id());
        body.put("version", wf.version());
        body.put("definition", Json.MAPPER.valueToTree(wf));
        body.put("graph", graph(wf));
        RoleServer.json(ctx, 200, body);
    }

    static Map<String, Object> graph(Workflow wf) {
        List<Map<String, Object>> nodes = new ArrayList<>();
        List<Map<String, Object>> edges = new ArrayList<>();
        for (Node n : wf.nodes()) {
            nodes.add(Map.of("id", n.id(), "type", type(n)));
            for (String to : n.successors()) {
                edges.add(Map.of("from", n.id(), "to", to, "label", label(n, to)));
            }
        }
        Map<String, Object> g = new LinkedHashMap<>();
        g.put("start", wf.start());
        g.put("trigger", wf.trigger() == null ? null : Json.MAPPER.valueToTree(wf.trigger()).path("type").asText(null));
        g.put("nodes", nodes);
        g.put("edges", edges);
        return g;
    }

    /** The node's {@code type} in JSON: the record's name in lower case ({@code Sql} is {@code sql}). */
    static String type(Node n) {
        return n.getClass().getSimpleName().toLowerCase(Locale.ROOT);
    }

    private static String label(Node n, String to) {
        if (n instanceof Node.Condition c) {
            return to.equals(c.thenNode()) ? "then" : "else";
        }
        if (n instanceof Node.Parallel p) {
            return p.branches().contains(to) ? "branch" : "after join";
        }
        if (n instanceof Node.Loop l) {
            return to.equals(l.doNode()) ? "each" : "after loop";
        }
        return "";
    }
}
