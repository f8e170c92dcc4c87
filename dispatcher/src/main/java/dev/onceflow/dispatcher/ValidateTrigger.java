package dev.onceflow.dispatcher;

import dev.onceflow.common.EventEnvelope;
import dev.onceflow.common.EventKey;
import dev.onceflow.common.InvalidInputException;
import dev.onceflow.common.InvalidInputException.Reason;
import dev.onceflow.common.Json;
import dev.onceflow.common.Topics;
import dev.onceflow.common.TriggerRecord;
import java.nio.charset.StandardCharsets;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Parses a trigger record, resolves its workflow, computes the event key and forwards an
 * {@link EventEnvelope} keyed by event key to {@value Topics#BY_KEY}; anything that can never be
 * processed goes to {@value Topics#DLQ} with the original key, value and headers plus the error
 * headers. One instance per task, used by one stream thread: not thread-safe.
 */
final class ValidateTrigger implements Processor<byte[], byte[], byte[], byte[]> {

    private static final Logger log = LoggerFactory.getLogger(ValidateTrigger.class);

    private final WorkflowCatalog catalog;
    private final DispatcherMetrics metrics;
    private ProcessorContext<byte[], byte[]> context;

    ValidateTrigger(WorkflowCatalog catalog, DispatcherMetrics metrics) {
        this.catalog = catalog;
        this.metrics = metrics;
    }

    @Override
    public void init(ProcessorContext<byte[], byte[]> context) {
        this.context = context;
    }

    @Override
    public void process(Record<byte[], byte[]> record) {
        Position at = position();
        if (!at.topic().equals(Topics.TRIGGERS)) {
            routeUserRecord(record, at);
            return;
        }
        TriggerRecord trigger;
        try {
            trigger = TriggerRecord.parse(record.value());
        } catch (InvalidInputException e) {
            deadLetter(record, at, e.reason().name(), e.getMessage());
            return;
        } catch (RuntimeException e) {
            // A parser bug or an input Jackson trips over: still this record's problem only.
            deadLetter(record, at, e.getClass().getName(), "cannot parse trigger record: " + e);
            return;
        }
        WorkflowCatalog.Entry workflow;
        try {
            // Not inside a RuntimeException catch: a failing catalog is a system error, retried, never dead-lettered.
            workflow = resolve(trigger.workflow());
        } catch (InvalidInputException e) {
            deadLetter(record, at, e.reason().name(), e.getMessage());
            return;
        }
        byte[] key;
        byte[] value;
        try {
            EventKey eventKey = trigger.eventKey(record.timestamp(), at.text());
            long time = trigger.time() != null ? trigger.time().toEpochMilli() : Math.max(0L, record.timestamp());
            EventEnvelope envelope = new EventEnvelope(eventKey.toString(), workflow.id(), workflow.version(), time,
                    trigger.data(), at.text(), record.timestamp());
            key = eventKey.toString().getBytes(StandardCharsets.UTF_8);
            value = Json.bytes(envelope);
        } catch (RuntimeException e) {
            deadLetter(record, at, e.getClass().getName(), "cannot build the event of workflow '" + trigger.workflow()
                    + "': " + e);
            return;
        }
        // Kafka errors from forward() propagate: Streams aborts the transaction and retries.
        context.forward(new Record<>(key, value, record.timestamp(), new RecordHeaders()), TriggerTopology.BY_KEY_SINK);
    }

    /**
     * A record on a topic a {@code kafka} workflow names: the whole JSON object is the data; the
     * workflow's JSON pointers give id and time. One event per enabled workflow on that topic.
     */
    private void routeUserRecord(Record<byte[], byte[]> record, Position at) {
        java.util.List<WorkflowCatalog.Entry> routes = new java.util.ArrayList<>();
        for (WorkflowCatalog.Entry e : catalog.all()) {
            if (e.enabled() && e.trigger() instanceof dev.onceflow.common.workflow.Trigger.Kafka k && k.topic().equals(at.topic())) {
                routes.add(e);
            }
        }
        if (routes.isEmpty()) {
            metrics.countUnrouted();
            return; // a topic no enabled workflow names: not ours
        }
        com.fasterxml.jackson.databind.JsonNode root;
        try {
            root = record.value() == null ? null : Json.MAPPER.readTree(record.value());
        } catch (java.io.IOException e) {
            deadLetter(record, at, Reason.MALFORMED_JSON.name(), "malformed JSON on " + at.topic() + ": " + e.getMessage());
            return;
        }
        if (root == null || !root.isObject()) {
            deadLetter(record, at, Reason.MALFORMED_JSON.name(), "expected a JSON object on " + at.topic());
            return;
        }
        for (WorkflowCatalog.Entry e : routes) {
            dev.onceflow.common.workflow.Trigger.Kafka k = (dev.onceflow.common.workflow.Trigger.Kafka) e.trigger();
            byte[] key;
            byte[] value;
            try {
                String id = pointer(root, k.id(), "id", at);
                String timeText = pointer(root, k.time(), "time", at);
                java.time.Instant time = timeText == null ? null : parseTime(timeText, k.time(), at);
                TriggerRecord trigger = new TriggerRecord(e.id(), id, time, (com.fasterxml.jackson.databind.node.ObjectNode) root);
                EventKey eventKey = trigger.eventKey(record.timestamp(), at.text());
                long t = time != null ? time.toEpochMilli() : Math.max(0L, record.timestamp());
                key = eventKey.toString().getBytes(StandardCharsets.UTF_8);
                value = Json.bytes(new EventEnvelope(eventKey.toString(), e.id(), e.version(), t, trigger.data(), at.text(),
                        record.timestamp()));
            } catch (InvalidInputException ex) {
                deadLetter(record, at, ex.reason().name(), "workflow '" + e.id() + "': " + ex.getMessage());
                continue;
            }
            context.forward(new Record<>(key, value, record.timestamp(), new RecordHeaders()), TriggerTopology.BY_KEY_SINK);
        }
    }

    private static String pointer(com.fasterxml.jackson.databind.JsonNode root, String pointer, String field, Position at)
            throws InvalidInputException {
        if (pointer == null) {
            return null;
        }
        com.fasterxml.jackson.databind.JsonNode v = root.at(pointer);
        if (v.isMissingNode() || v.isNull()) {
            return null;
        }
        if (!v.isValueNode() || v.asText().isEmpty()) {
            throw new InvalidInputException(Reason.INVALID_FIELD, field + " pointer '" + pointer + "' does not lead to a non-empty value");
        }
        return v.asText();
    }

    private static java.time.Instant parseTime(String text, String pointer, Position at) throws InvalidInputException {
        try {
            if (text.chars().allMatch(Character::isDigit)) {
                return java.time.Instant.ofEpochMilli(Long.parseLong(text));
            }
            return java.time.Instant.parse(text);
        } catch (RuntimeException e) {
            throw new InvalidInputException(Reason.INVALID_FIELD, "time pointer '" + pointer + "': '" + text
                    + "' is neither an ISO-8601 instant nor epoch milliseconds");
        }
    }

    private WorkflowCatalog.Entry resolve(String workflowId) throws InvalidInputException {
        WorkflowCatalog.Entry entry = catalog.find(workflowId).orElseThrow(() -> new InvalidInputException(
                Reason.UNKNOWN_WORKFLOW, "unknown workflow '" + workflowId + "': no such workflow is deployed"));
        if (!entry.enabled()) {
            throw new InvalidInputException(Reason.DISABLED_WORKFLOW, "workflow '" + workflowId
                    + "' (version " + entry.version() + ") is disabled: it accepts no new events");
        }
        return entry;
    }

    private void deadLetter(Record<byte[], byte[]> record, Position at, String errorClass, String message) {
        Headers headers = new RecordHeaders(record.headers().toArray());
        put(headers, Topics.H_ERROR_CLASS, errorClass);
        put(headers, Topics.H_ERROR_MESSAGE, message);
        put(headers, Topics.H_SOURCE_TOPIC, at.topic());
        put(headers, Topics.H_SOURCE_PARTITION, String.valueOf(at.partition()));
        put(headers, Topics.H_SOURCE_OFFSET, String.valueOf(at.offset()));
        context.forward(record.withHeaders(headers), TriggerTopology.DLQ_SINK);
        metrics.countDlq();
        log.debug("trigger record at {} dead-lettered: {}: {}", at.text(), errorClass, message);
    }

    /** Replaces any header of the same name, so a re-dead-lettered record carries one reason. */
    private static void put(Headers headers, String name, String value) {
        headers.remove(name);
        headers.add(name, value.getBytes(StandardCharsets.UTF_8));
    }

    private Position position() {
        return context.recordMetadata()
                .map(Position::of)
                .orElse(new Position("unknown", -1, -1));
    }

    /** Where a trigger record was read. */
    private record Position(String topic, int partition, long offset) {
        String text() {
            return EventKey.sourcePosition(topic, partition, offset);
        }

        static Position of(RecordMetadata m) {
            return new Position(m.topic(), m.partition(), m.offset());
        }
    }
}
