package dev.onceflow.engine;

import dev.onceflow.common.TaskEnvelope;
import dev.onceflow.common.executions.ExecutionStatus;
import dev.onceflow.common.executions.Lanes;
import dev.onceflow.common.executions.NodeStatus;
import java.sql.SQLException;
import java.sql.Savepoint;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One long statement's own PostgreSQL transaction (ADR 0021), on a connection of its own: the
 * claim, the statement, its stored outcome and what {@link ApplyOutcome} derives from it commit
 * together, so ADR 0001's atomicity holds without holding a batch. The batch that handed the node
 * off inserted its processed key {@code started} with a lease timer; here:
 * <ol>
 *   <li>the key's row is locked ({@link ExecutionStore#lockKey}): a second runner of the same key
 *       (a redelivery after the lease, another worker after a rebalance) waits here, and finds an
 *       outcome when the first committed, or runs the statement when the first rolled back;</li>
 *   <li>a key that has an outcome already derives its follow-ups again from it (the records of
 *       the runner that recorded it may have been lost with its engine);</li>
 *   <li>the statement runs with its own timeout; then the execution's state is read share-locked:
 *       a cancel that committed meanwhile rolls the statement back, a later one waits for this
 *       commit (ADR 0013's rule, with the lock taken after the statement so that it does not hold
 *       other finishes of the execution for as long as the statement runs);</li>
 *   <li>the outcome is applied; its follow-ups are not run here but produced as task records.</li>
 * </ol>
 * The caller produces {@link Done#out} in the poll thread's next Kafka transaction and then marks
 * the lease fired. Not thread-safe: one per long-statement slot, used by one thread at a time.
 */
final class RunLongStatement implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(RunLongStatement.class);

    /**
     * What one long statement's committed transaction left to do: records for a Kafka transaction,
     * then its lease and the start timers of the executions it admitted marked fired.
     */
    record Done(String key, List<ProducerRecord<byte[], byte[]>> out, List<String> starts, Batch.Counts counts) {
    }

    private final ExecutionStore store;
    private final ApplyOutcome apply;
    private final NodeRunner runner;
    private final ClaimPolicy policy;

    RunLongStatement(ExecutionStore store, ApplyOutcome apply, NodeRunner runner, ClaimPolicy policy) {
        this.store = store;
        this.apply = apply;
        this.runner = runner;
        this.policy = policy;
    }

    /**
     * Runs the statement and commits what it recorded. Throws with nothing committed.
     *
     * @param stopping whether the worker is stopping: a statement it cancelled is no failure of the node
     */
    Done run(Batch.PendingStatement handed, boolean tracing, java.util.function.BooleanSupplier stopping) throws SQLException {
        Batch batch = new Batch(new Batch.Counts(tracing));
        Step step = handed.step();
        TaskEnvelope task = step.task();
        long id = task.executionId();
        if (policy.records()) {
            Optional<NodeStatus> status = store.lockKey(step.key());
            if (status.isEmpty() || status.get() != NodeStatus.STARTED) {
                batch.states(store.lockStates(Set.of(id)));
                batch.counts.duplicateNodeRuns++;
                return commit(step.key(), batch, status.isEmpty() ? List.of() : apply.replay(step, handed.node(), batch));
            }
            // A cancelled execution runs no more nodes: spare the statement (a cancel that comes
            // while it runs is seen under the share lock below).
            if (store.execution(task.eventKey()).map(e -> !e.running()).orElse(true)) {
                return commit(step.key(), batch, List.of());
            }
        }
        // Row changes of the statement start executions one deeper (ADR 0011); before the
        // savepoint, so a failed statement's rollback keeps the mark.
        store.markDepth(task.depth() + 1);
        Savepoint sp = store.savepoint();
        long started = System.nanoTime();
        NodeResult result = runner.runLong(handed.node(), NodeContext.variables(task), store.connection());
        long nanos = System.nanoTime() - started;
        if (stopping.getAsBoolean()) {
            // Cancelled by the worker's stop (or finished just then): rolled back, left to its lease.
            throw new IllegalStateException("the worker stopped while the statement ran");
        }
        if (result instanceof NodeResult.Failed f && f.transactionAborted()) {
            store.rollbackTo(sp); // the failed statement goes; the key's lock stays
        }
        batch.states(store.lockStates(Set.of(id)));
        if (batch.state(id) != ExecutionStatus.RUNNING && !policy.rerunsFinished()) {
            LOG.info("Long statement of node '{}' of {} rolled back: the execution is {} by now", task.node(), task.eventKey(),
                    batch.state(id).db());
            store.rollbackQuietly();
            return commit(step.key(), new Batch(new Batch.Counts(tracing)), List.of());
        }
        batch.counts.ran(handed.node(), nanos);
        return commit(step.key(), batch, apply.apply(step, handed.node(), result, batch));
    }

    /**
     * After an unexpected failure of {@link #run} (a {@link Failures.Recovery#POISON} one, rolled
     * back): the node fails with the reason, in a new transaction, so the execution ends where an
     * operator looks instead of coming back through its lease for ever. A retry policy does not
     * apply (no error class). Throws with nothing committed.
     */
    Done fail(Batch.PendingStatement handed, Throwable failure, boolean tracing) throws SQLException {
        Batch batch = new Batch(new Batch.Counts(tracing));
        Step step = handed.step();
        if (policy.records() && store.lockKey(step.key()).filter(s -> s == NodeStatus.STARTED).isEmpty()) {
            return commit(step.key(), batch, List.of());
        }
        batch.states(store.lockStates(Set.of(step.task().executionId())));
        if (batch.state(step.task().executionId()) != ExecutionStatus.RUNNING) {
            return commit(step.key(), batch, List.of());
        }
        String error = "the engine failed running this long statement: " + Failures.describe(failure);
        return commit(step.key(), batch, apply.apply(step, handed.node(), new NodeResult.Failed(error, false, null), batch));
    }

    private Done commit(String key, Batch batch, List<Step> next) throws SQLException {
        for (Step s : next) {
            batch.task(s.task()); // follow-ups go through the tasks topic, to a batch of the poll thread
        }
        store.flushQueued(); // finishes, and the lanes they free
        for (Lanes.Admitted a : store.takeAdmitted()) {
            a.tasks().forEach(t -> batch.admitted(a.eventKey(), t));
        }
        store.commit();
        return new Done(key, List.copyOf(batch.out), List.copyOf(batch.startTimers), batch.counts);
    }

    void rollBack() {
        store.rollbackQuietly();
    }

    /** Whether the connection is still usable after a failure. */
    boolean usable() {
        try {
            return !store.connection().isClosed() && store.connection().isValid(2);
        } catch (SQLException e) {
            return false;
        }
    }

    /** Cancels the statement running on this connection, if any; any thread. */
    void cancel() {
        try {
            store.connection().unwrap(org.postgresql.core.BaseConnection.class).cancelQuery();
        } catch (SQLException | RuntimeException e) {
            LOG.debug("Could not cancel a long statement: {}", e.toString());
        }
    }

    @Override
    public void close() {
        store.close();
    }
}
