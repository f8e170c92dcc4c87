package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.onceflow.common.workflow.Workflow;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The user's report, reproduced: a scheduled workflow whose SQL node runs for seconds over a table
 * of a million rows, fired by three dispatcher replicas while the engines are saturated by other
 * work. There, one tick created two executions ({@code Duplicate entry '199@1736442000000'}) and
 * nodes ran two or three times. Here: one execution per tick, each node once.
 */
@Timeout(value = 6, unit = TimeUnit.MINUTES)
class SeedScenarioIT {

    @RegisterExtension
    final Fleet fleet = new Fleet(TestInfra.embedded());

    @Test
    void heavyScheduledWorkflowFiredByThreeReplicasUnderLoadRunsOncePerTick() throws Exception {
        Scripts.run(fleet.ds, """
                CREATE TABLE IF NOT EXISTS seed_big (id bigint PRIMARY KEY, v integer NOT NULL);
                INSERT INTO seed_big SELECT g, ((g::bigint * 7919) % 100000)::int FROM generate_series(1, 1000000) g
                    ON CONFLICT DO NOTHING;
                ANALYZE seed_big;
                """);
        Workflow load = fleet.deployThreeNode(Fleet.uniqueId("load"));
        Instant start = Instant.now().plusSeconds(6).truncatedTo(ChronoUnit.SECONDS);
        Instant end = start.plusSeconds(24);
        Workflow report = fleet.deploy("""
                {"id": "%s", "trigger": {"type": "schedule", "cron": "*/3 * * * * *", "start": "%s", "end": "%s"},
                 "nodes": [
                   {"type": "sql", "id": "scan", "sql": "SELECT (SELECT count(*) FROM seed_big WHERE v %% 7 = ?) AS matching, pg_sleep(2)::text AS slept",
                    "params": ["3"], "next": "book", "timeoutMs": 60000},
                   {"type": "sql", "id": "book", "sql": "INSERT INTO it_effects (event_key, node) VALUES (?, 'book')",
                    "params": ["event.key"]}
                 ]}""".formatted(Fleet.uniqueId("nightly-report"), start, end));
        fleet.startEngine(2);
        fleet.startEngine(1);
        fleet.startDispatcher();
        fleet.startDispatcher();
        fleet.startDispatcher();
        // Saturate the engines with other work while the schedule fires.
        Thread publisher = new Thread(() -> {
            for (int i = 0; i < 4000; i++) {
                fleet.publish(load.id(), "l-" + i, Fleet.data(i));
            }
            fleet.flush();
        });
        publisher.start();

        long ticks = Duration.between(start, end).toSeconds() / 3;
        // Past the end by 2 s (it was 5): a tick fired at or after the end has its execution row by then, and the 3 s
        // hold below would see it in any case.
        await().atMost(Duration.ofMinutes(4)).pollInterval(Duration.ofSeconds(1)).until(() ->
                Instant.now().isAfter(end.plusSeconds(2)) && fleet.finished(report.id()) >= ticks && fleet.finished(load.id()) == 4000);
        publisher.join();
        // Late copies from the replicas would show up as extra rows: the counts must hold for 3 s, not only be reached.
        await().during(Duration.ofSeconds(3)).atMost(Duration.ofSeconds(60)).until(() -> fleet.executions(report.id()) == ticks
                && fleet.effects(report.id()) == ticks && fleet.effects(load.id()) == 8000);

        assertThat(fleet.executions(report.id())).as("one execution per tick").isEqualTo(ticks);
        assertThat(fleet.succeeded(report.id())).isEqualTo(ticks);
        assertThat(fleet.effects(report.id())).as("the node after the heavy SQL ran once per tick").isEqualTo(ticks);
        assertThat(fleet.duplicateEffects(report.id())).isZero();
        assertThat(fleet.count("SELECT count(*) FROM processed_keys p JOIN executions e ON e.id = p.execution_id "
                + "WHERE e.workflow_id = ? AND p.node_id = 'scan'", report.id())).isEqualTo(ticks);
        assertThat(fleet.count("SELECT count(*) FROM processed_keys p JOIN executions e ON e.id = p.execution_id "
                + "WHERE e.workflow_id = ? AND p.node_id = 'scan' AND (p.output->'rows'->0->>'matching')::bigint > 100000",
                report.id())).as("the scan really read the million rows").isEqualTo(ticks);
        assertThat(fleet.duplicateEffects(load.id())).isZero();
        assertThat(fleet.effects(load.id())).isEqualTo(8000);
    }
}
