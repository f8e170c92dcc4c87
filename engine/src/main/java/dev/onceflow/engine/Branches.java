package dev.onceflow.engine;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.common.TaskEnvelope;
import dev.onceflow.common.executions.ExecutionStatus;
import dev.onceflow.common.workflow.Node;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SortedMap;

/**
 * Branches and iterations (ADR 0013): the steps a {@code parallel} or {@code loop} node starts,
 * and what happens when a branch's last node ends — its arrival at the owner, recorded once in
 * {@code branch_arrivals}, and the join's follow-up or the next iteration. Everything is derived
 * from the definition, the task's path and outputs, and the stored arrivals, so a redelivery
 * derives the same steps (which their processed keys then absorb).
 *
 * <p>A path is a list of segments {@code owner#index} joined by {@code /}: the branch's position in
 * {@code branches}, or the iteration's index in {@code items}. Not thread-safe: one per worker.
 */
final class Branches {

    private final ApplyOutcome apply;

    Branches(ApplyOutcome apply) {
        this.apply = apply;
    }

    /** Whether the node's run starts branches or iterations instead of naming follow-ups. */
    static boolean branches(Node node) {
        return node instanceof Node.Parallel || node instanceof Node.Loop;
    }

    /** The first steps of {@code node}'s branches ({@code parallel}) or of its first iteration ({@code loop}). */
    List<Step> start(Step step, Node node, JsonNode output, Batch batch) throws SQLException {
        TaskEnvelope task = step.task();
        Map<String, JsonNode> outputs = new HashMap<>(task.outputs());
        outputs.put(node.id(), output);
        if (node instanceof Node.Parallel p) {
            List<Step> steps = new ArrayList<>(p.branches().size());
            for (int i = 0; i < p.branches().size(); i++) {
                steps.add(step.then(task.next(p.branches().get(i), child(task.path(), p.id(), i), outputs, task.vars(), 1)));
            }
            return steps;
        }
        Node.Loop loop = (Node.Loop) node;
        int count = output.path("count").asInt(0);
        if (count == 0) {
            ObjectNode done = ApplyOutcome.object().put("count", 0);
            done.putArray("iterations");
            return apply.continueAfter(step, node, done, successor(loop.next()), null, batch);
        }
        return List.of(step.then(task.next(loop.doNode(), child(task.path(), loop.id(), 0), outputs, task.vars(), 1)));
    }

    /** A node on {@code step}'s path ended without a follow-up: the end of the execution, or of a branch. */
    List<Step> ended(Step step, JsonNode output, Batch batch) throws SQLException {
        TaskEnvelope task = step.task();
        if (task.path().isEmpty()) {
            apply.finish(step, ExecutionStatus.SUCCEEDED, null, batch);
            return List.of();
        }
        int slash = task.path().lastIndexOf('/');
        String segment = task.path().substring(slash + 1);
        String parentPath = slash < 0 ? "" : task.path().substring(0, slash);
        int hash = segment.lastIndexOf('#');
        String ownerId = segment.substring(0, hash);
        int index = Integer.parseInt(segment.substring(hash + 1));
        Optional<Node> owner = apply.node(task, ownerId);
        if (owner.isEmpty() || !branches(owner.get())) {
            apply.finish(step, ExecutionStatus.FAILED, "node '" + task.node() + "' is on path '" + task.path()
                    + "', whose owner '" + ownerId + "' is not a parallel or loop node of this workflow version", batch);
            return List.of();
        }
        String ownerKey = parentPath.isEmpty() ? task.eventKey() + "/" + ownerId : task.eventKey() + "/" + ownerId + "/" + parentPath;
        apply.store().arrive(ownerKey, index, task.executionId(), output);
        // The owner's step on the parent path: what follows the join or the loop continues from it.
        Step atOwner = step.then(task.next(ownerId, parentPath, task.outputs(), task.vars(), 1));
        if (owner.get() instanceof Node.Parallel p) {
            SortedMap<Integer, JsonNode> arrived = apply.store().arrivals(ownerKey);
            if (!Node.Parallel.ANY.equals(p.join()) && arrived.size() < p.branches().size()) {
                return List.of(); // the join waits for the other branches
            }
            ObjectNode joined = ApplyOutcome.object();
            ObjectNode byBranch = joined.putObject("branches");
            arrived.forEach((i, out) -> {
                if (i < p.branches().size()) {
                    byBranch.set(p.branches().get(i), out);
                }
            });
            return apply.continueAfter(atOwner, p, joined, successor(p.next()), null, batch);
        }
        Node.Loop loop = (Node.Loop) owner.get();
        JsonNode loopOutput = task.outputs().get(ownerId);
        int count = loopOutput == null ? 0 : loopOutput.path("count").asInt(0);
        if (index + 1 < count) {
            return List.of(step.then(task.next(loop.doNode(), child(parentPath, ownerId, index + 1), task.outputs(), task.vars(), 1)));
        }
        ObjectNode done = ApplyOutcome.object().put("count", count);
        ArrayNode iterations = done.putArray("iterations");
        apply.store().arrivals(ownerKey).values().forEach(iterations::add);
        return apply.continueAfter(atOwner, loop, done, successor(loop.next()), null, batch);
    }

    static String child(String path, String owner, int index) {
        String segment = owner + "#" + index;
        return path.isEmpty() ? segment : path + "/" + segment;
    }

    private static List<String> successor(String next) {
        return next == null ? List.of() : List.of(next);
    }
}
