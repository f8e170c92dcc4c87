package dev.onceflow.common;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.common.InvalidInputException.Reason;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A trigger record as users publish it: {@code {"workflow":"order-sync","id":"ord-42","time":"2026-01-10T01:00:00Z","data":{...}}}.
 * {@code id} and {@code time} are optional; {@code time} is ISO-8601 or epoch milliseconds.
 */
public record TriggerRecord(String workflow, String id, Instant time, ObjectNode data) {

    public TriggerRecord {
        data = data == null ? JsonNodeFactory.instance.objectNode() : data;
    }

    /**
     * The event key of this trigger. With a publisher id the id is the discriminator, and when no
     * time is given the timestamp is 0: the id alone identifies the event, so a publisher that
     * retries later still maps to the same key. Without an id, the source position is the
     * discriminator and the time (or the record's timestamp) the timestamp.
     */
    public EventKey eventKey(long recordTimestamp, String sourcePosition) {
        if (id != null) {
            return EventKey.of(workflow, time == null ? 0L : time.toEpochMilli(), id);
        }
        long ts = time != null ? time.toEpochMilli() : Math.max(0L, recordTimestamp);
        return EventKey.of(workflow, ts, sourcePosition);
    }

    public byte[] toBytes() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("workflow", workflow);
        if (id != null) {
            m.put("id", id);
        }
        if (time != null) {
            m.put("time", time.toString());
        }
        m.put("data", data);
        return Json.bytes(m);
    }

    /** Parses and validates a trigger record; every rejection names its cause. */
    public static TriggerRecord parse(byte[] bytes) throws InvalidInputException {
        if (bytes == null || bytes.length == 0) {
            throw new InvalidInputException(Reason.MALFORMED_JSON, "empty record value: expected a JSON object");
        }
        JsonNode root;
        try {
            root = Json.MAPPER.readTree(bytes);
        } catch (JsonProcessingException e) {
            throw new InvalidInputException(Reason.MALFORMED_JSON, "malformed JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw new InvalidInputException(Reason.MALFORMED_JSON, "unreadable record: " + e.getMessage());
        }
        if (root == null || !root.isObject()) {
            throw new InvalidInputException(Reason.MALFORMED_JSON, "expected a JSON object, got "
                    + (root == null ? "nothing" : root.getNodeType().toString().toLowerCase()));
        }
        JsonNode wf = root.get("workflow");
        if (wf == null || wf.isNull()) {
            throw new InvalidInputException(Reason.MISSING_FIELD, "missing field 'workflow'");
        }
        if (!wf.isTextual() || !EventKey.WORKFLOW_ID.matcher(wf.asText()).matches()) {
            throw new InvalidInputException(Reason.INVALID_FIELD, "field 'workflow': '" + wf.asText() + "' is not a workflow id");
        }
        return new TriggerRecord(wf.asText(), id(root.get("id")), time(root.get("time")), data(root.get("data")));
    }

    private static String id(JsonNode id) throws InvalidInputException {
        if (id == null || id.isNull()) {
            return null;
        }
        if (!(id.isTextual() || id.isIntegralNumber()) || id.asText().isEmpty() || id.asText().length() > 256) {
            throw new InvalidInputException(Reason.INVALID_FIELD, "field 'id': expected a non-empty string of at most 256 characters");
        }
        return id.asText();
    }

    private static Instant time(JsonNode time) throws InvalidInputException {
        if (time == null || time.isNull()) {
            return null;
        }
        if (time.isIntegralNumber() && time.asLong() >= 0) {
            return Instant.ofEpochMilli(time.asLong());
        }
        if (time.isTextual()) {
            try {
                Instant t = Instant.parse(time.asText());
                if (t.toEpochMilli() >= 0) {
                    return t;
                }
            } catch (DateTimeParseException | ArithmeticException e) {
                // fall through to the error below
            }
        }
        throw new InvalidInputException(Reason.INVALID_FIELD, "field 'time': '" + time.asText()
                + "' is neither an ISO-8601 instant (2026-01-10T01:00:00Z) nor epoch milliseconds");
    }

    private static ObjectNode data(JsonNode data) throws InvalidInputException {
        if (data == null || data.isNull()) {
            return null;
        }
        if (!data.isObject()) {
            throw new InvalidInputException(Reason.INVALID_FIELD, "field 'data': expected a JSON object, got "
                    + data.getNodeType().toString().toLowerCase());
        }
        return (ObjectNode) data;
    }

    @Override
    public String toString() {
        return new String(toBytes(), StandardCharsets.UTF_8);
    }
}
