package dev.onceflow.deploy.nocobase;

import com.fasterxml.jackson.databind.JsonNode;
import dev.onceflow.common.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads NocoBase workflows with their nodes, as NocoBase stores them: from its database (tables
 * {@code workflows} and {@code flow_nodes}, camelCase columns such as {@code "upstreamId"}, or
 * {@code upstream_id} when NocoBase ran with {@code DB_UNDERSCORED}) or from the JSON its REST API
 * answers to {@code workflows:list?appends=nodes} ({@code {"data": [{..., "nodes": [...]}]}}).
 * Every version is read; the import keeps the current ones. Stateless.
 */
public final class NocoSource {

    private NocoSource() {
    }

    /** The workflows in a REST API answer (or a bare array of workflows). */
    public static List<NocoWorkflow> fromJson(Path file) throws IOException {
        JsonNode root;
        try {
            root = Json.MAPPER.readTree(Files.readAllBytes(file));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalArgumentException(file + ": not JSON: " + e.getOriginalMessage());
        }
        JsonNode items = root != null && root.isObject() ? root.path("data") : root;
        if (items == null || !items.isArray()) {
            throw new IllegalArgumentException(file + ": expected NocoBase's workflows:list answer, {\"data\": [workflows with \"nodes\"]}, "
                    + "or an array of workflows");
        }
        List<NocoWorkflow> out = new ArrayList<>();
        int i = 0;
        for (JsonNode w : items) {
            String where = file + ": data[" + i++ + "]";
            if (!w.has("nodes")) {
                throw new IllegalArgumentException(where + " has no \"nodes\": export with workflows:list?appends=nodes");
            }
            List<NocoWorkflow.NocoNode> nodes = new ArrayList<>();
            for (JsonNode n : w.path("nodes")) {
                nodes.add(new NocoWorkflow.NocoNode(requiredId(n, "id", where + " node"), text(n, "key"), text(n, "title"),
                        text(n, "type"), config(n.get("config")), optionalId(n, "upstreamId"), optionalInt(n, "branchIndex"),
                        optionalId(n, "downstreamId")));
            }
            out.add(new NocoWorkflow(requiredId(w, "id", where), text(w, "key"), text(w, "title"), text(w, "type"),
                    config(w.get("config")), w.path("enabled").asBoolean(false), w.path("current").asBoolean(false),
                    w.path("sync").asBoolean(false), nodes));
        }
        return out;
    }

    /**
     * The workflows of a NocoBase database. {@code schema} is where NocoBase's tables are
     * ({@code public} unless NocoBase ran with {@code DB_SCHEMA}).
     */
    public static List<NocoWorkflow> fromDb(String url, String user, String password, String schema) throws SQLException {
        try (Connection c = DriverManager.getConnection(url, user, password)) {
            c.setReadOnly(true);
            boolean underscored = underscored(c, schema);
            String upstream = underscored ? "upstream_id" : "\"upstreamId\"";
            String downstream = underscored ? "downstream_id" : "\"downstreamId\"";
            String branch = underscored ? "branch_index" : "\"branchIndex\"";
            String workflowId = underscored ? "workflow_id" : "\"workflowId\"";
            String q = "\"" + schema.replace("\"", "\"\"") + "\"";
            Map<Long, List<NocoWorkflow.NocoNode>> nodes = new HashMap<>();
            try (PreparedStatement s = c.prepareStatement("SELECT id, key, title, type, config::text, " + upstream + ", " + branch + ", "
                    + downstream + ", " + workflowId + " FROM " + q + ".flow_nodes ORDER BY id");
                 ResultSet rs = s.executeQuery()) {
                while (rs.next()) {
                    nodes.computeIfAbsent(rs.getLong(9), k -> new ArrayList<>()).add(new NocoWorkflow.NocoNode(rs.getLong(1),
                            rs.getString(2), rs.getString(3), rs.getString(4), config(rs.getString(5)), (Long) rs.getObject(6, Long.class),
                            (Integer) rs.getObject(7, Integer.class), (Long) rs.getObject(8, Long.class)));
                }
            }
            Map<Long, NocoWorkflow> workflows = new LinkedHashMap<>();
            try (PreparedStatement s = c.prepareStatement("SELECT id, key, title, type, config::text, enabled, current, sync FROM " + q
                    + ".workflows ORDER BY id");
                 ResultSet rs = s.executeQuery()) {
                while (rs.next()) {
                    long id = rs.getLong(1);
                    workflows.put(id, new NocoWorkflow(id, rs.getString(2), rs.getString(3), rs.getString(4), config(rs.getString(5)),
                            rs.getBoolean(6), rs.getBoolean(7), rs.getBoolean(8), nodes.getOrDefault(id, List.of())));
                }
            }
            return new ArrayList<>(workflows.values());
        }
    }

    /** Whether NocoBase wrote snake_case columns ({@code DB_UNDERSCORED}); refuses a database without its tables. */
    private static boolean underscored(Connection c, String schema) throws SQLException {
        try (PreparedStatement s = c.prepareStatement("SELECT table_name, column_name FROM information_schema.columns "
                + "WHERE table_schema = ? AND table_name IN ('workflows', 'flow_nodes')")) {
            s.setString(1, schema);
            boolean workflows = false;
            boolean nodes = false;
            boolean snake = false;
            try (ResultSet rs = s.executeQuery()) {
                while (rs.next()) {
                    workflows |= rs.getString(1).equals("workflows");
                    nodes |= rs.getString(1).equals("flow_nodes");
                    snake |= rs.getString(2).equals("upstream_id");
                }
            }
            if (!workflows || !nodes) {
                throw new IllegalArgumentException("no NocoBase workflow tables in schema '" + schema + "' ("
                        + (workflows ? "" : "workflows ") + (nodes ? "" : "flow_nodes ") + "missing): is this NocoBase's database? "
                        + "give --db-schema when NocoBase runs with DB_SCHEMA");
            }
            return snake;
        }
    }

    private static JsonNode config(JsonNode node) {
        if (node != null && node.isTextual()) {
            return config(node.asText());
        }
        return node;
    }

    private static JsonNode config(String text) {
        if (text == null || text.isBlank()) {
            return null;
        }
        try {
            return Json.MAPPER.readTree(text);
        } catch (IOException e) {
            throw new IllegalArgumentException("a config that is not JSON: " + text);
        }
    }

    private static String text(JsonNode n, String field) {
        JsonNode v = n.get(field);
        return v == null || v.isNull() ? null : v.asText();
    }

    private static long requiredId(JsonNode n, String field, String where) {
        Long id = optionalId(n, field);
        if (id == null) {
            throw new IllegalArgumentException(where + ": no \"" + field + "\"");
        }
        return id;
    }

    /** NocoBase's snowflake ids come as numbers or, past 2^53, as strings. */
    private static Long optionalId(JsonNode n, String field) {
        JsonNode v = n.get(field);
        if (v == null || v.isNull()) {
            return null;
        }
        if (v.isNumber()) {
            return v.asLong();
        }
        try {
            return Long.parseLong(v.asText().trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("field \"" + field + "\": not an id: " + v);
        }
    }

    private static Integer optionalInt(JsonNode n, String field) {
        Long v = optionalId(n, field);
        return v == null ? null : v.intValue();
    }
}
