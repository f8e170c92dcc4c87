package dev.onceflow.dispatcher;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.common.EventKey;
import dev.onceflow.common.InvalidInputException;
import dev.onceflow.common.Json;
import dev.onceflow.common.Topics;
import dev.onceflow.common.TriggerRecord;
import dev.onceflow.common.http.ApiException;
import dev.onceflow.common.http.RoleServer;
import dev.onceflow.common.workflow.Trigger;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;

/**
 * {@code onceflow publish}'s endpoints: the workflow and its trigger are checked before anything
 * is sent, so a mistake is an answer now (404, 409) and not a dead letter later.
 *
 * <ul>
 *   <li>{@code POST /api/workflows/{id}/publish} with {@code {"id":..,"time":..,"data":{..}}}: for a
 *       {@code kafka} workflow on {@value Topics#TRIGGERS}, the trigger record is produced there and
 *       the answer carries the event key the dispatcher derives from it ({@link TriggerRecord#eventKey},
 *       the record's position); for an {@code api} workflow, the trigger endpoint's own logic
 *       ({@link ApiIngress#accept}, {@code id} as the Idempotency-Key).</li>
 *   <li>{@code POST /api/topics/{topic}/records}: the body, a JSON object, sent as given to the topic
 *       of enabled {@code kafka} workflows; the answer lists the event key of each.</li>
 * </ul>
 * Records go through a producer of their own whose every wait is bounded by {@value #ACK_TIMEOUT_MS} ms
 * (metadata, request, delivery), so a broker that is down is a 503 within seconds, and a 503 means the
 * producer gave up on the record. Created on first use, closed by {@link #close}. Thread-safe.
 */
final class PublishApi implements AutoCloseable {

    static final String PUBLISH_PATH = "/api/workflows/{id}/publish";
    static final String RECORDS_PATH = "/api/topics/{topic}/records";
    /** A person is waiting at the other end: how long a record may take to be acknowledged by all replicas. */
    static final int ACK_TIMEOUT_MS = 5_000;
    private static final int MAX_BODY = 1 << 20;

    private final WorkflowCatalog catalog;
    private final ApiIngress ingress;
    private final Supplier<Producer<byte[], byte[]>> newProducer;
    private Producer<byte[], byte[]> producer;
    private boolean closed;

    PublishApi(WorkflowCatalog catalog, ApiIngress ingress, Supplier<Producer<byte[], byte[]>> newProducer) {
        this.catalog = catalog;
        this.ingress = ingress;
        this.newProducer = newProducer;
    }

    /** The settings of the producer: acks from all replicas, every wait bounded (see the class comment). */
    static Map<String, Object> producerSettings(String bootstrap, Map<String, Object> passThrough) {
        Map<String, Object> p = new java.util.HashMap<>(passThrough);
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        // As the publish command's producer was: a retried record appended twice is a duplicate Onceflow absorbs.
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "false");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "0");
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, String.valueOf(ACK_TIMEOUT_MS));
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, String.valueOf(ACK_TIMEOUT_MS - 1_000));
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, String.valueOf(ACK_TIMEOUT_MS));
        return p;
    }

    static List<String> endpoints() {
        return List.of("POST " + PUBLISH_PATH, "POST " + RECORDS_PATH);
    }

    void routes(RoutesConfig r) {
        r.post(PUBLISH_PATH, this::publish);
        r.post(RECORDS_PATH, this::records);
    }

    /** {@code POST /api/workflows/{id}/publish}. */
    private void publish(Context ctx) {
        String workflowId = ctx.pathParam("id");
        WorkflowCatalog.Entry entry = catalog.find(workflowId)
                .orElseThrow(() -> new ApiException(404, "unknown workflow '" + workflowId + "': no such workflow is deployed"));
        if (!entry.enabled()) {
            throw new ApiException(409, "workflow '" + workflowId + "' is disabled: it accepts no new events (onceflow workflow enable "
                    + workflowId + ")");
        }
        ObjectNode body = object(ctx, "the body");
        for (java.util.Iterator<String> names = body.fieldNames(); names.hasNext(); ) {
            String name = names.next();
            if (!List.of("id", "time", "data").contains(name)) {
                throw new ApiException(400, "unknown field '" + name + "': the body is {\"id\": .., \"time\": .., \"data\": {..}}");
            }
        }
        // No trigger: the default, kafka on onceflow.triggers (as ValidateTrigger reads it).
        Trigger trigger = entry.trigger() == null ? new Trigger.Kafka(null, null, null) : entry.trigger();
        if (trigger instanceof Trigger.Api) {
            if (body.hasNonNull("time")) {
                throw new ApiException(400, "workflow '" + workflowId + "' has an api trigger: its events take the time they arrive"
                        + " (no time)");
            }
            JsonNode data = body.path("data");
            if (!data.isMissingNode() && !data.isNull() && !data.isObject()) {
                throw new ApiException(400, "data must be a JSON object");
            }
            String id = body.hasNonNull("id") ? body.get("id").asText() : null;
            ingress.accept(ctx, workflowId, entry, data.isObject() ? (ObjectNode) data : Json.MAPPER.createObjectNode(), id,
                    ctx.header(dev.onceflow.common.OrderKey.HEADER), ctx.bodyAsBytes().length);
            return;
        }
        if (!(trigger instanceof Trigger.Kafka kafka)) {
            throw new ApiException(409, "workflow '" + workflowId + "' has " + startsFrom(trigger));
        }
        if (kafka.userTopic()) {
            throw new ApiException(409, "workflow '" + workflowId + "' reads topic " + kafka.topic() + ": publish a record to that topic"
                    + " instead (onceflow publish --topic " + kafka.topic() + " DATA)");
        }
        ObjectNode wrapped = Json.MAPPER.createObjectNode().put("workflow", workflowId);
        wrapped.setAll(body);
        TriggerRecord record;
        try {
            // The dispatcher's own validation of what it is about to read: a record it would refuse is refused now.
            record = TriggerRecord.parse(Json.bytes(wrapped));
        } catch (InvalidInputException e) {
            throw new ApiException(400, e.getMessage());
        }
        byte[] key = record.id() == null ? null : record.id().getBytes(StandardCharsets.UTF_8);
        RecordMetadata md = send(Topics.TRIGGERS, key, record.toBytes());
        // The dispatcher's derivation (ValidateTrigger): the same function, the same inputs.
        EventKey eventKey = record.eventKey(md.timestamp(), EventKey.sourcePosition(Topics.TRIGGERS, md.partition(), md.offset()));
        Map<String, Object> answer = position(md);
        answer.put("eventKey", eventKey.toString());
        RoleServer.json(ctx, 202, answer);
    }

    /** {@code POST /api/topics/{topic}/records}. */
    private void records(Context ctx) {
        String topic = ctx.pathParam("topic");
        if (topic.equals(Topics.TRIGGERS)) {
            throw new ApiException(409, "records on " + Topics.TRIGGERS + " name their workflow: POST " + PUBLISH_PATH);
        }
        List<WorkflowCatalog.Entry> readers = new ArrayList<>();
        for (WorkflowCatalog.Entry e : catalog.all()) {
            if (e.enabled() && e.trigger() instanceof Trigger.Kafka k && k.topic().equals(topic)) {
                readers.add(e);
            }
        }
        if (readers.isEmpty()) {
            throw new ApiException(404, "no enabled workflow reads topic '" + topic + "': a record there would start nothing");
        }
        ObjectNode record = object(ctx, "the record");
        RecordMetadata md = send(topic, null, Json.bytes(record));
        String position = EventKey.sourcePosition(topic, md.partition(), md.offset());
        List<Map<String, String>> events = new ArrayList<>();
        for (WorkflowCatalog.Entry e : readers) {
            Map<String, String> event = new LinkedHashMap<>();
            event.put("workflow", e.id());
            try {
                Trigger.Kafka k = (Trigger.Kafka) e.trigger();
                String id = pointer(record, k.id());
                String time = pointer(record, k.time());
                Instant at = time == null ? null
                        : time.chars().allMatch(Character::isDigit) ? Instant.ofEpochMilli(Long.parseLong(time)) : Instant.parse(time);
                event.put("eventKey", new TriggerRecord(e.id(), id, at, record).eventKey(md.timestamp(), position).toString());
            } catch (RuntimeException invalid) {
                event.put("error", "the dispatcher will dead-letter this record for this workflow: " + invalid.getMessage());
            }
            events.add(event);
        }
        Map<String, Object> answer = position(md);
        answer.put("events", events);
        RoleServer.json(ctx, 202, answer);
    }

    private static String pointer(JsonNode root, String pointer) {
        if (pointer == null) {
            return null;
        }
        JsonNode v = root.at(pointer);
        return v.isMissingNode() || v.isNull() ? null : v.asText();
    }

    private static String startsFrom(Trigger trigger) {
        if (trigger instanceof Trigger.Schedule) {
            return "a schedule trigger; it starts from its schedule, not from publish";
        }
        if (trigger instanceof Trigger.Table t) {
            return "a table trigger; it starts from row changes of " + t.table() + ", not from publish";
        }
        return "a trigger that does not start from publish";
    }

    private static ObjectNode object(Context ctx, String what) {
        byte[] bytes = ctx.bodyAsBytes();
        if (bytes.length > MAX_BODY) {
            throw new ApiException(413, what + " is larger than " + MAX_BODY + " bytes");
        }
        JsonNode parsed;
        try {
            parsed = bytes.length == 0 ? Json.MAPPER.createObjectNode() : Json.MAPPER.readTree(bytes);
        } catch (java.io.IOException e) {
            String reason = e instanceof com.fasterxml.jackson.core.JsonProcessingException j ? j.getOriginalMessage() : e.getMessage();
            throw new ApiException(400, what + " is not valid JSON: " + reason);
        }
        if (!(parsed instanceof ObjectNode object)) {
            throw new ApiException(400, what + " must be a JSON object");
        }
        return object;
    }

    private RecordMetadata send(String topic, byte[] key, byte[] value) {
        try {
            return producer().send(new ProducerRecord<>(topic, key, value)).get(ACK_TIMEOUT_MS + 1_000L, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ApiException(503, "interrupted while publishing to " + topic);
        } catch (Exception e) {
            Throwable cause = e instanceof java.util.concurrent.ExecutionException && e.getCause() != null ? e.getCause() : e;
            if (cause instanceof org.apache.kafka.common.errors.RecordTooLargeException) {
                throw new ApiException(413, "Kafka refused the record as too large: " + cause.getMessage());
            }
            throw new ApiException(503, "broker unreachable: " + topic + " did not acknowledge the record within "
                    + ACK_TIMEOUT_MS / 1000 + " s (" + cause.getMessage() + ")");
        }
    }

    private static Map<String, Object> position(RecordMetadata md) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("topic", md.topic());
        m.put("partition", md.partition());
        m.put("offset", md.offset());
        m.put("timestamp", md.timestamp());
        return m;
    }

    private synchronized Producer<byte[], byte[]> producer() {
        if (closed) {
            throw new ApiException(503, "the dispatcher is stopping");
        }
        if (producer == null) {
            producer = newProducer.get();
        }
        return producer;
    }

    @Override
    public synchronized void close() {
        closed = true;
        if (producer != null) {
            producer.close(java.time.Duration.ofSeconds(5));
        }
    }
}
