package dev.onceflow.engine;

import dev.onceflow.common.EventEnvelope;
import dev.onceflow.common.InvalidInputException.Reason;
import dev.onceflow.common.Json;
import dev.onceflow.common.TaskEnvelope;
import dev.onceflow.common.Topics;
import dev.onceflow.common.executions.ExecutionStatus;
import dev.onceflow.common.workflow.Workflow;
import java.io.IOException;
import java.sql.SQLException;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * The first step of a batch: records become the steps to advance. An event record creates its
 * execution ({@code INSERT … ON CONFLICT (event_key) DO NOTHING}, many in one statement) and
 * starts at the workflow's start node; a duplicate event of a running execution walks it again
 * from the start (its processed nodes are absorbed, the first one that never ran runs: ADR 0004),
 * one of a finished execution produces its outcome again, and one whose execution retention
 * removed is absorbed by its retired key with nothing produced (ADR 0015; {@link ExecutionStore}
 * decides, so both paths below get it). A task record is a step as it is.
 * Undecodable records are dead-lettered; an event of a workflow that is not deployed creates its
 * execution already failed. Not thread-safe: one per worker.
 */
final class DecodeRecords {

    private final ExecutionStore store;
    private final WorkflowCache workflows;
    private final ClaimPolicy policy;
    private final Clock clock;

    DecodeRecords(ExecutionStore store, WorkflowCache workflows, ClaimPolicy policy, Clock clock) {
        this.store = store;
        this.workflows = workflows;
        this.policy = policy;
        this.clock = clock;
    }

    /** The steps of all {@code records}, their new executions created in one statement. */
    List<Step> all(List<ConsumerRecord<byte[], byte[]>> records, Batch batch) throws SQLException {
        List<Step> steps = new ArrayList<>();
        List<EventEnvelope> fresh = new ArrayList<>();
        List<Integer> freshPartitions = new ArrayList<>();
        List<String> freshTraces = new ArrayList<>();
        Set<String> eventKeys = new HashSet<>();
        for (ConsumerRecord<byte[], byte[]> record : records) {
            if (record.topic().equals(Topics.EVENTS)) {
                EventEnvelope event = event(record, batch);
                if (event == null) {
                    continue;
                }
                if (workflows.get(event.workflow(), event.version()).isEmpty()) {
                    steps.addAll(one(record, batch)); // records the failed execution, row by row (rare)
                } else if (!eventKeys.add(event.eventKey())) {
                    batch.counts.duplicateEvents++; // a copy earlier in this batch runs it
                } else {
                    fresh.add(event);
                    freshPartitions.add(record.partition());
                    freshTraces.add(traceparent(record));
                }
            } else {
                TaskEnvelope task = task(record, batch);
                if (task != null) {
                    steps.add(new Step(task, record, record.partition()));
                }
            }
        }
        Map<String, Long> created = store.createExecutions(fresh);
        for (int i = 0; i < fresh.size(); i++) {
            EventEnvelope event = fresh.get(i);
            Long id = created.get(event.eventKey());
            if (id != null) {
                batch.counts.started(event.workflow());
                // Inserted by this transaction, so running and locked by it: no read needed.
                batch.states(Map.of(id, ExecutionStatus.RUNNING));
                steps.add(start(event, id, event.publishedAt(), freshPartitions.get(i), freshTraces.get(i)));
            } else {
                batch.counts.duplicateEvents++;
                again(event, freshPartitions.get(i), freshTraces.get(i), batch).ifPresent(steps::add);
            }
        }
        return steps;
    }

    /** The steps of one record (the careful path), its execution created on its own. */
    List<Step> one(ConsumerRecord<byte[], byte[]> record, Batch batch) throws SQLException {
        if (!record.topic().equals(Topics.EVENTS)) {
            TaskEnvelope task = task(record, batch);
            return task == null ? List.of() : List.of(new Step(task, record, record.partition()));
        }
        EventEnvelope event = event(record, batch);
        if (event == null) {
            return List.of();
        }
        Optional<Workflow> wf = workflows.get(event.workflow(), event.version());
        if (wf.isEmpty()) {
            String error = "workflow '" + event.workflow() + "' version " + event.version() + " is not deployed";
            if (!createFailed(event, error, batch)) {
                batch.counts.duplicateEvents++;
                store.execution(event.eventKey()).filter(e -> !e.running()).ifPresent(e -> batch.outcome(event.eventKey(), e));
            }
            return List.of();
        }
        Optional<Long> created = store.createExecution(event, ExecutionStatus.RUNNING.db(), null, 0);
        if (created.isPresent()) {
            batch.counts.started(event.workflow());
            batch.states(Map.of(created.get(), ExecutionStatus.RUNNING));
            return List.of(start(event, created.get(), event.publishedAt(), record.partition(), traceparent(record)));
        }
        batch.counts.duplicateEvents++;
        return again(event, record.partition(), traceparent(record), batch).map(List::of).orElse(List.of());
    }

    /**
     * A redelivered event of an existing execution. Running: tasks produced after our PostgreSQL
     * commit may have been lost with an aborted Kafka transaction (a crash between the commits),
     * so walk the graph again from the start inline: processed nodes are absorbed and their stored
     * follow-ups replayed, down to the first node that never ran. Finished: the outcome produced
     * with the finish may have been in that aborted transaction; produce it again, same content.
     */
    private Optional<Step> again(EventEnvelope event, int partition, String traceparent, Batch batch) throws SQLException {
        Optional<ExecutionStore.Execution> existing = store.execution(event.eventKey());
        if (existing.isEmpty()) {
            return Optional.empty();
        }
        if (existing.get().running() || policy.rerunsFinished()) {
            return Optional.of(start(event, existing.get().id(), existing.get().publishedAt(), partition, traceparent));
        }
        batch.outcome(event.eventKey(), existing.get());
        return Optional.empty();
    }

    /**
     * The execution's first step, in the trace of the event's {@code traceparent} header (ADR 0019),
     * which every task of the execution carries on in its envelope.
     */
    private Step start(EventEnvelope event, long executionId, long publishedAt, int partition, String traceparent)
            throws SQLException {
        Workflow wf = workflows.get(event.workflow(), event.version()).orElseThrow();
        return new Step(new TaskEnvelope(event.eventKey(), executionId, event.workflow(), event.version(), wf.start(), "",
                event.time(), event.data(), Map.of(), publishedAt, event.depth()).withTraceparent(traceparent), null, partition);
    }

    /** The record's valid {@code traceparent}, null when it has none. */
    private static String traceparent(ConsumerRecord<byte[], byte[]> record) {
        return dev.onceflow.common.tracing.TraceHeaders.read(record.headers())
                .map(dev.onceflow.common.tracing.Traceparent::header).orElse(null);
    }

    /** Creates the event's execution already failed, with its outcome; false when the key had an execution. */
    boolean createFailed(EventEnvelope event, String error, Batch batch) throws SQLException {
        long now = clock.millis();
        Optional<Long> id = store.createExecution(event, ExecutionStatus.FAILED.db(), error, now);
        if (id.isEmpty()) {
            return false;
        }
        batch.counts.started(event.workflow());
        batch.counts.finished(event.workflow(), ExecutionStatus.FAILED,
                event.publishedAt() > 0 ? Math.max(0, now - event.publishedAt()) : -1);
        batch.outcome(event.eventKey(), id.get(), event.workflow(), event.version(), ExecutionStatus.FAILED.db(), error, now,
                event.publishedAt());
        return true;
    }

    private static EventEnvelope event(ConsumerRecord<byte[], byte[]> record, Batch batch) {
        try {
            return Json.read(record.value(), EventEnvelope.class);
        } catch (IOException | RuntimeException e) {
            batch.deadLetter(record, Reason.MALFORMED_JSON, "undecodable event envelope: " + e.getMessage());
            return null;
        }
    }

    private static TaskEnvelope task(ConsumerRecord<byte[], byte[]> record, Batch batch) {
        try {
            return Json.read(record.value(), TaskEnvelope.class);
        } catch (IOException | RuntimeException e) {
            batch.deadLetter(record, Reason.MALFORMED_JSON, "undecodable task envelope: " + e.getMessage());
            return null;
        }
    }
}
