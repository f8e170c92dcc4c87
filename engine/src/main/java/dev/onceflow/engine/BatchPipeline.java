package dev.onceflow.engine;

import dev.onceflow.common.EventEnvelope;
import dev.onceflow.common.InvalidInputException.Reason;
import dev.onceflow.common.Json;
import dev.onceflow.common.TaskEnvelope;
import dev.onceflow.common.Topics;
import dev.onceflow.common.executions.ExecutionStatus;
import dev.onceflow.common.executions.NodeStatus;
import java.io.IOException;
import java.sql.SQLException;
import java.sql.Savepoint;
import java.time.Clock;
import java.util.List;
import java.util.Optional;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Applies one poll batch to PostgreSQL in the caller's open transaction and returns the records
 * to produce in the batch's Kafka transaction. One pipeline, named after the record's path:
 * {@link DecodeRecords} (records → executions and steps), then {@link RunWave} once per node
 * depth (claim the wave's processed keys, run the claimed nodes), each result going through
 * {@link ApplyOutcome} (the one place it becomes follow-ups, timers, arrivals, finishes, outcomes).
 *
 * <p>Fast path: all records together, no savepoints, because hundreds of subtransactions per
 * transaction overflow PostgreSQL's subtransaction cache and slow every session. When a node's SQL
 * statement fails (which aborts the transaction), {@link ReplayCarefully} asks the caller to roll
 * back and replay: the careful path is the same pipeline run one record at a time, each under a
 * savepoint, so a node's failing statement becomes that node's failure and a poison record (see
 * {@link Failures}) is rolled back alone and, once it used up its attempts, dead-lettered while the
 * rest of the batch commits. The careful path stops taking records once the transaction holds
 * {@link #SAVEPOINT_BUDGET} savepoints: the caller commits the records applied so far
 * ({@link #appliedRecords()}) and replays the rest in a new transaction, so no transaction of the
 * engine overflows the cache, however large the batch (a careful batch of 500 records once held
 * every session of the database on {@code SubtransSLRU} for minutes). Not thread-safe: one per worker.
 */
final class BatchPipeline {

    private static final Logger LOG = LoggerFactory.getLogger(BatchPipeline.class);

    /** The batch must be rolled back and replayed with a savepoint per record. */
    static final class ReplayCarefully extends Exception {
        ReplayCarefully(String reason) {
            super(reason, null, false, false);
        }
    }

    /**
     * A record failed with a {@link Failures.Recovery#POISON} failure and has attempts left: the
     * caller rolls the whole batch back and delivers it again after a back-off.
     */
    static final class RetryBatch extends Exception {
        RetryBatch(String message, Throwable cause) {
            super(message, cause, false, false);
        }
    }

    /** Node depths run inline in a batch before the rest go through the tasks topic. */
    static final int INLINE_LIMIT = 64;

    /**
     * Savepoints a careful transaction takes before it stops at a record boundary: below
     * PostgreSQL's 64 cached subtransactions per session ({@code PGPROC_MAX_CACHED_SUBXIDS}),
     * past which every session's snapshots look transactions up in {@code pg_subtrans}. One
     * record's own savepoints (one, plus one per node that runs SQL) come on top.
     */
    static final int SAVEPOINT_BUDGET = 40;

    private final ExecutionStore store;
    private final ClaimPolicy policy;
    private final PoisonAttempts poison;
    private final DecodeRecords decode;
    private final RunWave wave;
    private final ApplyOutcome apply;
    private List<Batch.PendingCall> calls = List.of();
    private int applied;

    BatchPipeline(ExecutionStore store, WorkflowCache workflows, NodeRunner runner, Clock clock, ClaimPolicy policy,
                  PoisonAttempts poison) {
        this.store = store;
        this.policy = policy;
        this.poison = poison;
        this.apply = new ApplyOutcome(store, workflows, policy, clock, runner);
        this.decode = new DecodeRecords(store, workflows, policy, clock, new OperatorCommands(store, workflows, apply));
        this.wave = new RunWave(store, workflows, runner, policy, apply);
    }

    /**
     * Applies the batch, fast ({@code careful} false) or record by record.
     *
     * @throws RetryBatch a poison record has attempts left: roll back, back off, deliver again
     */
    List<ProducerRecord<byte[], byte[]>> apply(List<ConsumerRecord<byte[], byte[]>> records, boolean careful, Batch.Counts counts)
            throws SQLException, ReplayCarefully, RetryBatch {
        Batch batch = new Batch(counts);
        calls = List.of();
        statements = List.of();
        applied = 0;
        if (!careful && policy.records()) {
            advance(decode.all(records, batch), batch, false);
            store.flushFinishes();
            admitted(batch);
            calls = batch.calls;
            statements = batch.statements;
            startTimers = List.copyOf(batch.startTimers);
            applied = records.size();
            return batch.out;
        }
        if (!careful) {
            // The unsafe negative control: a naive worker runs every copy it is handed, and the
            // fast path folds copies of one event within a batch; so record by record, without savepoints.
            for (ConsumerRecord<byte[], byte[]> record : records) {
                advance(decode.one(record, batch), batch, false);
                store.flushQueued();
                admitted(batch);
            }
            calls = batch.calls;
            statements = batch.statements;
            startTimers = List.copyOf(batch.startTimers);
            applied = records.size();
            return batch.out;
        }
        for (ConsumerRecord<byte[], byte[]> record : records) {
            if (applied > 0 && store.savepointsTaken() >= SAVEPOINT_BUDGET) {
                break; // the caller commits these and replays the rest in a new transaction
            }
            // Queued statements of earlier records go now, so the savepoint covers this record only.
            store.flushQueued();
            Savepoint sp = store.savepoint();
            int produced = batch.mark();
            int called = batch.callMark();
            int handed = batch.statementMark();
            int started = batch.startMark();
            Batch.Counts counted = batch.counts.snapshot();
            try {
                advance(decode.one(record, batch), batch, true);
                store.flushQueued();
                admitted(batch);
            } catch (Throwable failure) {
                if (Failures.classify(failure) != Failures.Recovery.POISON) {
                    throw failure;
                }
                // Undo this record only: its statements, queued statements, produced records and counts.
                store.discardQueued();
                store.rollbackTo(sp);
                batch.undoTo(produced);
                batch.undoCallsTo(called);
                batch.undoStatementsTo(handed);
                batch.undoStartsTo(started);
                batch.counts.restore(counted);
                if (!poison.failedAndExhausted(record)) {
                    throw new RetryBatch(record.topic() + "-" + record.partition() + "@" + record.offset()
                            + " failed (attempt " + poison.attempts(record) + " of " + poison.maxAttempts() + ")", failure);
                }
                deadLetterPoison(record, failure, batch);
            }
            applied++;
        }
        calls = batch.calls;
        statements = batch.statements;
        startTimers = List.copyOf(batch.startTimers);
        return batch.out;
    }

    /**
     * How many records (or call results), from the first, the last {@link #apply} (or
     * {@link #record}) applied: all of them, except on the careful path when the
     * {@link #SAVEPOINT_BUDGET} was reached; the caller commits these and applies the rest in
     * another transaction.
     */
    int appliedRecords() {
        return applied;
    }

    /**
     * Event keys whose {@code start} timers the last applied batch made due and whose start tasks
     * it produced (ADR 0021): to be marked fired ({@link ExecutionStore#markStartsFired}) once its
     * Kafka transaction committed.
     */
    List<String> takeStartTimers() {
        List<String> taken = startTimers;
        startTimers = List.of();
        return taken;
    }

    private List<String> startTimers = List.of();

    /** The {@code http} calls the last applied batch claimed: to be made once it committed. */
    List<Batch.PendingCall> takeCalls() {
        List<Batch.PendingCall> taken = calls;
        calls = List.of();
        return taken;
    }

    private List<Batch.PendingStatement> statements = List.of();

    /** The long statements the last applied batch claimed: to be run off the poll thread once it committed (ADR 0021). */
    List<Batch.PendingStatement> takeStatements() {
        List<Batch.PendingStatement> taken = statements;
        statements = List.of();
        return taken;
    }

    /** A claimed call, what it came to, and how long it took. */
    record CallResult(Batch.PendingCall call, NodeResult result, long nanos) {
        CallResult(Batch.PendingCall call, NodeResult result) {
            this(call, result, 0);
        }
    }

    /**
     * Records the outcomes of calls made after their claims committed, in the caller's open
     * transaction, and advances what follows them as a batch does (follow-ups inline, timers,
     * joins, finishes). A call whose key no longer waits for an outcome (its lease ran out and a
     * redelivery decided first) is dropped, logged. Returns the records for a Kafka transaction
     * without offsets; the calls' lease timers are to be marked fired only after it committed.
     */
    List<ProducerRecord<byte[], byte[]>> record(List<CallResult> results, boolean careful, Batch.Counts counts)
            throws SQLException, ReplayCarefully {
        Batch batch = new Batch(counts);
        calls = List.of();
        statements = List.of();
        applied = 0;
        java.util.Set<Long> ids = new java.util.HashSet<>();
        results.forEach(r -> ids.add(r.call().step().task().executionId()));
        batch.states(store.lockStates(ids));
        List<Step> next = new java.util.ArrayList<>();
        for (CallResult r : results) {
            if (careful && applied > 0 && store.savepointsTaken() >= SAVEPOINT_BUDGET) {
                break; // the caller commits these and records the rest in a new transaction
            }
            applied++;
            Step step = r.call().step();
            // Under the negative control nothing is claimed, so there is no claim to check: every answer advances.
            Optional<ExecutionStore.StoredRun> run = policy.records() ? store.storedRun(step.key()) : Optional.empty();
            if (policy.records() && (run.isEmpty() || run.get().status() != NodeStatus.STARTED)) {
                LOG.warn("Not recording the outcome of http node '{}' of {} ({}): its key is {} by now (the lease ran out first)",
                        step.task().node(), step.task().eventKey(), r.result(), run.map(x -> x.status().db()).orElse("missing"));
                continue;
            }
            NodeResult result = r.result() instanceof NodeResult.Succeeded s
                    ? NodeResult.Succeeded.continueWith(s.output(), r.call().node().successors()) : r.result();
            batch.counts.nodeRuns++;
            batch.counts.ran(r.call().node(), r.nanos());
            next.addAll(apply.apply(step, r.call().node(), result, batch));
            if (careful) {
                // One call's follow-ups at a time, so the savepoint budget is checked between calls.
                advance(next, batch, true);
                next = new java.util.ArrayList<>();
            }
        }
        advance(next, batch, careful);
        store.flushFinishes();
        admitted(batch);
        calls = batch.calls;
        statements = batch.statements;
        startTimers = List.copyOf(batch.startTimers);
        return batch.out;
    }

    /**
     * The queued executions this transaction admitted from their lanes (ADR 0021): their start
     * tasks go out with the batch, and their start timers are marked fired after its Kafka commit.
     */
    private void admitted(Batch batch) {
        for (dev.onceflow.common.executions.Lanes.Admitted a : store.takeAdmitted()) {
            if (a.tasks().isEmpty()) {
                // Cannot happen: an execution queued by an earlier transaction has its start timer.
                LOG.error("Execution {} ({}) was admitted from its lane but has no start timer; it cannot start",
                        a.id(), a.eventKey());
                continue;
            }
            a.tasks().forEach(t -> batch.admitted(a.eventKey(), t));
        }
    }

    private void advance(List<Step> steps, Batch batch, boolean careful) throws SQLException, ReplayCarefully {
        List<Step> next = steps;
        for (int depth = 0; !next.isEmpty(); depth++) {
            if (depth > INLINE_LIMIT) {
                // One long graph must not hold a batch forever: the rest go through the tasks topic.
                for (Step s : next) {
                    batch.task(s.task());
                }
                return;
            }
            next = wave.run(next, batch, careful);
        }
    }

    /**
     * A record that failed {@link PoisonAttempts#maxAttempts} times: it goes to the dead-letter
     * topic with the reason, and its execution, when there is one to speak of, ends failed with
     * the same reason, so an operator sees it where executions are looked at. Nothing here may
     * fail the batch: whatever cannot be recorded is rolled back to a savepoint and logged.
     */
    private void deadLetterPoison(ConsumerRecord<byte[], byte[]> record, Throwable failure, Batch batch) throws SQLException {
        String reason = "engine failed on this record " + poison.maxAttempts() + " times: "
                + Failures.describe(failure).replace('\u0000', '?');
        LOG.error("Dead-lettering {}-{}@{} after {} attempts: {}", record.topic(), record.partition(), record.offset(),
                poison.maxAttempts(), Failures.describe(failure), failure);
        batch.deadLetter(record, Reason.PROCESSING_FAILED, reason);
        store.flushQueued(); // what earlier records queued is theirs: the rollback below must not drop it
        Savepoint sp = store.savepoint();
        int produced = batch.mark();
        int started = batch.startMark();
        Batch.Counts counted = batch.counts.snapshot();
        try {
            if (record.topic().equals(Topics.EVENTS)) {
                EventEnvelope event = Json.read(record.value(), EventEnvelope.class);
                // The trigger data may be what PostgreSQL refused: the dead-letter record keeps it.
                EventEnvelope kept = new EventEnvelope(event.eventKey(), event.workflow(), event.version(), event.time(),
                        Json.MAPPER.createObjectNode().put("dead_lettered", "trigger data kept in " + Topics.DLQ),
                        event.source(), event.publishedAt(), event.depth());
                String error = reason + " (record kept in " + Topics.DLQ + ")";
                if (!decode.createFailed(kept, error, batch)) {
                    Optional<ExecutionStore.Execution> existing = store.execution(event.eventKey());
                    if (existing.isPresent() && existing.get().running()) {
                        TaskEnvelope t = new TaskEnvelope(event.eventKey(), existing.get().id(), event.workflow(),
                                event.version(), "", "", event.time(), null, null, existing.get().publishedAt());
                        apply.finish(new Step(t, record, record.partition()), ExecutionStatus.FAILED, error, batch);
                    }
                }
            } else if (!dev.onceflow.common.OperatorCommand.isCommand(record.headers())) {
                // (a command's execution is left as it is: the command is in the dead-letter topic to issue again)
                TaskEnvelope task = Json.read(record.value(), TaskEnvelope.class);
                String error = "node '" + task.node() + "': " + reason + " (record kept in " + Topics.DLQ + ")";
                batch.states(store.lockStates(java.util.Set.of(task.executionId())));
                apply.finish(new Step(task, record, record.partition()), ExecutionStatus.FAILED, error, batch);
            }
            store.flushQueued();
            admitted(batch);
        } catch (IOException | SQLException | RuntimeException e) {
            LOG.warn("Could not record the failed execution of dead-lettered {}-{}@{} ({}); the record is in {}",
                    record.topic(), record.partition(), record.offset(), e.toString(), Topics.DLQ);
            store.discardQueued();
            store.rollbackTo(sp);
            batch.undoTo(produced);
            batch.undoStartsTo(started);
            batch.counts.restore(counted);
        }
    }
}
