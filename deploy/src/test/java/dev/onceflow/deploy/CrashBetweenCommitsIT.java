package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.engine.Engine;
import dev.onceflow.engine.EngineHooks;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A failure after the PostgreSQL commit and before the Kafka commit: the batch is delivered again.
 * The processed keys must keep every node from running twice, and every execution must still
 * finish. The negative control runs the same faults on an unsafe engine (no processed-key check)
 * and must see duplicate effects: proof that this test can fail.
 */
@Timeout(value = 6, unit = TimeUnit.MINUTES)
class CrashBetweenCommitsIT {

    private static final int EVENTS = 300;
    @RegisterExtension
    final Fleet fleet = new Fleet(TestInfra.embedded());

    /** Fails every third batch after its PostgreSQL commit, at most {@code max} times. */
    static final class FailBetweenCommits implements EngineHooks {
        final AtomicInteger batches = new AtomicInteger();
        final AtomicInteger injected = new AtomicInteger();
        private final int max;

        FailBetweenCommits(int max) {
            this.max = max;
        }

        @Override
        public void afterDatabaseCommit(String worker, int records) {
            if (batches.incrementAndGet() % 3 == 1 && injected.incrementAndGet() <= max) {
                throw new IllegalStateException("injected crash between the PostgreSQL and the Kafka commit");
            }
        }
    }

    @Test
    void nodeRunsOnceWhenWorkerFailsBetweenCommits() throws Exception {
        Workflow wf = fleet.deployThreeNode(Fleet.uniqueId("crash"));
        FailBetweenCommits hooks = new FailBetweenCommits(25);
        fleet.startDispatcher();
        Engine engine = fleet.startEngine(2, hooks, false, 10);
        for (int i = 0; i < EVENTS; i++) {
            fleet.publish(wf.id(), "c-" + i, Fleet.data(i));
        }
        fleet.flush();

        await().atMost(Duration.ofMinutes(4)).pollInterval(Duration.ofMillis(500)).until(() -> fleet.finished(wf.id()) == EVENTS);
        assertThat(hooks.injected.get()).as("faults injected").isGreaterThanOrEqualTo(5);
        assertThat(engine.metrics().batchFailures()).isGreaterThanOrEqualTo(5);
        assertThat(engine.metrics().duplicateNodeRuns() + engine.metrics().duplicateEvents())
                .as("redelivered records absorbed").isPositive();
        assertThat(fleet.succeeded(wf.id())).isEqualTo(EVENTS);
        assertThat(fleet.duplicateEffects(wf.id())).isZero();
        assertThat(fleet.missingEffects(wf.id())).isZero();
        assertThat(fleet.effects(wf.id())).isEqualTo(2L * EVENTS);
        // The outcome produced with a finish was in the aborted Kafka transaction: the redelivery
        // must produce it again, or a read_committed reader of onceflow.outcomes never sees it.
        // The last batches' Kafka commits may still be on their way (a crash injected there is
        // redelivered after a back-off): wait for them, then every execution has its outcome.
        java.util.Map<String, java.util.Set<String>> outcomes = new java.util.HashMap<>();
        await().atMost(Duration.ofMinutes(1)).pollInterval(Duration.ofSeconds(1)).until(() -> {
            outcomes.clear();
            for (var r : fleet.readCommitted(dev.onceflow.common.Topics.OUTCOMES)) {
                dev.onceflow.common.Outcome o = dev.onceflow.common.Json.read(r.value(), dev.onceflow.common.Outcome.class);
                if (o.workflow().equals(wf.id())) {
                    outcomes.computeIfAbsent(o.eventKey(), k -> new java.util.HashSet<>()).add(o.toString());
                }
            }
            return outcomes.size() == EVENTS;
        });
        assertThat(outcomes).as("every execution has its outcome on onceflow.outcomes").hasSize(EVENTS);
        assertThat(outcomes.values()).as("an outcome produced again has the same content").allMatch(s -> s.size() == 1);
    }

    @Test
    void negativeControlUnsafeEngineRunsNodesTwice() throws Exception {
        Workflow wf = fleet.deployThreeNode(Fleet.uniqueId("unsafe"));
        FailBetweenCommits hooks = new FailBetweenCommits(25);
        fleet.startDispatcher();
        fleet.startEngine(2, hooks, true, 10);
        for (int i = 0; i < EVENTS; i++) {
            fleet.publish(wf.id(), "u-" + i, Fleet.data(i));
        }
        fleet.flush();

        await().atMost(Duration.ofMinutes(4)).pollInterval(Duration.ofMillis(500)).until(() -> fleet.finished(wf.id()) == EVENTS);
        assertThat(hooks.injected.get()).isGreaterThanOrEqualTo(5);
        assertThat(fleet.duplicateEffects(wf.id())).as("the checker sees duplicates when the guarantee is off").isPositive();
    }
}
