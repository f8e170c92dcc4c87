package dev.onceflow.deploy.proof;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** The fault schedule scales with the run's duration; pure logic, checked without running a fleet. */
class ChaosScheduleTest {

    private static Map<String, Long> byKind(List<ChaosSchedule.Planned> plan) {
        return plan.stream().collect(Collectors.groupingBy(ChaosSchedule.Planned::kind, Collectors.counting()));
    }

    @Test
    void tenMinuteSoakHasAtLeastFiftyFaultsOfEveryKind() {
        for (long seed : new long[] {11, 42, 7, 1234}) {
            List<ChaosSchedule.Planned> plan = ChaosSchedule.plan(600, new Random(seed));
            Map<String, Long> kinds = byKind(plan);
            assertThat(plan).as("seed %d: %s", seed, kinds).hasSizeGreaterThanOrEqualTo(50);
            assertThat(kinds.keySet()).containsExactlyInAnyOrder("kill-engine", "crash-between-commits", "kill-dispatcher", "kill-capture-leader",
                    "kill-broker", "restart-postgres", "add-engine", "remove-engine", "freeze-engine", "freeze-dispatcher");
            assertThat(kinds.get("crash-between-commits")).isEqualTo(6);
            assertThat(kinds.get("freeze-engine")).isGreaterThanOrEqualTo(3);
            assertThat(kinds.get("freeze-dispatcher")).isGreaterThanOrEqualTo(2);
            assertThat(kinds.get("kill-broker")).isGreaterThanOrEqualTo(3);
            assertThat(kinds.get("restart-postgres")).isGreaterThanOrEqualTo(3);
        }
    }

    @Test
    void shortProfilesHaveOneFreezeOfEachKindAndStillTheKills() {
        for (int duration : new int[] {100, 120}) {
            List<ChaosSchedule.Planned> plan = ChaosSchedule.plan(duration, new Random(11));
            Map<String, Long> kinds = byKind(plan);
            assertThat(plan).hasSize(14);
            assertThat(kinds).containsEntry("crash-between-commits", 1L).containsEntry("freeze-engine", 1L).containsEntry("freeze-dispatcher", 1L)
                    .containsEntry("kill-engine", 4L).containsEntry("kill-dispatcher", 2L).containsEntry("kill-capture-leader", 1L)
                    .containsEntry("kill-broker", 1L).containsEntry("restart-postgres", 1L)
                    .containsEntry("add-engine", 1L).containsEntry("remove-engine", 1L);
        }
    }

    @Test
    void theSixtySecondRunKeepsItsTwelveKillsAndRestartsWithoutFreezes() {
        Map<String, Long> kinds = byKind(ChaosSchedule.plan(60, new Random(11)));
        assertThat(kinds.values().stream().mapToLong(Long::longValue).sum()).isEqualTo(12);
        assertThat(kinds).containsEntry("crash-between-commits", 1L);
        assertThat(kinds).doesNotContainKeys("freeze-engine", "freeze-dispatcher");
    }

    @Test
    void faultsFitTheRunAndEveryRemovedEngineWasAddedBefore() {
        for (int duration : new int[] {60, 100, 120, 600, 3600}) {
            for (long seed = 0; seed < 50; seed++) {
                List<ChaosSchedule.Planned> plan = ChaosSchedule.plan(duration, new Random(seed));
                boolean added = false;
                long previous = -1;
                for (ChaosSchedule.Planned p : plan) {
                    assertThat(p.atMs()).isGreaterThanOrEqualTo(Math.max(previous, duration * 100L));
                    previous = p.atMs();
                    if (p.kind().equals("add-engine")) {
                        assertThat(added).as("duration %d seed %d: the extra engine is added twice: %s", duration, seed, plan).isFalse();
                        added = true;
                    } else if (p.kind().equals("remove-engine")) {
                        assertThat(added).as("duration %d seed %d: removed before added: %s", duration, seed, plan).isTrue();
                        added = false;
                    }
                }
                assertThat(added).as("the last added engine is removed").isFalse();
                ChaosSchedule.Planned last = plan.get(plan.size() - 1);
                long plannedEnd = last.atMs() + ChaosSchedule.costMs(last.kind());
                if (duration >= 120) {
                    // The costs fit in 10-90 % of the run: the planned faults end before 90 % of it.
                    assertThat(plannedEnd).as("duration %d seed %d", duration, seed).isLessThanOrEqualTo(duration * 900L + 1000);
                }
            }
        }
    }

    @Test
    void sameSeedSameSchedule() {
        assertThat(ChaosSchedule.plan(600, new Random(5))).isEqualTo(ChaosSchedule.plan(600, new Random(5)));
        assertThat(ChaosSchedule.plan(600, new Random(5))).isNotEqualTo(ChaosSchedule.plan(600, new Random(6)));
    }

    @Test
    void anExplicitScheduleIsParsedInOrder() {
        assertThat(ChaosSchedule.parse("kill-engine@30, kill-broker@32.5,add-engine@40,remove-engine@41"))
                .containsExactly(new ChaosSchedule.Planned("kill-engine", 30_000), new ChaosSchedule.Planned("kill-broker", 32_500),
                        new ChaosSchedule.Planned("add-engine", 40_000), new ChaosSchedule.Planned("remove-engine", 41_000));
    }

    @Test
    void anExplicitScheduleThatCannotRunIsRefusedWithTheEntryNamed() {
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> ChaosSchedule.parse("kill-engine@30,kill-brokr@32"))
                .hasMessageContaining("'kill-brokr@32'").hasMessageContaining("unknown fault kind").hasMessageContaining("kill-broker");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> ChaosSchedule.parse("kill-engine@30,kill-broker@20"))
                .hasMessageContaining("ascending");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> ChaosSchedule.parse("kill-engine"))
                .hasMessageContaining("kind@seconds");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> ChaosSchedule.parse("kill-engine@soon"))
                .hasMessageContaining("not a number");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> ChaosSchedule.parse("remove-engine@3"))
                .hasMessageContaining("needs an earlier add-engine");
    }
}
