package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.onceflow.common.EventEnvelope;
import dev.onceflow.common.Json;
import dev.onceflow.common.Topics;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.dispatcher.Dispatcher;
import dev.onceflow.engine.Engine;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** One event, one execution; one node, one effect: on the real broker and PostgreSQL. */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class ExactlyOnceIT {

    @RegisterExtension
    final Fleet fleet = new Fleet(TestInfra.embedded());

    @Test
    void eventPublishedFiveTimesCreatesOneExecution() throws Exception {
        Workflow wf = fleet.deployThreeNode(Fleet.uniqueId("five"));
        Dispatcher dispatcher = fleet.startDispatcher();
        Engine engine = fleet.startEngine(2);
        long before = dispatcher.metrics().accepted() + dispatcher.metrics().deduplicated();
        for (int i = 0; i < 5; i++) {
            fleet.publish(wf.id(), "ev-1", Fleet.data(4));
        }
        fleet.flush();

        await().atMost(Duration.ofSeconds(90)).until(() ->
                dispatcher.metrics().accepted() + dispatcher.metrics().deduplicated() - before >= 5 && fleet.finished(wf.id()) == 1);
        assertThat(fleet.executions(wf.id())).isEqualTo(1);
        assertThat(fleet.succeeded(wf.id())).isEqualTo(1);
        assertThat(fleet.effects(wf.id())).isEqualTo(2);
        assertThat(fleet.duplicateEffects(wf.id())).isZero();
        assertThat(fleet.count("SELECT count(*) FROM it_effects WHERE event_key = ? AND node = 'even'",
                wf.id() + "@1700000000000#ev-1")).isEqualTo(1);
        assertThat(engine.metrics().nodeRuns()).isGreaterThanOrEqualTo(4);
    }

    @Test
    void duplicateEventsPastTheDispatcherAreAbsorbedByTheExecutionKey() throws Exception {
        // Five copies written straight to onceflow.events, as five dispatcher replicas without a
        // shared dedupe store would: the dispatcher's filter cannot help, the unique key must.
        Workflow wf = fleet.deployThreeNode(Fleet.uniqueId("replicas"));
        Engine engine = fleet.startEngine(3);
        String key = wf.id() + "@1736442000000";
        for (int i = 0; i < 5; i++) {
            EventEnvelope event = new EventEnvelope(key, wf.id(), wf.version(), 1736442000000L, Fleet.data(3),
                    "replica-" + i, System.currentTimeMillis());
            fleet.publishRaw(Topics.EVENTS, key, Json.bytes(event));
        }
        fleet.flush();

        await().atMost(Duration.ofSeconds(90)).until(() ->
                fleet.finished(wf.id()) == 1 && engine.metrics().duplicateEvents() >= 4);
        assertThat(fleet.executions(wf.id())).isEqualTo(1);
        assertThat(fleet.effects(wf.id())).isEqualTo(2);
        assertThat(fleet.duplicateEffects(wf.id())).isZero();
    }

    @Test
    void threeNodeWorkflowOverThousandEventsHasEachEffectOnce() throws Exception {
        Workflow wf = fleet.deployThreeNode(Fleet.uniqueId("thousand"));
        fleet.startDispatcher();
        fleet.startEngine(3);
        for (int i = 0; i < 1000; i++) {
            fleet.publish(wf.id(), "order-" + i, Fleet.data(i));
        }
        fleet.flush();

        await().atMost(Duration.ofMinutes(3)).pollInterval(Duration.ofMillis(500)).until(() -> fleet.finished(wf.id()) == 1000);
        assertThat(fleet.executions(wf.id())).isEqualTo(1000);
        assertThat(fleet.succeeded(wf.id())).isEqualTo(1000);
        assertThat(fleet.effects(wf.id())).isEqualTo(2000);
        assertThat(fleet.duplicateEffects(wf.id())).isZero();
        assertThat(fleet.missingEffects(wf.id())).isZero();
        // record, check, even|odd, done: four processed keys per execution, each once
        assertThat(fleet.count("SELECT count(*) FROM processed_keys p JOIN executions e ON e.id = p.execution_id "
                + "WHERE e.workflow_id = ?", wf.id())).isEqualTo(4000);
        assertThat(fleet.count("SELECT count(*) FROM it_effects WHERE event_key LIKE ? || '@%' AND node = 'even'", wf.id()))
                .isEqualTo(500);
    }
}
