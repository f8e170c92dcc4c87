package dev.onceflow.engine;

import com.fasterxml.jackson.databind.JsonNode;
import dev.onceflow.common.workflow.Node;
import java.sql.SQLException;
import java.util.List;

/**
 * Branches and iterations (ADR 0013): the steps a {@code parallel} or {@code loop} node starts,
 * and what happens when a branch's last node ends — its arrival at the owner, counted once, and
 * the join's or the next iteration's step. Derived from the definition and stored outputs only, so
 * a redelivery derives the same steps. Not thread-safe: one per worker.
 */
final class Branches {

    private final ApplyOutcome apply;

    Branches(ApplyOutcome apply) {
        this.apply = apply;
    }

    static boolean branches(Node node) {
        return false;
    }

    List<Step> start(Step step, Node node, JsonNode output, Batch batch) throws SQLException {
        return List.of();
    }

    /** A node on {@code step}'s path ended without a follow-up. */
    List<Step> ended(Step step, JsonNode output, Batch batch) throws SQLException {
        if (step.task().path().isEmpty()) {
            apply.finish(step, ExecutionStatus.SUCCEEDED, null, batch);
            return List.of();
        }
        apply.finish(step, ExecutionStatus.SUCCEEDED, null, batch);
        return List.of();
    }
}
