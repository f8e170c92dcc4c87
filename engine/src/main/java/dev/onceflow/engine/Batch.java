package dev.onceflow.engine;

import dev.onceflow.common.DeadLetter;
import dev.onceflow.common.InvalidInputException.Reason;
import dev.onceflow.common.Json;
import dev.onceflow.common.Outcome;
import dev.onceflow.common.TaskEnvelope;
import dev.onceflow.common.Topics;
import dev.onceflow.common.executions.ExecutionStatus;
import dev.onceflow.common.executions.NodeStatus;
import java.nio.charset.StandardCharsets;
import dev.onceflow.common.metrics.MeterNames;
import dev.onceflow.common.workflow.Node;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
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

    /**
     * What a batch did: the plain counts, and the same by label with the durations for the
     * meters ({@link EngineMeters}). Added to the metrics only once the batch committed; a record
     * rolled back to its savepoint takes its counts back with it ({@link #snapshot}, {@link #restore}).
     */
    static final class Counts {
        long events;
        long duplicateEvents;
        long nodeRuns;
        long duplicateNodeRuns;
        long succeeded;
        long failed;
        long deadLettered;
        long timersSet;
        /** Executions created queued behind their lane (ADR 0021). */
        long queued;
        private Map<String, Long> startedBy = new HashMap<>();
        /** Executions a rate limit made wait for their turn (ADR 0022), by workflow. */
        private Map<String, Long> throttledBy = new HashMap<>();
        private Map<List<String>, Long> finishedBy = new HashMap<>();
        private Map<List<String>, Long> outcomesBy = new HashMap<>();
        private Map<String, Long> deadLetteredBy = new HashMap<>();
        /** Operator commands by kind and result ({@link MeterNames#OPERATOR_COMMANDS}). */
        private Map<List<String>, Long> commandsBy = new HashMap<>();
        private List<NodeTime> nodeTimes = new ArrayList<>();
        private List<Long> executionMillis = new ArrayList<>();
        /** What the spans of this batch describe (ADR 0019); null when traces are off: nothing collected. */
        private List<ExecutionTraces.Fact> traced;
        /** How long the node that ran last took, for its span; 0 once taken. */
        private long lastRanNanos;

        Counts() {
            this(false);
        }

        /** @param tracing whether to collect what the batch's spans describe */
        Counts(boolean tracing) {
            traced = tracing ? new ArrayList<>() : null;
        }

        boolean tracing() {
            return traced != null;
        }

        /** Something a span describes, emitted once the batch's PostgreSQL transaction committed. */
        void trace(ExecutionTraces.Fact fact) {
            if (traced != null) {
                traced.add(fact);
            }
        }

        List<ExecutionTraces.Fact> traced() {
            return traced == null ? List.of() : traced;
        }

        /** How long the node that ran last took (0 when unknown), once. */
        long takeRanNanos() {
            long n = lastRanNanos;
            lastRanNanos = 0;
            return n;
        }

        /** How long one node ran. */
        private record NodeTime(String type, long nanos) {
        }

        /** An execution was created. */
        long throttledOf(String workflow) {
            return throttledBy.getOrDefault(workflow, 0L);
        }

        void throttled(String workflow, long n) {
            throttledBy.merge(workflow, n, Long::sum);
        }

        void started(String workflow) {
            events++;
            startedBy.merge(workflow, 1L, Long::sum);
        }

        /**
         * An execution was finished by this batch.
         *
         * @param durationMs from its trigger record's publication to now, negative when unknown
         */
        void finished(String workflow, ExecutionStatus status, long durationMs) {
            if (status == ExecutionStatus.SUCCEEDED) {
                succeeded++;
            } else {
                failed++;
            }
            finishedBy.merge(List.of(workflow, status.db()), 1L, Long::sum);
            if (durationMs >= 0) {
                executionMillis.add(durationMs);
            }
        }

        /** A node's outcome was recorded under its processed key: succeeded, failed or waiting. */
        void outcome(Node node, NodeStatus status) {
            outcomesBy.merge(List.of(EngineMeters.type(node), status.db()), 1L, Long::sum);
        }

        /** A node ran for {@code nanos}. */
        void ran(Node node, long nanos) {
            nodeTimes.add(new NodeTime(EngineMeters.type(node), nanos));
            lastRanNanos = nanos;
        }

        /** An operator command was applied with {@code result} ({@link MeterNames#COMMAND_APPLIED} ...). */
        void command(String kind, String result) {
            commandsBy.merge(List.of(kind, result), 1L, Long::sum);
        }

        /** Operator commands counted so far, as {@code [kind, result]} → n. */
        Map<List<String>, Long> commands() {
            return Map.copyOf(commandsBy);
        }

        void deadLettered(String reason) {
            deadLettered++;
            deadLetteredBy.merge(reason, 1L, Long::sum);
        }

        /** A copy, to {@link #restore} when the work counted after it is rolled back. */
        Counts snapshot() {
            Counts c = new Counts(tracing());
            c.restore(this);
            return c;
        }

        void restore(Counts c) {
            events = c.events;
            duplicateEvents = c.duplicateEvents;
            nodeRuns = c.nodeRuns;
            duplicateNodeRuns = c.duplicateNodeRuns;
            succeeded = c.succeeded;
            failed = c.failed;
            deadLettered = c.deadLettered;
            timersSet = c.timersSet;
            queued = c.queued;
            startedBy = new HashMap<>(c.startedBy);
            throttledBy = new HashMap<>(c.throttledBy);
            finishedBy = new HashMap<>(c.finishedBy);
            outcomesBy = new HashMap<>(c.outcomesBy);
            deadLetteredBy = new HashMap<>(c.deadLetteredBy);
            commandsBy = new HashMap<>(c.commandsBy);
            nodeTimes = new ArrayList<>(c.nodeTimes);
            executionMillis = new ArrayList<>(c.executionMillis);
            traced = c.traced == null ? null : new ArrayList<>(c.traced);
        }

        void addTo(EngineMetrics m) {
            m.add(this);
        }

        /** The labelled side of {@link #addTo}. */
        void recordTo(EngineMeters m) {
            startedBy.forEach((workflow, n) -> m.started(workflow, n));
            throttledBy.forEach((workflow, n) -> m.throttled(workflow, n));
            finishedBy.forEach((k, n) -> m.finished(k.get(0), k.get(1), n));
            outcomesBy.forEach((k, n) -> m.nodeRuns(k.get(0), k.get(1), n));
            deadLetteredBy.forEach((reason, n) -> m.deadLettered(reason, n));
            commandsBy.forEach((k, n) -> m.operatorCommands(k.get(0), k.get(1), n));
            m.duplicates(MeterNames.LAYER_EXECUTION_KEY, duplicateEvents);
            m.duplicates(MeterNames.LAYER_PROCESSED_KEY, duplicateNodeRuns);
            nodeTimes.forEach(t -> m.nodeDuration(t.type(), t.nanos()));
            executionMillis.forEach(m::executionDuration);
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
    /** Long {@code sql} statements whose keys this batch claimed, run off the poll thread once it committed. */
    final List<PendingStatement> statements = new ArrayList<>();

    /** A claimed long statement: the step and its node (ADR 0021). */
    record PendingStatement(Step step, dev.onceflow.common.workflow.Node.Sql node) {
    }

    int statementMark() {
        return statements.size();
    }

    void undoStatementsTo(int mark) {
        statements.subList(mark, statements.size()).clear();
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

    /**
     * Event keys of queued executions this batch admitted from their lanes (ADR 0021), whose start
     * tasks are in {@link #out}: their {@code start} timers are marked fired once the batch's Kafka
     * transaction committed (until then the timer is the start task's outbox).
     */
    final List<String> startTimers = new ArrayList<>();

    /** A queued execution admitted by this batch: its start task goes out with the batch. */
    void admitted(String eventKey, TaskEnvelope start) {
        task(start);
        startTimers.add(eventKey);
    }

    int mark() {
        return out.size();
    }

    int startMark() {
        return startTimers.size();
    }

    void undoTo(int mark) {
        out.subList(mark, out.size()).clear();
    }

    void undoStartsTo(int mark) {
        startTimers.subList(mark, startTimers.size()).clear();
    }

    int callMark() {
        return calls.size();
    }

    void undoCallsTo(int mark) {
        calls.subList(mark, calls.size()).clear();
    }

    void task(TaskEnvelope t) {
        ProducerRecord<byte[], byte[]> record = new ProducerRecord<>(Topics.TASKS, key(t.partitionKey()), Json.bytes(t));
        traced(record, t);
        out.add(record);
    }

    void outcome(String eventKey, long executionId, String workflow, int version, String status, String error,
                 long finishedAt, long publishedAt) {
        Outcome o = new Outcome(eventKey, executionId, workflow, version, status, error, finishedAt, publishedAt);
        out.add(new ProducerRecord<>(Topics.OUTCOMES, key(eventKey), Json.bytes(o)));
    }

    /** The outcome of the execution of {@code t}, with a {@code traceparent} naming its execution span (ADR 0019). */
    void outcome(TaskEnvelope t, String status, String error, long finishedAt) {
        outcome(t.eventKey(), t.executionId(), t.workflow(), t.version(), status, error, finishedAt, t.publishedAt());
        traced(out.get(out.size() - 1), t);
    }

    /** Adds the {@code traceparent} of the execution of {@code t} to {@code record}, if it has one. */
    private void traced(ProducerRecord<byte[], byte[]> record, TaskEnvelope t) {
        String traceparent = ExecutionTraces.header(t, counts.tracing(), null);
        if (traceparent != null) {
            // For readers of the topic; the engine itself reads the context from the envelope (ADR 0019).
            record.headers().add(dev.onceflow.common.tracing.Traceparent.HEADER, traceparent.getBytes(StandardCharsets.UTF_8));
        }
    }

    /** The outcome of a finished execution, produced again from its row: the same content as the first time. */
    void outcome(String eventKey, ExecutionStore.Execution e) {
        outcome(eventKey, e.id(), e.workflow(), e.version(), e.status(), e.error(), e.finishedAt(), e.publishedAt());
    }

    void deadLetter(ConsumerRecord<byte[], byte[]> record, Reason reason, String message) {
        LOG.warn("Dead-lettering {}-{}@{}: {}", record.topic(), record.partition(), record.offset(), message);
        // An operator's command stays one (ADR 0025): a redrive publishes it again as a command.
        org.apache.kafka.common.header.Header command = record.headers().lastHeader(Topics.H_COMMAND);
        out.add(new DeadLetter(reason.name(), message, record.topic(), record.partition(), record.offset())
                .record(record.key(), record.value(), command == null ? null
                        : new org.apache.kafka.common.header.internals.RecordHeaders(new org.apache.kafka.common.header.Header[] {command})));
        counts.deadLettered(reason.name());
    }

    /** A record key: an event key, or a task's {@link TaskEnvelope#partitionKey()}. */
    static byte[] key(String key) {
        return key.getBytes(StandardCharsets.UTF_8);
    }
}
