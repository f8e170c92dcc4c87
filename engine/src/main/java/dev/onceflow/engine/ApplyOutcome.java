package dev.onceflow.engine;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.common.TaskEnvelope;
import dev.onceflow.common.executions.ExecutionStatus;
import dev.onceflow.common.executions.NodeStatus;
import dev.onceflow.common.workflow.Node;
import java.sql.SQLException;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The third step of a batch, and the only place a node's result becomes what follows it: the
 * processed key's outcome, follow-up steps, a timer (a delay, a retry's backoff), a branch's
 * arrival at its join or loop, the execution's finish and its outcome record (ADR 0013). A
 * redelivered node whose key existed goes through the same code from its stored outcome
 * ({@link #replay}), so a redelivery derives exactly what the first run did. Not thread-safe: one
 * per worker.
 */
final class ApplyOutcome {

    private static final Logger LOG = LoggerFactory.getLogger(ApplyOutcome.class);
    static final String DELAY = "delay";
    static final String RETRY = "retry";

    private final ExecutionStore store;
    private final WorkflowCache workflows;
    private final ClaimPolicy policy;
    private final Clock clock;
    static final String LEASE = "lease";
    /** How long past an http call's timeout its claim is held before a redelivery treats its outcome as unknown. */
    static final long DEFAULT_LEASE_GRACE_MS = 30_000;

    private final Branches branches;
    private final NodeRunner runner;

    ApplyOutcome(ExecutionStore store, WorkflowCache workflows, ClaimPolicy policy, Clock clock, NodeRunner runner) {
        this.store = store;
        this.workflows = workflows;
        this.policy = policy;
        this.clock = clock;
        this.runner = runner;
        this.branches = new Branches(this);
    }

    ExecutionStore store() {
        return store;
    }

    /** A node this delivery ran: record its outcome and return the steps that follow it. */
    List<Step> apply(Step step, Node node, NodeResult result, Batch batch) throws SQLException {
        String key = step.key();
        TaskEnvelope task = step.task();
        if (result instanceof NodeResult.Succeeded s) {
            record(key, NodeStatus.SUCCEEDED, s.output(), s.next(), null);
            outcome(step, node, NodeStatus.SUCCEEDED, null, batch);
            if (s.endStatus() != null) {
                ExecutionStatus status = ExecutionStatus.of(s.endStatus());
                finish(step, status, status == ExecutionStatus.FAILED
                        ? (s.message() == null ? "ended by node '" + task.node() + "'" : s.message()) : null, batch);
                return List.of();
            }
            return continueAfter(step, node, s.output(), s.next(), s.vars(), batch);
        }
        if (result instanceof NodeResult.Waiting w) {
            record(key, NodeStatus.WAITING, w.output(), w.next(), null);
            outcome(step, node, NodeStatus.WAITING, null, batch);
            List<TaskEnvelope> later = new ArrayList<>();
            for (Step s : followUps(step, w.output(), w.next(), null)) {
                later.add(s.task());
            }
            store.setTimer(key, task.executionId(), step.partition(), DELAY, w.dueAtMs(), later);
            batch.counts.timersSet++;
            return List.of();
        }
        if (result instanceof NodeResult.Call c) {
            // The key stays 'started' (claimed, no outcome) until the call's outcome is recorded
            // after this batch commits. The lease timer delivers the task again if that never
            // happens (the engine stopped between the call and its record).
            store.setLease(key, task.executionId(), step.partition(),
                    clock.millis() + c.request().timeoutMs() + runner.leaseGraceMs(), task);
            batch.calls.add(new Batch.PendingCall(step, (Node.Http) node, c.request()));
            return List.of();
        }
        if (result instanceof NodeResult.LongStatement) {
            handOff(step, (Node.Sql) node, batch);
            return List.of();
        }
        if (result instanceof NodeResult.Branched b) {
            record(key, NodeStatus.SUCCEEDED, b.output(), List.of(), null);
            outcome(step, node, NodeStatus.SUCCEEDED, null, batch);
            return branches.start(step, node, b.output(), batch);
        }
        NodeResult.Failed f = (NodeResult.Failed) result;
        record(key, NodeStatus.FAILED, null, List.of(), f.error());
        outcome(step, node, NodeStatus.FAILED, f.error(), batch);
        Optional<Long> backoff = Retries.backoff(node, task.attempt(), f.errorClass());
        if (backoff.isPresent()) {
            // The next attempt is a task record produced by a timer, not a sleeping thread (ADR 0013).
            TaskEnvelope again = task.next(task.node(), task.path(), task.outputs(), task.vars(), task.attempt() + 1);
            if (node instanceof Node.Http && HttpCall.outcomeUnknown(f.errorClass())) {
                // A call that timed out or broke may have reached the receiver: the next attempt
                // repeats it under the same Idempotency-Key, so a receiver that honours the key
                // does its work once (ADR 0014). After an answer (5xx, 429) it is a new call.
                again = again.withCallKey(task.idempotencyKey());
            }
            store.setTimer(key, task.executionId(), step.partition(), RETRY, clock.millis() + backoff.get(), List.of(again));
            batch.counts.timersSet++;
            LOG.info("Node '{}' of {} failed (attempt {}): {}; attempt {} in {} ms", task.node(), task.eventKey(),
                    task.attempt(), f.error(), task.attempt() + 1, backoff.get());
            return List.of();
        }
        finish(step, ExecutionStatus.FAILED, "node '" + task.node() + "' failed"
                + (task.attempt() > 1 ? " (attempt " + task.attempt() + ")" : "") + ": " + f.error(), batch);
        return List.of();
    }

    /**
     * A long statement's key stays {@code started} (claimed, no outcome) until
     * {@link LongStatements} has run it in a transaction of its own, after this one committed. Its
     * lease timer delivers the task again if that never happens (the engine stopped first); the
     * statement's own timeout bounds how long it can run, so the lease is due after that.
     */
    private void handOff(Step step, Node.Sql node, Batch batch) throws SQLException {
        TaskEnvelope task = step.task();
        store.setLease(step.key(), task.executionId(), step.partition(), clock.millis() + runner.timeoutMs(node) + runner.leaseGraceMs(),
                task);
        batch.statements.add(new Batch.PendingStatement(step, node));
    }

    /** Counts the outcome just recorded, and keeps it for the node's span (ADR 0019). */
    private void outcome(Step step, Node node, NodeStatus status, String error, Batch batch) {
        batch.counts.outcome(node, status);
        if (batch.counts.tracing()) {
            long start = java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(clock.millis()) - batch.counts.takeRanNanos();
            batch.counts.trace(new ExecutionTraces.NodeRecorded(step.task(), EngineMeters.type(node), status, error, start));
        }
    }

    /** A node whose processed key existed: what it produced the first time, derived again from its stored outcome. */
    List<Step> replay(Step step, Node node, Batch batch) throws SQLException {
        Optional<ExecutionStore.StoredRun> stored = store.storedRun(step.key());
        if (stored.isPresent() && stored.get().status() == NodeStatus.STARTED && node instanceof Node.Http http) {
            return unknownOutcome(step, http, stored.get(), batch);
        }
        if (stored.isPresent() && stored.get().status() == NodeStatus.STARTED && node instanceof Node.Sql sql
                && batch.state(step.task().executionId()) == ExecutionStatus.RUNNING) {
            // A long statement handed off and not recorded (lost with its engine, or still on its
            // way): handed off again. Its runner locks the key, so it runs once (LongStatements).
            handOff(step, sql, batch);
            return List.of();
        }
        if (stored.isEmpty() || stored.get().status() == NodeStatus.STARTED) {
            LOG.warn("Processed key {} has no finished outcome (status {}); not producing follow-ups", step.key(),
                    stored.map(r -> r.status().db()).orElse("missing"));
            return List.of();
        }
        ExecutionStore.StoredRun run = stored.get();
        switch (run.status()) {
            case WAITING:
                return List.of(); // its timer produces the follow-ups
            case FAILED:
                if (run.retried()) {
                    return List.of(); // the retry timer produces the next attempt
                }
                finishAgain(step, batch);
                return List.of();
            default:
                if (node instanceof Node.End) {
                    finishAgain(step, batch);
                    return List.of();
                }
                if (Branches.branches(node)) {
                    return branches.start(step, node, run.output(), batch);
                }
                return continueAfter(step, node, run.output(), run.next(), Retries.varsSet(node, run.output()), batch);
        }
    }

    /**
     * A delivered {@code http} task whose key is claimed without an outcome. Within the claim's
     * lease the call may still be in flight: nothing happens, and the lease timer (set again, in
     * case it already fired) comes back at its end. Past it, the call was made or not, nobody
     * knows: {@code onUnknownOutcome: retry} calls again with the same {@code Idempotency-Key};
     * {@code fail} fails the node as "outcome unknown" and calls nothing.
     */
    private List<Step> unknownOutcome(Step step, Node.Http http, ExecutionStore.StoredRun run, Batch batch) throws SQLException {
        TaskEnvelope task = step.task();
        long leaseEnd = run.startedAtMs() + http.timeoutMs() + runner.leaseGraceMs();
        if (clock.millis() < leaseEnd) {
            store.setLease(step.key(), task.executionId(), step.partition(), leaseEnd, task);
            return List.of();
        }
        if (Node.Http.RETRY.equals(http.onUnknownOutcome())) {
            LOG.warn("http node '{}' of {}: claimed at {} with no outcome recorded; calling again with the same Idempotency-Key {} "
                    + "(onUnknownOutcome: retry)", task.node(), task.eventKey(), java.time.Instant.ofEpochMilli(run.startedAtMs()),
                    task.idempotencyKey());
            return apply(step, http, runner.run(http, NodeContext.variables(task), store.connection()), batch);
        }
        String error = "outcome unknown: the call of http node '" + task.node() + "' (Idempotency-Key " + task.idempotencyKey()
                + ") was claimed at " + java.time.Instant.ofEpochMilli(run.startedAtMs()) + " but no outcome was recorded within "
                + "its lease (the engine stopped between the call and its record?); it may or may not have reached the receiver, "
                + "so it is not called again (onUnknownOutcome: fail)";
        LOG.warn("{} of {}", error, task.eventKey());
        // No error class: a retry policy must not call again either.
        return apply(step, http, new NodeResult.Failed(error, false, null), batch);
    }

    /** A step of an execution that no longer runs: replayed if its node ran (a redelivery), else dropped. */
    List<Step> replayIfRan(Step step, Node node, Batch batch) throws SQLException {
        Optional<ExecutionStore.StoredRun> stored = policy.records() ? store.storedRun(step.key()) : Optional.empty();
        if (stored.isPresent()) {
            batch.counts.duplicateNodeRuns++;
            return replay(step, node, batch);
        }
        LOG.debug("Not running node {} of {}: the execution is {}", step.task().node(), step.task().eventKey(),
                batch.state(step.task().executionId()));
        return List.of();
    }

    /** After a node that succeeded: its follow-ups, or, with none, the end of its branch. */
    List<Step> continueAfter(Step step, Node node, JsonNode output, List<String> next, ObjectNode vars, Batch batch)
            throws SQLException {
        if (!next.isEmpty()) {
            return followUps(step, output, next, vars);
        }
        return branches.ended(step, output, batch);
    }

    /** The steps {@code next} on the same path, seeing this node's output and the variables it set. */
    List<Step> followUps(Step step, JsonNode output, List<String> next, ObjectNode vars) {
        TaskEnvelope task = step.task();
        Map<String, JsonNode> outputs = new HashMap<>(task.outputs());
        if (output != null) {
            outputs.put(task.node(), output);
        }
        ObjectNode merged = task.vars();
        if (vars != null && !vars.isEmpty()) {
            merged = task.vars().deepCopy();
            merged.setAll(vars);
        }
        List<Step> steps = new ArrayList<>(next.size());
        for (String n : next) {
            steps.add(step.then(task.next(n, task.path(), outputs, merged, 1)));
        }
        return steps;
    }

    /**
     * Finishes the execution unless it is finished (a queued one too: an operator's cancel, ADR
     * 0022); its outcome goes out once the finish is applied.
     */
    void finish(Step step, ExecutionStatus status, String error, Batch batch) throws SQLException {
        TaskEnvelope t = step.task();
        if (batch.finishedHere(t.executionId())) {
            return; // another branch finished it in this batch; its outcome is on its way
        }
        if (batch.state(t.executionId()).finished()) {
            finishAgain(step, batch); // finished before this batch: a redelivery after a crash
            return;
        }
        long finishedAt = clock.millis();
        batch.finished(t.executionId(), status);
        store.finishLater(t.executionId(), status.db(), error, finishedAt, () -> {
            batch.counts.finished(t.workflow(), status, t.publishedAt() > 0 ? Math.max(0, finishedAt - t.publishedAt()) : -1);
            batch.counts.trace(new ExecutionTraces.ExecutionFinished(t, status, error, finishedAt));
            batch.outcome(t, status.db(), error, finishedAt);
        });
    }

    /**
     * A redelivery reached where the execution finished: the outcome produced with the finish may
     * have been in an aborted Kafka transaction (a crash between the commits). Produce it again
     * from the row: same key, same content.
     */
    void finishAgain(Step step, Batch batch) throws SQLException {
        store.execution(step.task().eventKey()).filter(ExecutionStore.Execution::finished)
                .ifPresent(e -> batch.outcome(step.task().eventKey(), e));
    }

    Optional<Node> node(TaskEnvelope task, String nodeId) throws SQLException {
        return workflows.get(task.workflow(), task.version()).flatMap(w -> w.node(nodeId));
    }

    private void record(String key, NodeStatus status, JsonNode output, List<String> next, String error) throws SQLException {
        if (policy.records()) {
            store.complete(key, status, output, next, error);
        }
    }

    static ObjectNode object() {
        return JsonNodeFactory.instance.objectNode();
    }
}
