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

/** Workers joining and leaving the group mid-stream: partitions move, nothing runs twice, nothing is lost. */
@Timeout(value = 8, unit = TimeUnit.MINUTES)
class RebalanceIT {

    private static final int EVENTS = 5000;
    @RegisterExtension
    final Fleet fleet = new Fleet(TestInfra.embedded());

    @Test
    void workersJoiningAndLeavingNeitherDuplicateNorLose() throws Exception {
        Workflow wf = fleet.deployThreeNode(Fleet.uniqueId("rebalance"));
        fleet.startDispatcher();
        Engine first = fleet.startEngine(1);
        Engine second = fleet.startEngine(1);
        Thread publisher = new Thread(() -> {
            for (int i = 0; i < EVENTS; i++) {
                fleet.publish(wf.id(), "r-" + i, Fleet.data(i));
                // Also a duplicate of every tenth event, from a retrying publisher.
                if (i % 10 == 0) {
                    fleet.publish(wf.id(), "r-" + i, Fleet.data(i));
                }
            }
            fleet.flush();
        });
        publisher.start();

        await().atMost(Duration.ofMinutes(3)).pollInterval(Duration.ofMillis(200)).until(() -> fleet.finished(wf.id()) >= 1000);
        Engine third = fleet.startEngine(1);
        await().atMost(Duration.ofMinutes(3)).pollInterval(Duration.ofMillis(200)).until(() -> fleet.finished(wf.id()) >= 2500);
        fleet.stop(first);
        publisher.join();
        await().atMost(Duration.ofMinutes(4)).pollInterval(Duration.ofMillis(500)).until(() -> fleet.finished(wf.id()) == EVENTS);

        assertThat(third.metrics().nodeRuns()).as("the joining worker took work").isPositive();
        assertThat(second.metrics().nodeRuns()).isPositive();
        assertThat(fleet.executions(wf.id())).isEqualTo(EVENTS);
        assertThat(fleet.succeeded(wf.id())).isEqualTo(EVENTS);
        assertThat(fleet.duplicateEffects(wf.id())).isZero();
        assertThat(fleet.missingEffects(wf.id())).isZero();
        assertThat(fleet.effects(wf.id())).isEqualTo(2L * EVENTS);
    }
}
