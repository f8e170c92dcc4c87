package dev.onceflow.common.executions;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

class RunOrderTest {

    private static NodeRun run(String node, String started, String finished, String... next) {
        return new NodeRun("k/" + node, node, "", 1, NodeStatus.SUCCEEDED, ShownStatus.SUCCEEDED, Instant.parse(started),
                finished == null ? null : Instant.parse(finished), null, null, List.of(next));
    }

    @Test
    void runsSortByStartThenFinishWithUnfinishedLast() {
        NodeRun late = run("a", "2026-01-01T00:00:03Z", "2026-01-01T00:00:04Z");
        NodeRun open = run("b", "2026-01-01T00:00:01Z", null);
        NodeRun early = run("c", "2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z");

        assertThat(RunOrder.sort(List.of(late, open, early))).containsExactly(early, open, late);
    }

    @Test
    void runsWithTheSameTimesFollowTheNodesThatChoseThemNotTheAlphabet() {
        String t = "2026-01-01T00:00:01Z";
        NodeRun start = run("zulu", t, t, "mike");
        NodeRun middle = run("mike", t, t, "alpha", "bravo");
        NodeRun left = run("alpha", t, t);
        NodeRun right = run("bravo", t, t);

        assertThat(RunOrder.sort(List.of(left, right, middle, start))).containsExactly(start, middle, left, right);
    }

    @Test
    void aCycleAmongTiedRunsIsBrokenAtTheSmallestKey() {
        String t = "2026-01-01T00:00:01Z";
        NodeRun a = run("a", t, t, "b");
        NodeRun b = run("b", t, t, "a");

        assertThat(RunOrder.sort(List.of(b, a))).containsExactly(a, b);
    }
}
