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
 * decides, so both paths below get it). A task record is a step as it is; an operator's command
 * on the tasks topic is applied in its place ({@link OperatorCommands}, ADR 0025).
 * Undecodable records are dead-lettered; an event of a workflow that is not deployed creates its
 * execution already failed. Not thread-safe: one per worker.
 */
final class DecodeRecords {

    private final ExecutionStore store;
    private final WorkflowCache workflows;
    private final ClaimPolicy policy;
    private final Clock clock;
    private final OperatorCommands commands;

    DecodeRecords(ExecutionStore store, WorkflowCache workflows, ClaimPolicy policy, Clock clock, OperatorCommands commands) {
        this.commands = commands;
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
            } else if (dev.onceflow.common.OperatorCommand.isCommand(record.headers())) {
                steps.addAll(commands.apply(record, batch)); // in its place among the tasks (ADR 0025)
            } else {
                TaskEnvelope task = task(record, batch);
                if (task != null) {
                    steps.add(new Step(task, record, record.partition()));
                }
            }
        }
        steps = startsOfQueued(steps, batch);
        steps.addAll(create(fresh, freshPartitions, freshTraces, batch));
        return steps;
    }

    /**
     * Start tasks delivered for executions still queued: a debounced execution's start timer fired
     * when its wait ended (ADR 0021). Its lane is asked again: if it lets the execution run, its
     * start proceeds here (and its timer, set again, is marked fired after the Kafka commit);
     * if not (the lane is busy), the task is dropped, and the finish that frees the lane admits
     * it. Other steps pass through; without a lane nothing is read.
     */
    private List<Step> startsOfQueued(List<Step> steps, Batch batch) throws SQLException {
        Set<Long> candidates = new HashSet<>();
        for (Step s : steps) {
            TaskEnvelope t = s.task();
            // a limited workflow's unordered executions have lanes of one (ADR 0022)
            if (t.attempt() == 1 && t.path().isEmpty() && workflows.get(t.workflow(), t.version())
                    .map(w -> t.node().equals(w.start()) && (t.orderKey() != null || w.limited())).orElse(false)) {
                candidates.add(t.executionId());
            }
        }
        if (candidates.isEmpty()) {
            return steps;
        }
        Map<Long, String> queued = store.queuedAmong(candidates);
        if (queued.isEmpty()) {
            return steps;
        }
        store.askLanes(new HashSet<>(queued.values()), clock.millis() + ExecutionStore.START_GRACE_MS);
        Set<Long> admittedHere = new HashSet<>();
        for (dev.onceflow.common.executions.Lanes.Admitted a : store.takeAdmitted()) {
            if (queued.containsKey(a.id())) {
                admittedHere.add(a.id());
                batch.startTimers.add(a.eventKey()); // its task is the one delivered: nothing more to produce
                batch.states(Map.of(a.id(), ExecutionStatus.RUNNING));
            } else {
                a.tasks().forEach(t -> batch.admitted(a.eventKey(), t));
            }
        }
        List<Step> kept = new ArrayList<>(steps.size());
        for (Step s : steps) {
            long id = s.task().executionId();
            if (!queued.containsKey(id) || admittedHere.contains(id)) {
                kept.add(s);
            }
        }
        return kept;
    }

    /**
     * Creates the executions of events of deployed workflows (distinct event keys) in one
     * statement and returns the start steps of those that run now. An event with an ordering key
     * of a workflow with {@code order: key} joins its lane (ADR 0021): if its lane does not admit
     * it at once, its start task waits in a {@code start} timer.
     */
    private List<Step> create(List<EventEnvelope> fresh, List<Integer> partitions, List<String> traces, Batch batch)
            throws SQLException {
        List<ExecutionStore.Lane> lanes = new ArrayList<>(fresh.size());
        for (EventEnvelope event : fresh) {
            Workflow wf = workflows.get(event.workflow(), event.version()).orElseThrow();
            // An unordered event of a workflow with a total or a rate limit waits in a lane of one (ADR 0022).
            String lane = wf.ordered() && event.orderKey() != null ? event.orderKey() : wf.limited() ? event.eventKey() : null;
            lanes.add(lane == null ? null : ExecutionStore.Lane.of(wf, lane));
        }
        long now = clock.millis();
        ExecutionStore.Created created = store.createExecutions(fresh, lanes, now + ExecutionStore.START_GRACE_MS, now);
        created.throttled().forEach(batch.counts::throttled);
        for (ExecutionStore.Superseded gone : created.superseded()) {
            // Recorded, with its outcome, never silently dropped.
            batch.counts.finished(gone.workflow(), ExecutionStatus.SUPERSEDED, -1);
            batch.outcome(gone.eventKey(), gone.id(), gone.workflow(), gone.version(), ExecutionStatus.SUPERSEDED.db(), gone.error(),
                    gone.finishedAt(), gone.publishedAt());
        }
        List<Step> steps = new ArrayList<>();
        for (int i = 0; i < fresh.size(); i++) {
            EventEnvelope event = fresh.get(i);
            Long id = created.ids().get(event.eventKey());
            if (id == null) {
                batch.counts.duplicateEvents++;
                again(event, partitions.get(i), traces.get(i), batch).ifPresent(steps::add);
                continue;
            }
            batch.counts.started(event.workflow());
            Step start = start(event, id, event.publishedAt(), partitions.get(i), traces.get(i));
            if (created.running().contains(id)) {
                // Inserted by this transaction, so running and locked by it: no read needed.
                batch.states(Map.of(id, ExecutionStatus.RUNNING));
                steps.add(start);
            } else if (!created.supersededHere(id)) {
                store.queueStart(event.eventKey(), id, partitions.get(i), start.task());
                batch.counts.queued++;
            }
        }
        return steps;
    }

    /** The steps of one record (the careful path), its execution created on its own. */
    List<Step> one(ConsumerRecord<byte[], byte[]> record, Batch batch) throws SQLException {
        if (!record.topic().equals(Topics.EVENTS) && dev.onceflow.common.OperatorCommand.isCommand(record.headers())) {
            return commands.apply(record, batch);
        }
        if (!record.topic().equals(Topics.EVENTS)) {
            TaskEnvelope task = task(record, batch);
            return task == null ? List.of() : startsOfQueued(List.of(new Step(task, record, record.partition())), batch);
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
                store.execution(event.eventKey()).filter(ExecutionStore.Execution::finished).ifPresent(e -> batch.outcome(event.eventKey(), e));
            }
            return List.of();
        }
        return create(List.of(event), List.of(record.partition()), java.util.Collections.singletonList(traceparent(record)), batch);
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
        if (existing.isEmpty() || existing.get().queued()) {
            return Optional.empty(); // a queued execution's start waits in its start timer
        }
        if (existing.get().running() || policy.rerunsFinished()) {
            // Under the winner's ordering key, not this copy's (a copy may carry another, ADR 0020):
            // the execution's tasks stay on its lane's partition.
            return Optional.of(start(event.withOrderKey(existing.get().orderingKey() != null ? existing.get().orderingKey()
                    : event.orderKey()), existing.get().id(), existing.get().publishedAt(), partition, traceparent));
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
                event.time(), event.data(), Map.of(), publishedAt, event.depth()).withTraceparent(traceparent)
                .withOrderKey(event.orderKey()), null, partition);
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
