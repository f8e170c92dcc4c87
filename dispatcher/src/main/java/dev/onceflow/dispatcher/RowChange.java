package dev.onceflow.dispatcher;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.common.Json;
import java.io.IOException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * One row change as the capture read it from PostgreSQL's logical replication stream (a Debezium
 * change event in JSON without schemas). Its {@link #position()} — {@code lsn:txId:table:pk} — is
 * the same on every replay of the same change, which is what makes the event key stable.
 *
 * @param op        {@code insert}, {@code update} or {@code delete}
 * @param table     {@code schema.table}, canonical ({@link dev.onceflow.common.workflow.TableName}: {@code public."orderItems"})
 * @param before    the old row (updates and deletes; complete only with {@code REPLICA IDENTITY FULL}), or null
 * @param after     the new row (inserts and updates), or null
 * @param lsn       the change's log sequence number
 * @param txId      the PostgreSQL transaction id
 * @param commitMs  the transaction's commit time in epoch ms
 * @param pk        the primary key values joined by ',' (empty for a table without one)
 */
record RowChange(String op, String table, ObjectNode before, ObjectNode after, long lsn, long txId, long commitMs, String pk) {

    RowChange {
        Objects.requireNonNull(op, "op");
        Objects.requireNonNull(table, "table");
        pk = pk == null ? "" : pk;
    }

    /** The change's source position, the event key's discriminator. */
    String position() {
        return lsn + ":" + txId + ":" + table + ":" + pk;
    }

    /** The row the change is about: the new row, or the old one for a delete. */
    ObjectNode row() {
        return after != null ? after : before;
    }

    /** Whether any of {@code columns} (catalog names, as in the rows) differs between the old and the new row (updates only). */
    boolean changedAny(List<String> columns) {
        if (before == null || after == null) {
            return false;
        }
        for (String c : columns) {
            if (!Objects.equals(before.get(c), after.get(c))) {
                return true;
            }
        }
        return false;
    }

    /** The trigger data of the executions it starts. */
    ObjectNode data() {
        ObjectNode data = Json.MAPPER.createObjectNode();
        data.put("op", op).put("table", table);
        data.set("row", row());
        data.set("before", before);
        data.set("after", after);
        data.put("lsn", lsn).put("txId", txId).put("commitTime", Instant.ofEpochMilli(commitMs).toString());
        return data;
    }

    /** The variables a table trigger's condition sees. */
    Map<String, Object> conditionVariables() {
        Map<String, Object> vars = new java.util.HashMap<>();
        vars.put("op", op);
        vars.put("table", table);
        vars.put("row", toMap(row()));
        vars.put("before", toMap(before));
        vars.put("after", toMap(after));
        return vars;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> toMap(ObjectNode node) {
        return node == null ? null : Json.MAPPER.convertValue(node, Map.class);
    }

    /**
     * Parses a Debezium change event (key and value JSON, schemas disabled). Returns null for
     * records that are not row changes (heartbeats, truncates, transaction markers).
     *
     * @throws IllegalArgumentException when the value is not a change event this version understands
     */
    static RowChange parse(String keyJson, String valueJson) {
        if (valueJson == null) {
            return null; // a tombstone
        }
        try {
            JsonNode value = Json.MAPPER.readTree(valueJson);
            JsonNode opNode = value.get("op");
            if (opNode == null) {
                return null;
            }
            String op = switch (opNode.asText()) {
                case "c", "r" -> "insert";
                case "u" -> "update";
                case "d" -> "delete";
                default -> null; // "t" (truncate), "m" (message)
            };
            if (op == null) {
                return null;
            }
            JsonNode source = value.path("source");
            if (!source.has("lsn") || !source.has("table")) {
                throw new IllegalArgumentException("change event without source.lsn/source.table: " + abbreviate(valueJson));
            }
            // The canonical text (TableName, ADR 0024): as the old "schema.table" for plain lower-case names,
            // quoted where SQL needs it (public."orderItems"), so it equals the trigger's table.
            String table = dev.onceflow.common.workflow.TableName.of(source.path("schema").asText("public"),
                    source.get("table").asText()).toString();
            return new RowChange(op, table, object(value.get("before")), object(value.get("after")), source.get("lsn").asLong(),
                    source.path("txId").asLong(0), source.path("ts_ms").asLong(0), pk(keyJson));
        } catch (IOException e) {
            throw new IllegalArgumentException("change event is not JSON: " + e.getMessage() + ": " + abbreviate(valueJson), e);
        }
    }

    /** The logical decoding message prefix of the engine's depth marks (ADR 0011). */
    static final String DEPTH_PREFIX = "onceflow.depth";

    /** A depth mark of the engine read from the stream: changes after it in transaction {@code txId} are at {@code depth}. */
    record DepthMark(long txId, int depth) {
    }

    /**
     * The depth mark in a Debezium message event ({@code op} "m"), or null when the value is not
     * one (a change, a heartbeat, a message of another prefix).
     *
     * @throws IllegalArgumentException when it is a depth mark that does not read as a depth
     */
    static DepthMark depthMark(String valueJson) {
        if (valueJson == null) {
            return null;
        }
        JsonNode value;
        try {
            value = Json.MAPPER.readTree(valueJson);
        } catch (IOException e) {
            return null; // not a message; parse() reports it
        }
        if (value == null || !"m".equals(value.path("op").asText()) || !DEPTH_PREFIX.equals(value.path("message").path("prefix").asText())) {
            return null;
        }
        try {
            // bytes arrive base64-encoded from the JSON converter
            String text = new String(java.util.Base64.getDecoder().decode(value.path("message").path("content").asText()),
                    java.nio.charset.StandardCharsets.UTF_8);
            return new DepthMark(value.path("source").path("txId").asLong(0), Integer.parseInt(text.trim()));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("depth mark that is not a number: " + abbreviate(valueJson), e);
        }
    }

    private static String pk(String keyJson) throws IOException {
        if (keyJson == null) {
            return "";
        }
        JsonNode key = Json.MAPPER.readTree(keyJson);
        if (key == null || !key.isObject()) {
            return "";
        }
        List<String> parts = new ArrayList<>();
        for (Iterator<JsonNode> it = key.elements(); it.hasNext(); ) {
            JsonNode v = it.next();
            parts.add(v.isValueNode() ? v.asText() : v.toString());
        }
        return String.join(",", parts);
    }

    private static ObjectNode object(JsonNode node) {
        return node instanceof ObjectNode o ? o : null;
    }

    private static String abbreviate(String s) {
        return s.length() <= 200 ? s : s.substring(0, 200) + "…";
    }
}
