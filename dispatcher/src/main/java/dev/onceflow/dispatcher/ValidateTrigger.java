package dev.onceflow.dispatcher;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.common.ByKeyRecord;
import dev.onceflow.common.DeadLetter;
import dev.onceflow.common.EventEnvelope;
import dev.onceflow.common.EventKey;
import dev.onceflow.common.InvalidInputException;
import dev.onceflow.common.InvalidInputException.Reason;
import dev.onceflow.common.Json;
import dev.onceflow.common.OrderKey;
import dev.onceflow.common.Topics;
import dev.onceflow.common.TriggerRecord;
import dev.onceflow.common.workflow.Trigger;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Parses a trigger record, resolves its workflow, computes the event key and the ordering key
 * ({@link OrderKey#kafka}, ADR 0020) and forwards an {@link EventEnvelope} to {@value Topics#BY_KEY},
 * keyed by its ordering key, else its event key ({@link ByKeyRecord}); anything that can never be
 * processed goes to {@value Topics#DLQ} with the original key, value and headers plus the error
 * headers. One instance per task, used by one stream thread: not thread-safe.
 *
 * <p><b>Errors, decided once by type</b> ({@link #attempt}): invalid input, a workflow that may not
 * be started from this topic and an event too large to publish are this record's problem, and so is
 * any other {@link RuntimeException} (or {@link AssertionError}, {@link StackOverflowError}) thrown
 * while validating or keying it: the record is dead-lettered and the partition moves on. A failing
 * catalog ({@link CatalogUnavailableException}), Kafka errors and every other {@link Error} are not
 * the record's fault: they propagate, Streams aborts the transaction and the record is processed
 * again once the cause is gone. Only a system error may stop a record; no record may stop the
 * stream thread for good.
 */
final class ValidateTrigger implements Processor<byte[], byte[], byte[], byte[]> {

    /** DLQ error class: the workflow exists but is not started by records on this topic. */
    static final String WRONG_TRIGGER_TYPE = "WRONG_TRIGGER_TYPE";
    /** DLQ error class: the event would be larger than the dispatcher can publish. */
    static final String RECORD_TOO_LARGE = "RECORD_TOO_LARGE";

    private static final Logger log = LoggerFactory.getLogger(ValidateTrigger.class);

    private final WorkflowCatalog catalog;
    private final RecordSizeLimit limit;
    private final DispatcherMetrics metrics;
    private ProcessorContext<byte[], byte[]> context;
    private final EagerCommits eagerCommits;
    private final OrderKeys orderKeys;

    ValidateTrigger(WorkflowCatalog catalog, RecordSizeLimit limit, DispatcherMetrics metrics) {
        this(catalog, limit, metrics, new EagerCommits(0), new OrderKeys(true, metrics));
    }

    ValidateTrigger(WorkflowCatalog catalog, RecordSizeLimit limit, DispatcherMetrics metrics, EagerCommits eagerCommits,
                    OrderKeys orderKeys) {
        this.eagerCommits = eagerCommits;
        this.orderKeys = orderKeys;
        this.catalog = catalog;
        this.limit = limit;
        this.metrics = metrics;
    }

    @Override
    public void init(ProcessorContext<byte[], byte[]> context) {
        this.context = context;
    }

    @Override
    public void process(Record<byte[], byte[]> record) {
        Position at = position();
        if (at.topic().equals(Topics.TRIGGERS)) {
            attempt(record, at, "", () -> fromTriggerRecord(record, at)).ifPresent(this::forward);
        } else {
            routeUserRecord(record, at);
        }
        if (eagerCommits.request(context.currentSystemTimeMs())) {
            context.commit(); // at once rather than at the next commit interval, when quiet (ADR 0018)
        }
    }

    /** Something that can be refused for this record only; every other failure is classified in {@link #attempt}. */
    @FunctionalInterface
    private interface Step<T> {
        T run() throws InvalidInputException, Rejected;
    }

    /** A refusal with its own DLQ error class (reasons that {@link InvalidInputException.Reason} does not name). */
    static final class Rejected extends Exception {
        final String errorClass;

        Rejected(String errorClass, String message) {
            super(message);
            this.errorClass = errorClass;
        }
    }

    /**
     * Runs {@code step}; the one catch ladder of this processor. Returns its result, or empty when
     * the record was dead-lettered. System errors propagate.
     *
     * @param about prefixed to the DLQ message (which workflow, for a user topic record)
     */
    private <T> Optional<T> attempt(Record<byte[], byte[]> record, Position at, String about, Step<T> step) {
        try {
            return Optional.of(step.run());
        } catch (InvalidInputException e) {
            deadLetter(record, at, e.reason().name(), about + e.getMessage());
        } catch (Rejected e) {
            deadLetter(record, at, e.errorClass, about + e.getMessage());
        } catch (CatalogUnavailableException | KafkaException e) {
            throw e; // system errors: Streams aborts the transaction, replaces the thread, and the record is retried
        } catch (RuntimeException | AssertionError | StackOverflowError e) {
            // A bug or an input some library trips over while validating or keying: still this
            // record's problem only (a stack overflow is unwound by now; an OutOfMemoryError or a
            // LinkageError is not caught: it would hit every record and says nothing about this one).
            log.warn("trigger record at {} failed validation unexpectedly; dead-lettered: {}", at.text(), e.toString());
            deadLetter(record, at, e.getClass().getName(), about + "cannot process the record: " + e);
        }
        return Optional.empty();
    }

    /** Outside the ladder: Kafka errors from forward() propagate, Streams aborts the transaction and retries. */
    private void forward(Record<byte[], byte[]> event) {
        context.forward(event, TriggerTopology.TRIGGER_DEDUPE);
    }

    /** A trigger record on {@value Topics#TRIGGERS}: names its workflow, which must have a kafka trigger on that topic. */
    private Record<byte[], byte[]> fromTriggerRecord(Record<byte[], byte[]> record, Position at)
            throws InvalidInputException, Rejected {
        TriggerRecord trigger = TriggerRecord.parse(record.value());
        WorkflowCatalog.Entry workflow = resolve(trigger.workflow(), record.timestamp());
        if (!startedByTriggersTopic(workflow.trigger())) {
            throw new Rejected(WRONG_TRIGGER_TYPE, "workflow '" + workflow.id() + "' (version " + workflow.version()
                    + ") has " + describe(workflow.trigger()) + ": records on " + Topics.TRIGGERS + " do not start it");
        }
        return event(record, at, workflow, trigger);
    }

    /** Only {@code kafka} workflows on the triggers topic (a null trigger is the default: kafka on onceflow.triggers). */
    private static boolean startedByTriggersTopic(Trigger trigger) {
        return trigger == null || (trigger instanceof Trigger.Kafka k && !k.userTopic());
    }

    private static String describe(Trigger trigger) {
        if (trigger instanceof Trigger.Kafka k) {
            return "a kafka trigger on topic '" + k.topic() + "' (publish to that topic instead)";
        }
        if (trigger instanceof Trigger.Schedule) {
            return "a schedule trigger (it runs on its schedule only)";
        }
        if (trigger instanceof Trigger.Table t) {
            return "a table trigger (it runs on row changes of " + t.table() + " only)";
        }
        return "an api trigger (use POST /api/workflows/{id}/trigger)";
    }

    /**
     * A record on a topic a {@code kafka} workflow names: the whole JSON object is the data; the
     * workflow's JSON pointers give id and time. One event per enabled workflow on that topic, each
     * refused (dead-lettered) on its own.
     */
    private void routeUserRecord(Record<byte[], byte[]> record, Position at) {
        List<WorkflowCatalog.Entry> routes = new ArrayList<>();
        for (WorkflowCatalog.Entry e : all()) {
            if (e.enabled() && e.trigger() instanceof Trigger.Kafka k && k.topic().equals(at.topic())) {
                routes.add(e);
            }
        }
        if (routes.isEmpty()) {
            metrics.countUnrouted();
            return; // a topic no enabled workflow names: not ours
        }
        // Parsed once for all routes: a record that is not a JSON object is one dead letter, not one per workflow.
        Optional<ObjectNode> parsed = attempt(record, at, "", () -> userObject(record.value(), at));
        if (parsed.isEmpty()) {
            return;
        }
        ObjectNode root = parsed.get();
        for (WorkflowCatalog.Entry e : routes) {
            attempt(record, at, "workflow '" + e.id() + "': ", () -> {
                Trigger.Kafka k = (Trigger.Kafka) e.trigger();
                String id = pointer(root, k.id(), "id");
                String timeText = pointer(root, k.time(), "time");
                Instant time = timeText == null ? null : parseTime(timeText, k.time());
                return event(record, at, e, new TriggerRecord(e.id(), id, time, root));
            }).ifPresent(this::forward);
        }
    }

    private static ObjectNode userObject(byte[] value, Position at) throws InvalidInputException {
        JsonNode root;
        try {
            root = value == null ? null : Json.MAPPER.readTree(value);
        } catch (IOException e) {
            throw new InvalidInputException(Reason.MALFORMED_JSON, "malformed JSON on " + at.topic() + ": " + e.getMessage());
        }
        if (!(root instanceof ObjectNode object)) {
            throw new InvalidInputException(Reason.MALFORMED_JSON, "expected a JSON object on " + at.topic());
        }
        return object;
    }

    /** The event of {@code trigger}, keyed by its event key, refused when it would be too large to publish. */
    private Record<byte[], byte[]> event(Record<byte[], byte[]> record, Position at, WorkflowCatalog.Entry workflow,
                                         TriggerRecord trigger) throws Rejected {
        EventKey eventKey = trigger.eventKey(record.timestamp(), at.text());
        long time = trigger.time() != null ? trigger.time().toEpochMilli() : Math.max(0L, record.timestamp());
        // The ordering key from the same inputs: the pointer into the event's data, else the source record's key (ADR 0020).
        String pointer = workflow.trigger() instanceof Trigger.Kafka k ? k.orderKey() : null;
        EventEnvelope envelope = orderKeys.apply(new EventEnvelope(eventKey.toString(), workflow.id(), workflow.version(), time,
                trigger.data(), at.text(), record.timestamp()), workflow,
                () -> OrderKey.kafka(workflow.id(), workflow.ordered(), pointer, trigger.data(), record.key()));
        byte[] key = ByKeyRecord.key(envelope);
        byte[] value = Json.bytes(envelope);
        Headers headers = new RecordHeaders();
        EventTraces.carry(dev.onceflow.common.tracing.TraceHeaders.read(record.headers()), eventKey.toString(), headers);
        ByKeyRecord.withEventKey(envelope, headers);
        int size = RecordSizeLimit.sizeOf(key, value, headers);
        if (size > limit.maxBytes()) {
            throw new Rejected(RECORD_TOO_LARGE, "the event of workflow '" + workflow.id() + "' would be " + limit.over(size)
                    + "; the trigger record's value is " + (record.value() == null ? 0 : record.value().length)
                    + " bytes and the event envelope adds its key, workflow, source and times");
        }
        return new Record<>(key, value, record.timestamp(), headers);
    }

    private static String pointer(JsonNode root, String pointer, String field) throws InvalidInputException {
        if (pointer == null) {
            return null;
        }
        JsonNode v = root.at(pointer);
        if (v.isMissingNode() || v.isNull()) {
            return null;
        }
        if (!v.isValueNode() || v.asText().isEmpty()) {
            throw new InvalidInputException(Reason.INVALID_FIELD, field + " pointer '" + pointer + "' does not lead to a non-empty value");
        }
        return v.asText();
    }

    private static Instant parseTime(String text, String pointer) throws InvalidInputException {
        Instant time;
        try {
            time = text.chars().allMatch(Character::isDigit) ? Instant.ofEpochMilli(Long.parseLong(text)) : Instant.parse(text);
        } catch (RuntimeException e) {
            throw new InvalidInputException(Reason.INVALID_FIELD, "time pointer '" + pointer + "': '" + text
                    + "' is neither an ISO-8601 instant nor epoch milliseconds");
        }
        if (time.isBefore(Instant.EPOCH)) {
            throw new InvalidInputException(Reason.INVALID_FIELD, "time pointer '" + pointer + "': '" + text
                    + "' is before 1970-01-01T00:00:00Z; an event time is epoch milliseconds, never negative");
        }
        return time;
    }

    private WorkflowCatalog.Entry resolve(String workflowId, long publishedAtMs) throws InvalidInputException {
        WorkflowCatalog.Entry entry;
        try {
            entry = catalog.find(workflowId, publishedAtMs).orElse(null);
        } catch (RuntimeException e) {
            throw new CatalogUnavailableException("cannot look up workflow '" + workflowId + "'", e);
        }
        if (entry == null) {
            throw new InvalidInputException(Reason.UNKNOWN_WORKFLOW, "unknown workflow '" + workflowId + "': no such workflow is deployed");
        }
        if (!entry.enabled()) {
            throw new InvalidInputException(Reason.DISABLED_WORKFLOW, "workflow '" + workflowId
                    + "' (version " + entry.version() + ") is disabled: it accepts no new events");
        }
        return entry;
    }

    private java.util.Collection<WorkflowCatalog.Entry> all() {
        try {
            return catalog.all();
        } catch (RuntimeException e) {
            throw new CatalogUnavailableException("cannot list the deployed workflows", e);
        }
    }

    private void deadLetter(Record<byte[], byte[]> record, Position at, String errorClass, String message) {
        DeadLetter reason = new DeadLetter(errorClass, message, at.topic(), at.partition(), at.offset());
        context.forward(DeadLetters.fitted(record, reason, limit), TriggerTopology.DLQ_SINK);
        metrics.countDlq(errorClass);
        log.debug("trigger record at {} dead-lettered: {}: {}", at.text(), errorClass, message);
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
