package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.onceflow.common.EventEnvelope;
import dev.onceflow.common.Json;
import dev.onceflow.common.Topics;
import dev.onceflow.common.local.LocalReceiver;
import dev.onceflow.common.workflow.Workflow;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A slow endpoint holds its own execution, not the worker (ADR 0021, "Waiting holds its lane, not
 * the partition"): one event's {@code http} call takes 5 s, and the calls of 200 other events on
 * the same worker's partitions answer at once. Their executions must all succeed while the slow
 * call is still in flight. When the worker paused its partitions until every call of a batch had
 * answered (before issue 19), they all waited behind it and this test failed.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class SlowKeyIT {

    private static final int OTHERS = 200;
    private static final long SLOW_MS = 5_000;

    @RegisterExtension
    final Fleet fleet = new Fleet(TestInfra.embedded());

    private static String key(Workflow wf, String id) {
        return wf.id() + "@1700000000000#" + id;
    }

    /**
     * Straight to {@value Topics#EVENTS}, keyed as the dispatcher keys them: what is measured is
     * the engine, and a dispatcher on a loaded machine can take longer than the slow call to pass
     * 200 events on.
     */
    private void publishEvent(Workflow wf, String id, com.fasterxml.jackson.databind.node.ObjectNode data) {
        String key = key(wf, id);
        EventEnvelope event = new EventEnvelope(key, wf.id(), wf.version(), 1_700_000_000_000L, data, "test", System.currentTimeMillis());
        fleet.publishRaw(Topics.EVENTS, key, Json.bytes(event));
    }

    @Test
    void otherKeysFinishWhileOneKeysCallIsStillInFlight() throws Exception {
        CountDownLatch slowArrived = new CountDownLatch(1);
        CountDownLatch neverReleased = new CountDownLatch(1);
        AtomicBoolean slowAnswered = new AtomicBoolean();
        // The slow call blocks its receiver thread for 5 s (a latch nobody opens, with a timeout:
        // the endpoint's own latency, not the test waiting); every other call answers at once.
        try (LocalReceiver receiver = LocalReceiver.start((key, calls, path, body) -> {
            if (path.endsWith("/slow")) {
                slowArrived.countDown();
                try {
                    neverReleased.await(SLOW_MS, TimeUnit.MILLISECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                slowAnswered.set(true);
            }
            return new LocalReceiver.Answer(200, "{\"ok\": true}");
        })) {
            Workflow wf = fleet.deploy("""
                    {"id": "%s", "trigger": {"type": "kafka"}, "nodes": [
                      {"type": "http", "id": "call", "method": "POST", "url": "%s/calls/${trigger.kind}",
                       "body": {"n": "${trigger.n}"}, "timeoutMs": 15000, "next": "after"},
                      {"type": "sql", "id": "after", "sql": "INSERT INTO it_effects (event_key, node) VALUES (?, 'after')",
                       "params": ["event.key"]}
                    ]}""".formatted(Fleet.uniqueId("slowkey"), receiver.url()));
            // One worker owns every partition: under the old engine, every key shares its poll thread.
            fleet.startEngine(1);
            publishEvent(wf, "slow", Fleet.data(-1).put("kind", "slow"));
            fleet.flush();
            assertThat(slowArrived.await(1, TimeUnit.MINUTES)).as("the slow call reached the receiver").isTrue();

            for (int i = 0; i < OTHERS; i++) {
                publishEvent(wf, "fast-" + i, Fleet.data(i).put("kind", "fast"));
            }
            fleet.flush();
            // Stops at whichever comes first: the others all done, or the slow call answered.
            await().atMost(Duration.ofMinutes(1)).pollInterval(Duration.ofMillis(50))
                    .until(() -> slowAnswered.get() || fleet.succeeded(wf.id()) == OTHERS);
            boolean slowWasInFlight = !slowAnswered.get();
            long othersDone = fleet.succeeded(wf.id());

            assertThat(othersDone).as("the other events' executions succeeded").isEqualTo(OTHERS);
            assertThat(slowWasInFlight).as("... while the slow call was still in flight").isTrue();
            assertThat(fleet.count("SELECT count(*) FROM executions WHERE workflow_id = ? AND status = 'succeeded' "
                    + "AND event_key = ?", wf.id(), key(wf, "slow"))).as("the slow one had not finished yet").isZero();

            // Then the slow one answers and succeeds too, its call made once.
            await().atMost(Duration.ofMinutes(1)).pollInterval(Duration.ofMillis(200))
                    .until(() -> fleet.succeeded(wf.id()) == OTHERS + 1);
            assertThat(fleet.finished(wf.id())).isEqualTo(OTHERS + 1);
            assertThat(receiver.callsByKey()).as("one key per execution").hasSize(OTHERS + 1);
            assertThat(receiver.callsByKey().values()).as("each call made once").containsOnly(1);
            assertThat(receiver.callsWithoutKey()).isZero();
            assertThat(fleet.count("SELECT count(*) FROM it_effects WHERE node = 'after' AND event_key LIKE ? || '@%'", wf.id()))
                    .as("each node after the call ran once").isEqualTo(OTHERS + 1);
        }
    }
}
