package dev.onceflow.engine;

import java.sql.SQLException;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Who may run a node: the processed-key claim that makes every node's effect happen once, or, for
 * the negative control only ({@code engine.unsafe}), a naive at-least-once worker that runs every
 * delivered task and redelivered event again and keeps no record of what ran. Injected into the
 * pipeline so that no other class knows which one it runs under. Stateless; thread-safe.
 */
interface ClaimPolicy {

    /** The keys of {@code steps} whose nodes must run now. */
    Set<String> claim(ExecutionStore store, List<Step> steps) throws SQLException;

    /** Whether node outcomes are recorded in {@code processed_keys} (and so replayed on redelivery). */
    boolean records();

    /** Whether a redelivered event of an existing execution walks it again even when it finished. */
    boolean rerunsFinished();

    /**
     * The guarantee: a key absent when read is this delivery's to run, and is inserted with its
     * outcome by this transaction, which rolls back whole if another inserted it first (ADR 0027);
     * an existing key ran before.
     */
    ClaimPolicy ONCE = new ClaimPolicy() {
        @Override
        public Set<String> claim(ExecutionStore store, List<Step> steps) throws SQLException {
            List<String> keys = new java.util.ArrayList<>(steps.size());
            List<Long> executions = new java.util.ArrayList<>(steps.size());
            List<String> nodes = new java.util.ArrayList<>(steps.size());
            List<String> paths = new java.util.ArrayList<>(steps.size());
            List<Integer> attempts = new java.util.ArrayList<>(steps.size());
            Set<String> distinct = new HashSet<>();
            for (Step s : steps) {
                if (distinct.add(s.key())) {
                    keys.add(s.key());
                    executions.add(s.task().executionId());
                    nodes.add(s.task().node());
                    paths.add(s.task().path());
                    attempts.add(s.task().attempt());
                }
            }
            return store.claimLater(keys, executions, nodes, paths, attempts);
        }

        @Override
        public boolean records() {
            return true;
        }

        @Override
        public boolean rerunsFinished() {
            return false;
        }
    };

    /** The negative control: every delivery runs, nothing is recorded. Never for real work. */
    ClaimPolicy UNSAFE = new ClaimPolicy() {
        @Override
        public Set<String> claim(ExecutionStore store, List<Step> steps) {
            Set<String> all = new HashSet<>();
            steps.forEach(s -> all.add(s.key()));
            return all;
        }

        @Override
        public boolean records() {
            return false;
        }

        @Override
        public boolean rerunsFinished() {
            return true;
        }
    };
}
