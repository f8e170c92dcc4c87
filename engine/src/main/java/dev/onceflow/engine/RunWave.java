package dev.onceflow.engine;

import dev.onceflow.common.InvalidInputException.Reason;
import dev.onceflow.common.executions.ExecutionStatus;
import dev.onceflow.common.workflow.Node;
import java.sql.SQLException;
import java.sql.Savepoint;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The second step of a batch, once per node depth (a "wave"): reads the state of the wave's
 * executions (share-locked: a cancel cannot slip in), claims the wave's processed keys in one
 * statement ({@link ClaimPolicy}), runs the claimed nodes — plain DML of many nodes as one JDBC
 * batch — and hands every result to {@link ApplyOutcome}, which returns the next wave. A long
 * statement ({@link NodeRunner#runsLong}) is claimed and not run: it is handed off. A key that
 * existed ran before: its stored outcome is replayed instead. Each node still runs only if its own
 * processed key was inserted by this transaction, and its statement runs in that transaction.
 *
 * <p>{@code careful}: no JDBC batching, and a savepoint per node, so a node whose statement fails
 * (which aborts the transaction) is rolled back alone and recorded failed. Without it such a
 * failure throws {@link BatchPipeline.ReplayCarefully}. Not thread-safe: one per worker.
 */
final class RunWave {

    private static final Logger LOG = LoggerFactory.getLogger(RunWave.class);

    private final ExecutionStore store;
    private final WorkflowCache workflows;
    private final NodeRunner runner;
    private final ClaimPolicy policy;
    private final ApplyOutcome apply;

    RunWave(ExecutionStore store, WorkflowCache workflows, NodeRunner runner, ClaimPolicy policy, ApplyOutcome apply) {
        this.store = store;
        this.workflows = workflows;
        this.runner = runner;
        this.policy = policy;
        this.apply = apply;
    }

    /** Advances one wave; returns the next one (the follow-ups reached inline). */
    List<Step> run(List<Step> wave, Batch batch, boolean careful) throws SQLException, BatchPipeline.ReplayCarefully {
        List<Step> next = new ArrayList<>();
        lockStates(wave, batch);
        List<Step> runnable = new ArrayList<>();
        List<Node> nodes = new ArrayList<>();
        for (Step step : wave) {
            Optional<Node> node = workflows.get(step.task().workflow(), step.task().version()).flatMap(w -> w.node(step.task().node()));
            if (node.isEmpty()) {
                String error = "workflow '" + step.task().workflow() + "' version " + step.task().version()
                        + " has no node '" + step.task().node() + "'";
                if (step.record() != null) {
                    batch.deadLetter(step.record(), Reason.UNKNOWN_NODE, error);
                }
                apply.finish(step, ExecutionStatus.FAILED, error, batch);
                continue;
            }
            if (batch.state(step.task().executionId()) != ExecutionStatus.RUNNING && !policy.rerunsFinished()) {
                // Finished or cancelled: nothing more runs. A node that ran before still produces
                // what it produced (its execution's outcome, for a redelivery after a crash).
                next.addAll(apply.replayIfRan(step, node.get(), batch));
                continue;
            }
            runnable.add(step);
            nodes.add(node.get());
        }
        if (runnable.isEmpty()) {
            return next;
        }
        Set<String> claimed = policy.claim(store, runnable);
        NodeResult[] results = new NodeResult[runnable.size()];
        long[] nanos = new long[runnable.size()];
        List<Map<String, Object>> variables = new ArrayList<>(runnable.size());
        for (Step s : runnable) {
            variables.add(NodeContext.variables(s.task()));
        }
        if (!careful) {
            // One JDBC batch per execution depth: a change made by a node starts executions one
            // deeper than the node's execution, and the depth mark sent before a batch covers
            // every change the batch makes (ADR 0011). A wave almost always holds one depth.
            java.util.SortedMap<Integer, List<Integer>> byDepth = new java.util.TreeMap<>();
            Set<String> seen = new HashSet<>();
            for (int i = 0; i < runnable.size(); i++) {
                if (claimed.contains(runnable.get(i).key()) && seen.add(runnable.get(i).key())) {
                    byDepth.computeIfAbsent(runnable.get(i).task().depth(), d -> new ArrayList<>()).add(i);
                }
            }
            for (Map.Entry<Integer, List<Integer>> group : byDepth.entrySet()) {
                List<Integer> index = group.getValue();
                List<Node> batchable = new ArrayList<>(index.size());
                List<Map<String, Object>> batchVars = new ArrayList<>(index.size());
                for (int i : index) {
                    batchable.add(nodes.get(i));
                    batchVars.add(variables.get(i));
                }
                store.markDepth(group.getKey() + 1);
                long started = System.nanoTime();
                NodeResult[] ran = runner.runBatched(batchable, batchVars, store.connection());
                long batched = java.util.Arrays.stream(ran).filter(java.util.Objects::nonNull).count();
                // One JDBC batch ran them all: each node's time is its share of the batch's.
                long share = batched == 0 ? 0 : (System.nanoTime() - started) / batched;
                for (int k = 0; k < index.size(); k++) {
                    results[index.get(k)] = ran[k];
                    nanos[index.get(k)] = share;
                }
            }
        }
        Set<String> ranNow = new HashSet<>();
        for (int i = 0; i < runnable.size(); i++) {
            Step step = runnable.get(i);
            String key = step.key();
            if (!claimed.contains(key) || (!ranNow.add(key) && policy.records())) {
                // The key existed (or a copy of this step earlier in the wave ran it): replay.
                batch.counts.duplicateNodeRuns++;
                next.addAll(apply.replay(step, nodes.get(i), batch));
                continue;
            }
            NodeResult result = results[i];
            if (result == null && runner.runsLong(nodes.get(i))) {
                // Claimed here, run off the poll thread once this transaction committed (ADR 0021).
                result = new NodeResult.LongStatement();
            } else if (result == null) {
                store.markDepth(step.task().depth() + 1); // before the savepoint: a rollback to it keeps the mark
                Savepoint sp = careful ? store.savepoint() : null;
                long started = System.nanoTime();
                result = runner.run(nodes.get(i), variables.get(i), store.connection());
                nanos[i] = System.nanoTime() - started;
                if (result instanceof NodeResult.Failed f && f.transactionAborted()) {
                    if (sp == null) {
                        throw new BatchPipeline.ReplayCarefully(f.error());
                    }
                    // Undo the failed statement; the claim, made before the savepoint, stays.
                    store.rollbackTo(sp);
                    if (SqlNode.OVERRAN.equals(f.errorClass())) {
                        result = new NodeResult.LongStatement(); // stopped at the inline limit: handed off
                    }
                }
            } else if (result instanceof NodeResult.Failed f && f.transactionAborted()) {
                throw new BatchPipeline.ReplayCarefully(f.error());
            }
            batch.counts.nodeRuns++;
            if (!(result instanceof NodeResult.Call) && !(result instanceof NodeResult.LongStatement)) {
                batch.counts.ran(nodes.get(i), nanos[i]); // a call is timed when it is made, after the commit
            }
            if (LOG.isDebugEnabled()) {
                LOG.debug("Ran node {} of {} (execution {}): {}", step.task().node(), step.task().eventKey(),
                        step.task().executionId(), result);
            }
            next.addAll(apply.apply(step, nodes.get(i), result, batch));
        }
        return next;
    }

    /** Reads, share-locked, the state of the wave's executions not yet known to the batch. */
    private void lockStates(List<Step> wave, Batch batch) throws SQLException {
        if (policy.rerunsFinished()) {
            return; // the negative control runs whatever it is handed
        }
        Set<Long> unknown = new HashSet<>();
        for (Step s : wave) {
            if (!batch.knowsState(s.task().executionId())) {
                unknown.add(s.task().executionId());
            }
        }
        if (!unknown.isEmpty()) {
            batch.states(store.lockStates(unknown));
        }
    }
}
