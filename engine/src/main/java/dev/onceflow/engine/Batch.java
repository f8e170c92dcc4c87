package dev.onceflow.engine;

import dev.onceflow.common.DeadLetter;
import dev.onceflow.common.InvalidInputException.Reason;
import dev.onceflow.common.Json;
import dev.onceflow.common.Outcome;
import dev.onceflow.common.TaskEnvelope;
import dev.onceflow.common.Topics;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What one poll batch produces for its Kafka transaction (follow-up tasks, outcomes, dead
 * letters) and what it did, counted into the metrics only once both transactions committed.
 * Undone in part when one record is rolled back to its savepoint ({@link #mark}/{@link #undoTo}).
 * Not thread-safe: one per batch attempt.
 */
final class Batch {

    private static final Logger LOG = LoggerFactory.getLogger(Batch.class);

    /** What a batch did. */
    static final class Counts {
        long events;
        long duplicateEvents;
        long nodeRuns;
        long duplicateNodeRuns;
        long succeeded;
        long failed;
        long deadLettered;
        long timersSet;

        void addTo(EngineMetrics m) {
            m.events.add(events);
            m.duplicateEvents.add(duplicateEvents);
            m.nodeRuns.add(nodeRuns);
            m.duplicateNodeRuns.add(duplicateNodeRuns);
            m.executionsSucceeded.add(succeeded);
            m.executionsFailed.add(failed);
            m.deadLettered.add(deadLettered);
            m.timersSet.add(timersSet);
        }
    }

    final List<ProducerRecord<byte[], byte[]>> out = new ArrayList<>();
    /** {@code http} calls claimed by this batch, made once it committed. */
    final List<PendingCall> calls = new ArrayList<>();

    /** A claimed call: the step, its node, and the rendered request. */
    record PendingCall(Step step, dev.onceflow.common.workflow.Node.Http node, HttpCall.Request request) {
        /** The header the call carries (ADR 0014). */
        String idempotencyKey() {
            return step.task().idempotencyKey();
        }
    }
    /** The executions this batch read (share-locked) or finished, by id. */
    private final java.util.Map<Long, ExecutionStatus> states = new java.util.HashMap<>();
    final Counts counts;

    Batch(Counts counts) {
        this.counts = counts;
    }

    boolean knowsState(long executionId) {
        return states.containsKey(executionId);
    }

    /** The state read or set in this batch; an execution it never read counts as running (the unsafe control). */
    ExecutionStatus state(long executionId) {
        return states.getOrDefault(executionId, ExecutionStatus.RUNNING);
    }

    void states(java.util.Map<Long, ExecutionStatus> read) {
        states.putAll(read);
    }

    private final java.util.Set<Long> finishedHere = new java.util.HashSet<>();

    /** The execution was finished by this batch: later waves do not advance it. */
    void finished(long executionId, ExecutionStatus status) {
        states.put(executionId, status);
        finishedHere.add(executionId);
    }

    boolean finishedHere(long executionId) {
        return finishedHere.contains(executionId);
    }

    int mark() {
        return out.size();
    }

    void undoTo(int mark) {
        out.subList(mark, out.size()).clear();
    }

    int callMark() {
        return calls.size();
    }

    void undoCallsTo(int mark) {
        calls.subList(mark, calls.size()).clear();
    }

    void task(TaskEnvelope t) {
        out.add(new ProducerRecord<>(Topics.TASKS, key(t.eventKey()), Json.bytes(t)));
    }

    void outcome(String eventKey, long executionId, String workflow, int version, String status, String error,
                 long finishedAt, long publishedAt) {
        Outcome o = new Outcome(eventKey, executionId, workflow, version, status, error, finishedAt, publishedAt);
        out.add(new ProducerRecord<>(Topics.OUTCOMES, key(eventKey), Json.bytes(o)));
    }

    /** The outcome of a finished execution, produced again from its row: the same content as the first time. */
    void outcome(String eventKey, ExecutionStore.Execution e) {
        outcome(eventKey, e.id(), e.workflow(), e.version(), e.status(), e.error(), e.finishedAt(), e.publishedAt());
    }

    void deadLetter(ConsumerRecord<byte[], byte[]> record, Reason reason, String message) {
        LOG.warn("Dead-lettering {}-{}@{}: {}", record.topic(), record.partition(), record.offset(), message);
        out.add(new DeadLetter(reason.name(), message, record.topic(), record.partition(), record.offset())
                .record(record.key(), record.value(), null));
        counts.deadLettered++;
    }

    static byte[] key(String eventKey) {
        return eventKey.getBytes(StandardCharsets.UTF_8);
    }
}
