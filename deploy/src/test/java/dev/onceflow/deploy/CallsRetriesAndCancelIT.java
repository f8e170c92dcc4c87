package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.onceflow.common.local.LocalReceiver;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.engine.Engine;
import dev.onceflow.engine.EngineHooks;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The http node's protocol (design, "HTTP"), retries and cancel on the real broker, PostgreSQL
 * and a real local HTTP server that counts the calls per {@code Idempotency-Key}.
 */
@Timeout(value = 6, unit = TimeUnit.MINUTES)
class CallsRetriesAndCancelIT {

    private static final int EVENTS = 20;

    @RegisterExtension
    final Fleet fleet = new Fleet(TestInfra.embedded());

    /** An engine that dies between its http calls and their record: every outcome it got is lost. */
    static final class DieBetweenCallAndRecord implements EngineHooks {
        final AtomicInteger lost = new AtomicInteger();

        @Override
        public void afterHttpCalls(String worker, List<String> keys) {
            lost.addAndGet(keys.size());
            throw new IllegalStateException("injected death between the http calls " + keys.size() + " and their record");
        }
    }

    private Workflow deployCall(String prefix, LocalReceiver receiver, String onUnknownOutcome) throws Exception {
        return fleet.deploy("""
                {"id": "%s", "trigger": {"type": "kafka"}, "nodes": [
                  {"type": "http", "id": "charge", "method": "POST", "url": "%s/charges/${trigger.n}", "body": {"n": "${trigger.n}"},
                   "timeoutMs": 2000, "onUnknownOutcome": "%s", "next": "after"},
                  {"type": "sql", "id": "after", "sql": "INSERT INTO it_effects (event_key, node) VALUES (?, 'after')",
                   "params": ["event.key"]}
                ]}""".formatted(Fleet.uniqueId(prefix), receiver.url(), onUnknownOutcome));
    }

    @Test
    void aCallWhoseOutcomeDiedWithItsEngineFailsAsOutcomeUnknownUnderFailAndIsCalledAgainWithTheSameKeyUnderRetry()
            throws Exception {
        try (LocalReceiver receiver = LocalReceiver.start()) {
            Workflow fail = deployCall("unknown-fail", receiver, "fail");
            Workflow retry = deployCall("unknown-retry", receiver, "retry");
            // The lease of a claimed call is set by the engine that claims it: timeout + this grace (30 s by default).
            // 10 s is far more than the first engine lives after its claims (about 1 s), so it never meets its own
            // leases, and the next engine meets them 20 s sooner.
            fleet.with(Map.of(dev.onceflow.common.OnceflowConfig.ENGINE_LEASE_GRACE.name(), "10000"));
            fleet.startDispatcher();
            DieBetweenCallAndRecord dies = new DieBetweenCallAndRecord();
            Engine first = fleet.startEngine(2, dies, false);
            for (int i = 0; i < EVENTS; i++) {
                fleet.publish(fail.id(), "f-" + i, Fleet.data(i));
                fleet.publish(retry.id(), "r-" + i, Fleet.data(i));
            }
            fleet.flush();
            // Every call is made once and its outcome lost; then the engine is gone. Answers are
            // taken by the worker's loop after the receiver counted the call (HttpCalls): wait for
            // the hook to have lost each, or the stop would drop the last ones before it sees them.
            await().atMost(Duration.ofMinutes(1)).pollInterval(Duration.ofMillis(200))
                    .until(() -> receiver.callsByKey().size() == 2 * EVENTS && dies.lost.get() >= 2 * EVENTS);
            fleet.stop(first);
            Map<String, Integer> callsBefore = Map.copyOf(receiver.callsByKey());

            // The next engine meets the claimed-but-unrecorded calls when their leases (timeout + 10 s) run out.
            fleet.startEngine(2);
            await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofMillis(500))
                    .until(() -> fleet.finished(fail.id()) == EVENTS && fleet.finished(retry.id()) == EVENTS);

            assertThat(dies.lost.get()).as("outcomes lost with the first engine").isGreaterThanOrEqualTo(2 * EVENTS);
            assertThat(callsBefore.values()).as("each key called once before the engine died").containsOnly(1);
            assertThat(receiver.callsWithoutKey()).as("no call without an Idempotency-Key").isZero();
            Map<String, Integer> calls = receiver.callsByKey();
            assertThat(calls.keySet()).as("the keys of both workflows, and no other").hasSize(2 * EVENTS);
            assertThat(calls.entrySet().stream().filter(e -> e.getKey().startsWith(fail.id() + "@")).map(Map.Entry::getValue))
                    .as("under 'fail', no key is called twice").hasSize(EVENTS).containsOnly(1);
            assertThat(calls.entrySet().stream().filter(e -> e.getKey().startsWith(retry.id() + "@")).map(Map.Entry::getValue))
                    .as("under 'retry', the second call carries the same key").hasSize(EVENTS).containsOnly(2);
            assertThat(fleet.count("SELECT count(*) FROM executions WHERE workflow_id = ? AND status = 'failed' "
                    + "AND error LIKE '%outcome unknown%'", fail.id())).as("failed as outcome unknown").isEqualTo(EVENTS);
            assertThat(fleet.effects(fail.id())).as("nothing after an unknown outcome runs").isZero();
            assertThat(fleet.succeeded(retry.id())).isEqualTo(EVENTS);
            assertThat(fleet.count("SELECT count(*) FROM it_effects WHERE node = 'after' AND event_key LIKE ? || '@%'", retry.id()))
                    .isEqualTo(EVENTS);
            assertThat(fleet.duplicateEffects(retry.id())).isZero();
        }
    }

    @Test
    void aRetrySucceedsOnTheThirdAttemptAfterItsBackoffs() throws Exception {
        Map<String, List<Long>> callTimes = new ConcurrentHashMap<>();
        // 503 to the first two attempts of each call (keys without a suffix, then '#2'), 200 to the third ('#3').
        try (LocalReceiver receiver = LocalReceiver.start((key, calls, path, body) -> {
            if (key == null) {
                return new LocalReceiver.Answer(400, "{\"error\": \"no Idempotency-Key\"}");
            }
            callTimes.computeIfAbsent(key.replaceFirst("#\\d+$", ""), k -> new CopyOnWriteArrayList<>()).add(System.nanoTime());
            return key.endsWith("#3") ? new LocalReceiver.Answer(200, "{\"ok\": true}")
                    : new LocalReceiver.Answer(503, "{\"error\": \"try later\"}");
        })) {
            Workflow wf = fleet.deploy("""
                    {"id": "%s", "trigger": {"type": "kafka"}, "nodes": [
                      {"type": "http", "id": "charge", "method": "POST", "url": "%s/charges/${trigger.n}", "timeoutMs": 2000,
                       "retry": {"attempts": 3, "backoffMs": 1000, "jitter": 0}, "next": "after"},
                      {"type": "sql", "id": "after", "sql": "INSERT INTO it_effects (event_key, node) VALUES (?, 'after ' || CAST(? AS text))",
                       "params": ["event.key", "nodes.charge.output.status"]}
                    ]}""".formatted(Fleet.uniqueId("third"), receiver.url()));
            fleet.startDispatcher();
            fleet.startEngine(2);
            for (int i = 0; i < EVENTS; i++) {
                fleet.publish(wf.id(), "t-" + i, Fleet.data(i));
            }
            fleet.flush();
            await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofMillis(500)).until(() -> fleet.finished(wf.id()) == EVENTS);

            assertThat(fleet.succeeded(wf.id())).isEqualTo(EVENTS);
            assertThat(fleet.count("SELECT count(*) FROM it_effects WHERE node = 'after 200' AND event_key LIKE ? || '@%'", wf.id()))
                    .as("the node after the call saw the third attempt's answer").isEqualTo(EVENTS);
            assertThat(receiver.callsWithoutKey()).isZero();
            assertThat(receiver.callsByKey().values()).as("each attempt has its own key, called once").containsOnly(1);
            assertThat(callTimes).hasSize(EVENTS);
            for (Map.Entry<String, List<Long>> e : callTimes.entrySet()) {
                List<Long> t = e.getValue();
                assertThat(t).as(e.getKey()).hasSize(3);
                // backoffMs * 2^(attempt-1), jitter 0: 1 s after the first attempt, 2 s after the second; never early.
                assertThat(TimeUnit.NANOSECONDS.toMillis(t.get(1) - t.get(0))).as("backoff before attempt 2 of " + e.getKey())
                        .isGreaterThanOrEqualTo(1000);
                assertThat(TimeUnit.NANOSECONDS.toMillis(t.get(2) - t.get(1))).as("backoff before attempt 3 of " + e.getKey())
                        .isGreaterThanOrEqualTo(2000);
            }
            assertThat(fleet.count("SELECT count(*) FROM processed_keys WHERE key LIKE ? || '@%/charge#3'", wf.id()))
                    .as("the third attempt ran under its own processed key").isEqualTo(EVENTS);
        }
    }

    @Test
    void aCancelWhileExecutionsWaitOnADelayKeepsTheNodesAfterItFromRunning() throws Exception {
        String template = """
                {"id": "%s", "trigger": {"type": "kafka"}, "nodes": [
                  {"type": "sql", "id": "before", "sql": "INSERT INTO it_effects (event_key, node) VALUES (?, 'before')",
                   "params": ["event.key"], "next": "wait"},
                  {"type": "delay", "id": "wait", "ms": 3000, "next": "after"},
                  {"type": "sql", "id": "after", "sql": "INSERT INTO it_effects (event_key, node) VALUES (?, 'after')",
                   "params": ["event.key"]}
                ]}""";
        Workflow cancelled = fleet.deploy(template.formatted(Fleet.uniqueId("cancelled")));
        Workflow control = fleet.deploy(template.formatted(Fleet.uniqueId("control")));
        fleet.startDispatcher();
        fleet.startEngine(2);
        for (int i = 0; i < EVENTS; i++) {
            fleet.publish(cancelled.id(), "c-" + i, Fleet.data(i));
            fleet.publish(control.id(), "k-" + i, Fleet.data(i));
        }
        fleet.flush();
        String waiting = "SELECT count(*) FROM timers t JOIN executions e ON e.id = t.execution_id WHERE e.workflow_id = ?";
        await().atMost(Duration.ofMinutes(1)).pollInterval(Duration.ofMillis(100))
                .until(() -> fleet.count(waiting, cancelled.id()) == EVENTS && fleet.count(waiting, control.id()) == EVENTS);
        // An operator's cancel of each, as the admin API publishes it (ADR 0025): a command on its partition of the tasks topic.
        long cancelledRows = 0;
        try (var c = fleet.ds.getConnection(); var q = c.prepareStatement("SELECT event_key, id, coalesce(ordering_key, event_key) "
                + "FROM executions WHERE workflow_id = ? AND finished_at IS NULL")) {
            q.setString(1, cancelled.id());
            try (var rs = q.executeQuery()) {
                while (rs.next()) {
                    fleet.send(dev.onceflow.common.OperatorCommand.cancel(rs.getString(1), rs.getLong(2), "test", System.currentTimeMillis())
                            .record(rs.getString(3)));
                    cancelledRows++;
                }
            }
        }
        fleet.flush();

        // The control's delays end and its nodes after them run; the cancelled ones' timers fire on the same partitions.
        await().atMost(Duration.ofMinutes(1)).pollInterval(Duration.ofMillis(200)).until(() -> fleet.finished(control.id()) == EVENTS
                && fleet.count(waiting + " AND t.fired_at IS NULL", cancelled.id()) == 0);
        await().pollDelay(Duration.ofSeconds(2)).atMost(Duration.ofSeconds(3)).until(() -> true); // their tasks consumed

        assertThat(cancelledRows).as("cancelled while waiting").isEqualTo(EVENTS);
        assertThat(fleet.count("SELECT count(*) FROM it_effects WHERE node = 'after' AND event_key LIKE ? || '@%'", control.id()))
                .as("the control's nodes after the delay ran").isEqualTo(EVENTS);
        assertThat(fleet.count("SELECT count(*) FROM it_effects WHERE node = 'after' AND event_key LIKE ? || '@%'", cancelled.id()))
                .as("no node after a cancelled execution's delay ran").isZero();
        assertThat(fleet.count("SELECT count(*) FROM processed_keys WHERE key LIKE ? || '@%/after'", cancelled.id())).isZero();
        assertThat(fleet.count("SELECT count(*) FROM executions WHERE workflow_id = ? AND status = 'cancelled'", cancelled.id()))
                .isEqualTo(EVENTS);
        List<String> outcomes = new java.util.ArrayList<>();
        for (var r : fleet.readCommitted(dev.onceflow.common.Topics.OUTCOMES)) {
            dev.onceflow.common.Outcome o = dev.onceflow.common.Json.read(r.value(), dev.onceflow.common.Outcome.class);
            if (o.workflow().equals(cancelled.id())) {
                outcomes.add(o.eventKey() + ":" + o.status());
            }
        }
        assertThat(outcomes).as("each cancel published its execution's outcome, once").hasSize(EVENTS).doesNotHaveDuplicates()
                .allMatch(o -> o.endsWith(":cancelled"));
    }
}
