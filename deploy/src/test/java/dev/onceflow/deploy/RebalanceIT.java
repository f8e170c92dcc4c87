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
 * Workers joining and leaving the group mid-stream: partitions move, nothing runs twice, nothing is lost.
 *
 * <p>The events are published in phases tied to what the fleet does, not to time: a fast worker pair can finish
 * a whole fixed burst before a joining worker's first assignment (a CI run saw exactly that), so the stream keeps
 * flowing until the joining worker has run nodes, and the leaving worker is stopped with work still in flight.
 */
@Timeout(value = 8, unit = TimeUnit.MINUTES)
class RebalanceIT {

    @RegisterExtension
    final Fleet fleet = new Fleet(TestInfra.embedded());

    private int published;

    @Test
    void workersJoiningAndLeavingNeitherDuplicateNorLose() throws Exception {
        Workflow wf = fleet.deployThreeNode(Fleet.uniqueId("rebalance"));
        fleet.startDispatcher();
        Engine first = fleet.startEngine(1);
        Engine second = fleet.startEngine(1);

        publish(wf, 2000);
        await().atMost(Duration.ofMinutes(3)).pollInterval(Duration.ofMillis(200)).until(() -> fleet.finished(wf.id()) >= 1000);

        Engine third = fleet.startEngine(1);
        // Keep the stream flowing until the rebalance has given the joining worker partitions and it ran nodes.
        await().atMost(Duration.ofMinutes(3)).pollInterval(Duration.ofMillis(250)).until(() -> {
            publish(wf, 20);
            return third.metrics().nodeRuns() > 0;
        });

        publish(wf, 1500);
        await().atMost(Duration.ofMinutes(3)).pollInterval(Duration.ofMillis(100))
                .until(() -> fleet.finished(wf.id()) >= published - 1200);
        fleet.stop(first); // leaves with work in flight: its partitions move to the other two
        publish(wf, 500);
        int total = published;
        await().atMost(Duration.ofMinutes(4)).pollInterval(Duration.ofMillis(500)).until(() -> fleet.finished(wf.id()) == total);

        assertThat(third.metrics().nodeRuns()).as("the joining worker took work").isPositive();
        assertThat(second.metrics().nodeRuns()).isPositive();
        assertThat(fleet.executions(wf.id())).isEqualTo(total);
        assertThat(fleet.succeeded(wf.id())).isEqualTo(total);
        assertThat(fleet.duplicateEffects(wf.id())).isZero();
        assertThat(fleet.missingEffects(wf.id())).isZero();
        assertThat(fleet.effects(wf.id())).isEqualTo(2L * total);
    }

    /** Publishes the next {@code n} events, and a duplicate of every tenth one, as a retrying publisher would. */
    private void publish(Workflow wf, int n) {
        for (int k = 0; k < n; k++) {
            int i = published++;
            fleet.publish(wf.id(), "r-" + i, Fleet.data(i));
            if (i % 10 == 0) {
                fleet.publish(wf.id(), "r-" + i, Fleet.data(i));
            }
        }
        fleet.flush();
    }
}
