package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.dispatcher.Dispatcher;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.time.Instant;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The seed scenario's failure, on purpose: several dispatcher replicas fire the same schedule.
 * Every replica fires every tick with the key {@code workflowId@fireTimeMillis}; there must be
 * exactly one execution per tick, through a replica restart and through a full outage (misfire).
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class ScheduleIT {

    @RegisterExtension
    final Fleet fleet = new Fleet(TestInfra.embedded());

    private Workflow deploySchedule(String id, Instant start, Instant end, String misfire) throws Exception {
        return fleet.deploy("""
                {"id": "%s", "trigger": {"type": "schedule", "cron": "* * * * * *", "misfire": "%s", "start": "%s", "end": "%s"},
                 "nodes": [{"type": "sql", "id": "tick", "sql": "INSERT INTO it_effects (event_key, node) VALUES (?, 'tick')",
                            "params": ["event.key"]}]}""".formatted(id, misfire, start, end));
    }

    /** Tick times (epoch ms) that have an execution. */
    private TreeSet<Long> executedTicks(String workflow) throws Exception {
        TreeSet<Long> ticks = new TreeSet<>();
        try (Connection c = fleet.ds.getConnection();
             PreparedStatement q = c.prepareStatement("SELECT event_key FROM executions WHERE workflow_id = ?")) {
            q.setString(1, workflow);
            try (ResultSet rs = q.executeQuery()) {
                while (rs.next()) {
                    ticks.add(Long.parseLong(rs.getString(1).substring(workflow.length() + 1)));
                }
            }
        }
        return ticks;
    }

    @Test
    void threeReplicasFiringEverySecondCreateOneExecutionPerTickThroughARestart() throws Exception {
        fleet.startEngine(2);
        Dispatcher first = fleet.startDispatcher();
        fleet.startDispatcher();
        fleet.startDispatcher();
        Instant start = Instant.now().plusSeconds(4).truncatedTo(java.time.temporal.ChronoUnit.SECONDS);
        // 16 ticks (it was 30): some 6 with three replicas, 2 or more with two, the rest after the restart.
        Instant end = start.plusSeconds(16);
        Workflow wf = deploySchedule(Fleet.uniqueId("every-second"), start, end, "fire-once");

        await().atMost(Duration.ofSeconds(60)).until(() -> executedTicks(wf.id()).size() >= 6);
        fleet.closeDispatcher(first);          // one replica dies mid-way ...
        int beforeRestart = executedTicks(wf.id()).size();
        await().atMost(Duration.ofSeconds(30)).until(() -> executedTicks(wf.id()).size() >= beforeRestart + 2); // ticks go on without it
        fleet.startDispatcher();               // ... and comes back

        await().atMost(Duration.ofSeconds(90)).until(() -> Instant.now().isAfter(end.plusSeconds(3))
                && executedTicks(wf.id()).size() >= 16);
        // Late copies from the replicas would show up as extra rows: the count must hold for 2 s, not only be reached.
        await().during(Duration.ofSeconds(2)).atMost(Duration.ofSeconds(30))
                .until(() -> executedTicks(wf.id()).size() == 16 && fleet.effects(wf.id()) == 16);
        TreeSet<Long> ticks = executedTicks(wf.id());
        assertThat(ticks).hasSize(16);
        assertThat(ticks.first()).isEqualTo(start.toEpochMilli());
        assertThat(ticks.last()).isEqualTo(end.toEpochMilli() - 1000);
        assertThat(fleet.executions(wf.id())).isEqualTo(16);
        assertThat(fleet.effects(wf.id())).isEqualTo(16);
        assertThat(fleet.duplicateEffects(wf.id())).isZero();
        long fired = fleet.dispatchers().stream().mapToLong(Dispatcher::scheduledTicks).sum();
        assertThat(fired).as("the replicas fired duplicates that were absorbed").isGreaterThan(16);
    }

    @Test
    void ticksMissedWhileEveryDispatcherWasDownFireOnceOnRestart() throws Exception {
        fleet.startEngine(2);
        fleet.startDispatcher();
        fleet.startDispatcher();
        Instant start = Instant.now().plusSeconds(4).truncatedTo(java.time.temporal.ChronoUnit.SECONDS);
        // 16 ticks (it was 24): 3 or more before the outage, about 6 missed in it, 5 or so after the restart.
        Instant end = start.plusSeconds(16);
        Workflow wf = deploySchedule(Fleet.uniqueId("misfire"), start, end, "fire-once");

        await().atMost(Duration.ofSeconds(60)).until(() -> executedTicks(wf.id()).size() >= 3);
        for (Dispatcher d : new java.util.ArrayList<>(fleet.dispatchers())) {
            fleet.closeDispatcher(d);
        }
        Instant closedAt = Instant.now();
        // Not replaceable by a clock or a condition: the ticks must come due by the wall clock while no
        // dispatcher runs. Dispatcher builds its ScheduleSource on Clock.systemUTC() (no seam to hand it a
        // settable clock, main code), and with every replica closed nothing changes that a test could wait on.
        Thread.sleep(6000);                    // about six ticks come due with no dispatcher running
        Dispatcher back = fleet.startDispatcher();
        Instant restarted = back.scheduleStartedAt();

        await().atMost(Duration.ofSeconds(90)).until(() -> Instant.now().isAfter(end.plusSeconds(3)));
        // Late copies would show up as extra rows: until the ticks executed have not changed for 2 s.
        AtomicReference<TreeSet<Long>> seen = new AtomicReference<>(executedTicks(wf.id()));
        await().during(Duration.ofSeconds(2)).atMost(Duration.ofSeconds(60)).until(() -> {
            TreeSet<Long> now = executedTicks(wf.id());
            return now.equals(seen.getAndSet(now));
        });
        TreeSet<Long> ticks = executedTicks(wf.id());
        long missedWindowFrom = closedAt.toEpochMilli() + 1000; // the tick at the moment of closing may have fired
        long executedWhileDown = ticks.subSet(missedWindowFrom, false, restarted.toEpochMilli(), true).size();
        assertThat(executedWhileDown).as("fire-once: one event for the latest missed tick, " + ticks).isEqualTo(1);
        // Every tick after the restart fired, once (and there are some: the window leaves them room).
        assertThat(restarted).as("restarted before the last ticks").isBefore(end.minusSeconds(2));
        for (long t = (restarted.toEpochMilli() / 1000 + 1) * 1000; t < end.toEpochMilli(); t += 1000) {
            assertThat(ticks).contains(t);
        }
        assertThat(fleet.duplicateEffects(wf.id())).isZero();
    }
}
