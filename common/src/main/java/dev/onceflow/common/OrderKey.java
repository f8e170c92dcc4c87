package dev.onceflow.common;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Objects;

/**
 * The ordering key of an event (ADR 0020): which events must not overtake each other. Computed
 * where the event is born, from the same inputs as its {@link EventKey}, and prefixed with the
 * workflow id so that two workflows on one table or topic never wait on each other.
 *
 * <table>
 *   <caption>ordering key by trigger</caption>
 *   <tr><th>trigger</th><th>ordering key</th></tr>
 *   <tr><td>table</td><td>{@code wf/schema.table/pk} (pk values joined by ',', as in the event key)</td></tr>
 *   <tr><td>kafka</td><td>{@code wf/} + the value at the trigger's {@code orderKey} pointer, else the source
 *       record's key (UTF-8; {@code b64:} + base64 when it is not valid UTF-8)</td></tr>
 *   <tr><td>api</td><td>{@code wf/} + the {@code Order-Key} header, else the value at the trigger's
 *       {@code orderKey} pointer</td></tr>
 *   <tr><td>schedule</td><td>{@code wf}</td></tr>
 * </table>
 *
 * <p>Every method returns null when the workflow is not ordered ({@code order: "none"}) or when its
 * rule yields nothing (a record without key and no pointer value, an API call without order key):
 * the event is then a sequence of one, partitioned by its event key as before ADR 0020. A key longer
 * than {@value #MAX_CHARS} characters becomes {@code wf/sha256:<hex of the whole key>}.
 *
 * <p>Pure functions; thread-safe.
 */
public final class OrderKey {

    /** The longest ordering key kept as is; longer ones are hashed. */
    public static final int MAX_CHARS = 512;
    /** The prefix of a Kafka record key that is not valid UTF-8, base64-encoded after it. */
    public static final String BASE64_PREFIX = "b64:";
    /** The HTTP header an API caller names its ordering key with. */
    public static final String HEADER = "Order-Key";

    private OrderKey() {
    }

    /** A {@code table} trigger's change of {@code table} ({@code schema.table}) at primary key {@code pk}. */
    public static String table(String workflowId, boolean ordered, String table, String pk) {
        Objects.requireNonNull(table, "table");
        return ordered ? of(workflowId, table + "/" + (pk == null ? "" : pk)) : null;
    }

    /**
     * A {@code kafka} trigger's record: the value at {@code pointer} in {@code data} (the event's
     * data: the record itself on a user topic, the trigger record's {@code data} on
     * {@value Topics#TRIGGERS}), else the record key.
     */
    public static String kafka(String workflowId, boolean ordered, String pointer, JsonNode data, byte[] recordKey) {
        if (!ordered) {
            return null;
        }
        String part = at(data, pointer);
        if (part == null) {
            part = recordKey(recordKey);
        }
        return part == null ? null : of(workflowId, part);
    }

    /** An {@code api} call: its {@value #HEADER} header, else the value at {@code pointer} in the body. */
    public static String api(String workflowId, boolean ordered, String header, String pointer, JsonNode data) {
        if (!ordered) {
            return null;
        }
        String part = header == null || header.isEmpty() ? at(data, pointer) : header;
        return part == null ? null : of(workflowId, part);
    }

    /** A {@code schedule} tick: one sequence per workflow. */
    public static String schedule(String workflowId, boolean ordered) {
        return ordered ? limited(checkedId(workflowId)) : null;
    }

    /** {@code workflowId/part}, hashed when longer than {@value #MAX_CHARS}. */
    static String of(String workflowId, String part) {
        return limited(checkedId(workflowId) + "/" + part);
    }

    /** A Kafka record key as text: UTF-8 when it decodes, else {@code b64:} and its base64; null when absent or empty. */
    static String recordKey(byte[] key) {
        if (key == null || key.length == 0) {
            return null;
        }
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(key))
                    .toString();
        } catch (CharacterCodingException e) {
            return BASE64_PREFIX + Base64.getEncoder().encodeToString(key);
        }
    }

    /**
     * The text at {@code pointer}: a scalar's text, a container's JSON; null when the pointer is
     * absent, leads nowhere, to null or to an empty string.
     */
    static String at(JsonNode data, String pointer) {
        if (pointer == null || data == null) {
            return null;
        }
        JsonNode v = data.at(pointer);
        if (v.isMissingNode() || v.isNull()) {
            return null;
        }
        String text = v.isValueNode() ? v.asText() : v.toString();
        return text.isEmpty() ? null : text;
    }

    private static String limited(String key) {
        if (key.length() <= MAX_CHARS) {
            return key;
        }
        String workflowId = key.indexOf('/') < 0 ? key : key.substring(0, key.indexOf('/'));
        return workflowId + "/sha256:" + HexFormat.of().formatHex(sha256(key));
    }

    private static String checkedId(String workflowId) {
        Objects.requireNonNull(workflowId, "workflowId");
        if (!EventKey.WORKFLOW_ID.matcher(workflowId).matches()) {
            throw new IllegalArgumentException("invalid workflow id '" + workflowId + "'");
        }
        return workflowId;
    }

    private static byte[] sha256(String text) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every Java platform", e);
        }
    }
}
