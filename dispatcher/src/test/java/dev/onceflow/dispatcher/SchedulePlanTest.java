package dev.onceflow.dispatcher;

import static org.assertj.core.api.Assertions.assertThat;

import dev.onceflow.common.workflow.ScheduleRules;
import dev.onceflow.common.workflow.Trigger;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/** Fire times and misfire policies, on a controlled clock. */
class SchedulePlanTest {

    private static Trigger.Schedule cron(String cron, String zone, String misfire) {
        return new Trigger.Schedule(cron, null, zone, misfire, null, null, null);
    }

    private static final Instant T0 = Instant.parse("2026-01-10T01:00:00Z");

    @Test
    void everySecondFiresEachTickOnceWhilePolled() {
        SchedulePlan plan = new SchedulePlan(new ScheduleRules(cron("* * * * * *", "UTC", null)), T0, T0);
        List<Instant> fired = new ArrayList<>();
        for (int ms = 0; ms <= 30_050; ms += 70) {
            fired.addAll(plan.due(T0.plusMillis(ms)));
        }
        assertThat(fired).hasSize(30).doesNotHaveDuplicates();
        assertThat(fired.get(0)).isEqualTo(T0.plusSeconds(1));
        assertThat(fired.get(29)).isEqualTo(T0.plusSeconds(30));
    }

    @Test
    void aLatePollFiresEveryTickThatCameDueWhileRunning() {
        SchedulePlan plan = new SchedulePlan(new ScheduleRules(cron("* * * * * *", "UTC", "skip")), T0, T0);
        assertThat(plan.due(T0.plusMillis(4_500))).hasSize(4); // latency is not a misfire, even with 'skip'
    }

    @ParameterizedTest
    @CsvSource({"fire-once, 1", "fire-all, 5", "skip, 0"})
    void ticksMissedWhileNoDispatcherRanFollowThePolicy(String policy, int expected) {
        // The last tick with an execution was T0+10s; the dispatchers were down until T0+15.5s.
        Instant lastFired = T0.plusSeconds(10);
        Instant restarted = T0.plusMillis(15_500);
        SchedulePlan plan = new SchedulePlan(new ScheduleRules(cron("* * * * * *", "UTC", policy)), restarted, lastFired);
        List<Instant> missed = plan.due(restarted);
        assertThat(missed).hasSize(expected);
        if (expected == 1) {
            assertThat(missed).containsExactly(T0.plusSeconds(15)); // the latest missed tick
        }
        // After the restart, ticks fire on time again, whatever the policy.
        assertThat(plan.due(T0.plusMillis(17_100))).containsExactly(T0.plusSeconds(16), T0.plusSeconds(17));
    }

    @Test
    void fireAllIsBoundedByMaxMisfires() {
        Trigger.Schedule s = new Trigger.Schedule("* * * * * *", null, "UTC", "fire-all", 3, null, null);
        SchedulePlan plan = new SchedulePlan(new ScheduleRules(s), T0.plusSeconds(100), T0);
        assertThat(plan.due(T0.plusSeconds(100))).containsExactly(T0.plusSeconds(98), T0.plusSeconds(99), T0.plusSeconds(100));
    }

    @Test
    void theStartEndWindowIsHonoured() {
        Trigger.Schedule s = new Trigger.Schedule(null, 1000L, "UTC", null, null, T0.plusSeconds(5), T0.plusSeconds(8));
        SchedulePlan plan = new SchedulePlan(new ScheduleRules(s), T0, T0);
        assertThat(plan.due(T0.plusSeconds(20))).containsExactly(T0.plusSeconds(5), T0.plusSeconds(6), T0.plusSeconds(7));
    }

    @Test
    void limitFiresOnlyTheFirstTicksAtOrAfterStart() {
        // interval 1 s from T0+5s, at most 3 runs: 5, 6, 7 — never 8, however long it runs
        Trigger.Schedule s = new Trigger.Schedule(null, 1000L, "UTC", null, null, T0.plusSeconds(5), null, 3);
        SchedulePlan plan = new SchedulePlan(new ScheduleRules(s), T0, T0);
        assertThat(plan.due(T0.plusSeconds(60))).containsExactly(T0.plusSeconds(5), T0.plusSeconds(6), T0.plusSeconds(7));
        assertThat(plan.due(T0.plusSeconds(3600))).isEmpty();
        assertThat(plan.next()).isEmpty();
    }

    @Test
    void limitIsTheSameForEveryReplicaWhateverItFiredBefore() {
        // a cron every 10 s from T0+1s: the 4 ticks are T0+10, +20, +30, +40, on every replica
        Trigger.Schedule s = new Trigger.Schedule("*/10 * * * * *", null, "UTC", "fire-all", null, T0.plusSeconds(1), null, 4);
        SchedulePlan early = new SchedulePlan(new ScheduleRules(s), T0, T0);
        SchedulePlan late = new SchedulePlan(new ScheduleRules(s), T0.plusSeconds(25), T0.plusSeconds(20)); // started later, knew T0+20 fired
        List<Instant> firedEarly = new ArrayList<>();
        List<Instant> firedLate = new ArrayList<>();
        for (int sec = 0; sec <= 120; sec += 5) {
            firedEarly.addAll(early.due(T0.plusSeconds(sec)));
            if (sec >= 25) {
                firedLate.addAll(late.due(T0.plusSeconds(sec)));
            }
        }
        assertThat(firedEarly).containsExactly(T0.plusSeconds(10), T0.plusSeconds(20), T0.plusSeconds(30), T0.plusSeconds(40));
        assertThat(firedLate).containsExactly(T0.plusSeconds(30), T0.plusSeconds(40));
    }

    @Test
    void limitNeedsStartAndAPositiveCount() {
        assertThat(ScheduleRules.problems(new Trigger.Schedule(null, 1000L, "UTC", null, null, null, null, 3)))
                .containsExactly("trigger field 'limit': needs 'start' (the limit counts the ticks at or after it)");
        assertThat(ScheduleRules.problems(new Trigger.Schedule(null, 1000L, "UTC", null, null, T0, null, 0)))
                .containsExactly("trigger field 'limit': must be between 1 and 100000, got 0");
    }

    @ParameterizedTest
    @CsvSource({
        // zone, a day with a spring-forward gap, a day with a fall-back overlap
        "Europe/Berlin, 2026-03-29, 2026-10-25",
        "America/New_York, 2026-03-08, 2026-11-01"})
    void hourlyTicksNeitherSkipNorDoubleAcrossDaylightSaving(String zone, String springDay, String fallDay) {
        ScheduleRules hourly = new ScheduleRules(cron("0 * * * *", zone, null));
        for (String day : List.of(springDay, fallDay)) {
            ZonedDateTime start = java.time.LocalDate.parse(day).atStartOfDay(ZoneId.of(zone));
            Instant from = start.toInstant().minusMillis(1);
            List<Instant> ticks = hourly.between(from, from.plus(Duration.ofHours(30)), 1000);
            // One tick per real hour: 30 hours, 30 ticks, one hour apart, none twice.
            assertThat(ticks).hasSize(30).doesNotHaveDuplicates();
            for (int i = 1; i < ticks.size(); i++) {
                assertThat(Duration.between(ticks.get(i - 1), ticks.get(i))).isEqualTo(Duration.ofHours(1));
            }
        }
    }

    @ParameterizedTest
    @CsvSource({"Europe/Berlin, 2026-03-29, 2026-10-25", "America/New_York, 2026-03-08, 2026-11-01"})
    void aDailyTickInsideTheDaylightSavingHourFiresOnceThatDay(String zone, String springDay, String fallDay) {
        ScheduleRules daily = new ScheduleRules(cron("30 2 * * *", zone, null));
        for (String day : List.of(springDay, fallDay)) {
            ZonedDateTime start = java.time.LocalDate.parse(day).atStartOfDay(ZoneId.of(zone));
            List<Instant> ticks = daily.between(start.toInstant().minusMillis(1), start.plusDays(1).toInstant().minusMillis(1), 10);
            assertThat(ticks).as(zone + " " + day).hasSize(1);
        }
    }
}
