package dev.onceflow.common.executions;

import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Node runs in the order they ran: by start, then by finish (unfinished last), then, among runs
 * with the same two times, each after the run that chose it as a follow-up, then by processed key.
 * The times alone do not tell: the nodes a worker runs inline in one batch transaction share its
 * {@code now()} as start and finish, and their keys sort alphabetically, not by the graph; the
 * {@code next} column (the follow-ups each run chose) does. Pure; thread-safe.
 */
final class RunOrder {

    private static final Comparator<Instant> TIME = Comparator.nullsLast(Comparator.naturalOrder());

    private RunOrder() {
    }

    static List<NodeRun> sort(List<NodeRun> runs) {
        List<NodeRun> byTime = new ArrayList<>(runs);
        byTime.sort(Comparator.comparing(NodeRun::startedAt, TIME).thenComparing(NodeRun::finishedAt, TIME)
                .thenComparing(NodeRun::processedKey));
        List<NodeRun> out = new ArrayList<>(runs.size());
        int i = 0;
        while (i < byTime.size()) {
            int j = i + 1;
            while (j < byTime.size() && sameTimes(byTime.get(i), byTime.get(j))) {
                j++;
            }
            out.addAll(byFollowUps(byTime.subList(i, j)));
            i = j;
        }
        return out;
    }

    private static boolean sameTimes(NodeRun a, NodeRun b) {
        return TIME.compare(a.startedAt(), b.startedAt()) == 0 && TIME.compare(a.finishedAt(), b.finishedAt()) == 0;
    }

    /**
     * A group of runs with the same times, each after every run of the group that chose its node
     * as a follow-up (Kahn's order; the processed key first among those free to go). A cycle (a
     * loop body that ran twice in one transaction) is broken at the smallest key.
     */
    private static List<NodeRun> byFollowUps(List<NodeRun> tied) {
        if (tied.size() < 2) {
            return tied;
        }
        List<NodeRun> left = new ArrayList<>(tied); // sorted by processed key
        List<NodeRun> out = new ArrayList<>(tied.size());
        while (!left.isEmpty()) {
            Set<String> chosen = new HashSet<>();
            left.forEach(r -> chosen.addAll(r.next()));
            NodeRun first = left.stream().filter(r -> !chosen.contains(r.nodeId())).findFirst().orElse(left.get(0));
            out.add(first);
            left.remove(first);
        }
        return out;
    }
}
