package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.engine.Engine;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Executions that wait (ADR 0013) on the real broker and PostgreSQL: durable timers set by one
 * engine, due while no engine runs, fired by the next one, once each and never early.
 */
@Timeout(value = 6, unit = TimeUnit.MINUTES)
class WaitingExecutionsIT {

    private static final int EVENTS = 1000;

    @RegisterExtension
    final Fleet fleet = new Fleet(TestInfra.embedded());

    @Test
    void delaysFireOnceAndNeverEarlyAcrossAnEngineRestart() throws Exception {
        String id = Fleet.uniqueId("delay");
        Workflow wf = fleet.deploy("""
                {"id": "%s", "trigger": {"type": "kafka"}, "nodes": [
                  {"type": "sql", "id": "before", "sql": "INSERT INTO it_effects (event_key, node) VALUES (?, 'before')",
                   "params": ["event.key"], "next": "wait"},
                  {"type": "delay", "id": "wait", "ms": 2000, "next": "after"},
                  {"type": "sql", "id": "after", "sql": "INSERT INTO it_effects (event_key, node) VALUES (?, 'after')",
                   "params": ["event.key"]}
                ]}""".formatted(id));
        fleet.startDispatcher();
        Engine first = fleet.startEngine(2);
        for (int i = 0; i < EVENTS; i++) {
            fleet.publish(wf.id(), "d-" + i, Fleet.data(i));
        }
        fleet.flush();
        // Every execution waits on its timer; then the only engine stops, and the timers fall due
        // while no engine runs.
        await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofMillis(200))
                .until(() -> fleet.count("SELECT count(*) FROM timers t JOIN executions e ON e.id = t.execution_id "
                        + "WHERE e.workflow_id = ?", wf.id()) == EVENTS);
        fleet.stop(first);
        long firedBeforeStop = fleet.count("SELECT count(*) FROM it_effects WHERE node = 'after' AND event_key LIKE ? || '@%'", wf.id());
        // Until every timer still pending is due by PostgreSQL's clock (the one timers are fired by),
        // so the next engine finds them due, not for a guessed time.
        await().atMost(Duration.ofMinutes(1)).pollInterval(Duration.ofMillis(200))
                .until(() -> fleet.count("SELECT count(*) FROM timers t JOIN executions e ON e.id = t.execution_id "
                        + "WHERE e.workflow_id = ? AND t.fired_at IS NULL AND t.due_at > now()", wf.id()) == 0);

        Engine second = fleet.startEngine(2);
        await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofMillis(500)).until(() -> fleet.finished(wf.id()) == EVENTS);

        assertThat(firedBeforeStop).as("some timers were still pending when the engine stopped").isLessThan(EVENTS);
        assertThat(second.metrics().timersFired()).as("the second engine fired the timers due while none ran").isPositive();
        assertThat(fleet.succeeded(wf.id())).isEqualTo(EVENTS);
        assertThat(fleet.count("SELECT count(*) FROM it_effects WHERE node = 'after' AND event_key LIKE ? || '@%'", wf.id()))
                .as("each delay's follow-up ran once").isEqualTo(EVENTS);
        assertThat(fleet.duplicateEffects(wf.id())).isZero();
        assertThat(fleet.count("SELECT count(*) FROM it_effects a JOIN timers t ON t.key = a.event_key || '/wait' "
                + "WHERE a.node = 'after' AND a.event_key LIKE ? || '@%' AND a.created_at < t.due_at", wf.id()))
                .as("no follow-up ran before its timer was due").isZero();
        assertThat(fleet.count("SELECT count(*) FROM timers t JOIN executions e ON e.id = t.execution_id "
                + "WHERE e.workflow_id = ? AND t.fired_at IS NULL", wf.id())).isZero();
    }

    @Test
    void loopsOfHttpCallsAndParallelJoinsRunEachEffectOnceAcrossARebalance() throws Exception {
        dev.onceflow.common.local.LocalReceiver receiver = dev.onceflow.common.local.LocalReceiver.start();
        try {
            String id = Fleet.uniqueId("branch");
            Workflow wf = fleet.deploy("""
                    {"id": "%s", "trigger": {"type": "kafka"}, "nodes": [
                      {"type": "loop", "id": "each", "items": "trigger.items", "do": "notify", "next": "fork"},
                      {"type": "http", "id": "notify", "method": "POST", "url": "%s/items/${loop.item}",
                       "body": {"item": "${loop.item}"}},
                      {"type": "parallel", "id": "fork", "branches": ["left", "total"], "next": "done"},
                      {"type": "sql", "id": "left", "sql": "INSERT INTO it_effects (event_key, node) VALUES (?, 'left')",
                       "params": ["event.key"]},
                      {"type": "calculation", "id": "total", "set": {"calls": "size(nodes.each.output.iterations)"}, "next": "right"},
                      {"type": "sql", "id": "right", "sql": "INSERT INTO it_effects (event_key, node) VALUES (?, 'right ' || CAST(? AS text))",
                       "params": ["event.key", "vars.calls"]},
                      {"type": "sql", "id": "done", "sql": "INSERT INTO it_effects (event_key, node) VALUES (?, 'done')",
                       "params": ["event.key"]}
                    ]}""".formatted(id, receiver.url()));
            fleet.startDispatcher();
            fleet.startEngine(2);
            int events = 200;
            for (int i = 0; i < events; i++) {
                com.fasterxml.jackson.databind.node.ObjectNode data = Fleet.data(i);
                data.putArray("items").add("a" + i).add("b" + i).add("c" + i);
                fleet.publish(wf.id(), "b-" + i, data);
                if (i == events / 2) {
                    fleet.startEngine(2); // a rebalance while calls are in flight
                }
            }
            fleet.flush();

            await().atMost(Duration.ofMinutes(3)).pollInterval(Duration.ofMillis(500)).until(() -> fleet.finished(wf.id()) == events);

            assertThat(fleet.succeeded(wf.id())).isEqualTo(events);
            assertThat(receiver.callsWithoutKey()).as("no call without an Idempotency-Key").isZero();
            assertThat(receiver.callsByKey()).as("one key per iteration").hasSize(3 * events);
            assertThat(receiver.callsByKey().values()).as("each key called once").containsOnly(1);
            assertThat(receiver.callsByKey().keySet()).allMatch(k -> k.matches(".*/notify/each#[0-2]"));
            assertThat(fleet.duplicateEffects(wf.id())).isZero();
            for (String node : new String[] {"left", "right 3", "done"}) {
                assertThat(fleet.count("SELECT count(*) FROM it_effects WHERE node = ? AND event_key LIKE ? || '@%'", node, wf.id()))
                        .as(node).isEqualTo(events);
            }
        } finally {
            receiver.close();
        }
    }

    @Test
    void aLoopOfAHundredItemsRunsEachIterationOnceThroughCrashesBetweenTheCommitsAndAnEngineRestart() throws Exception {
        String id = Fleet.uniqueId("loop");
        Workflow wf = fleet.deploy("""
                {"id": "%s", "trigger": {"type": "kafka"}, "nodes": [
                  {"type": "loop", "id": "each", "items": "trigger.items", "do": "book", "next": "done"},
                  {"type": "sql", "id": "book", "sql": "INSERT INTO it_effects (event_key, node) VALUES (?, 'item ' || CAST(? AS text))",
                   "params": ["event.key", "loop.index"]},
                  {"type": "sql", "id": "done", "sql": "INSERT INTO it_effects (event_key, node) VALUES (?, 'done')",
                   "params": ["event.key"]}
                ]}""".formatted(id));
        fleet.startDispatcher();
        // Every third batch fails after its PostgreSQL commit (a crash between the commits), 40 times.
        CrashBetweenCommitsIT.FailBetweenCommits crashes = new CrashBetweenCommitsIT.FailBetweenCommits(40);
        Engine first = fleet.startEngine(2, crashes, false, 1); // one record per batch: more batches, more crashes
        int events = 20;
        for (int i = 0; i < events; i++) {
            com.fasterxml.jackson.databind.node.ObjectNode data = Fleet.data(i);
            com.fasterxml.jackson.databind.node.ArrayNode items = data.putArray("items");
            for (int k = 0; k < 100; k++) {
                items.add(k);
            }
            fleet.publish(wf.id(), "l-" + i, data);
        }
        fleet.flush();
        // Mid-loop, the engine goes away and another takes over.
        await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofMillis(100))
                .until(() -> fleet.count("SELECT count(*) FROM it_effects WHERE event_key LIKE ? || '@%'", wf.id()) >= 1000);
        fleet.stop(first);
        fleet.startEngine(2);

        await().atMost(Duration.ofMinutes(3)).pollInterval(Duration.ofMillis(500)).until(() -> fleet.finished(wf.id()) == events);

        assertThat(crashes.injected.get()).as("crashes between the commits").isGreaterThanOrEqualTo(3);
        assertThat(fleet.succeeded(wf.id())).isEqualTo(events);
        assertThat(fleet.count("SELECT count(*) FROM it_effects WHERE node LIKE 'item %' AND event_key LIKE ? || '@%'", wf.id()))
                .as("each iteration's effect once").isEqualTo(events * 100L);
        assertThat(fleet.count("SELECT count(DISTINCT (event_key, node)) FROM it_effects WHERE node LIKE 'item %' AND event_key LIKE ? || '@%'",
                wf.id())).isEqualTo(events * 100L);
        assertThat(fleet.duplicateEffects(wf.id())).isZero();
    }
}
