package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.common.Topics;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.engine.Engine;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A transaction left open on {@code onceflow.events-0} (a producer that began it and went away,
 * with a timeout long enough that the coordinator does not abort it: what a broker that lost its
 * transaction markers leaves behind) holds that partition's last stable offset, so read_committed
 * engines never see the events behind it. The engine must report the stalled partition, and abort
 * the hanging transaction once it has been open for {@code engine.hanging.transaction.abort.ms};
 * the negative control, with aborting off, shows the events stay stuck and are reported.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class HangingTransactionIT {

    private static final int EVENTS = 60;
    @RegisterExtension
    final Fleet fleet = new Fleet(TestInfra.embedded());
    private KafkaProducer<byte[], byte[]> hanging;

    /** Runs before the fleet closes (JUnit runs a test's @AfterEach before its extensions' afterEach). */
    @AfterEach
    void abortHanging() {
        if (hanging != null) {
            try {
                hanging.abortTransaction(); // never leave the shared topic held for the next test
            } catch (RuntimeException e) {
                // already aborted by the engine: the producer is fenced
            }
            hanging.close(Duration.ofSeconds(5));
        }
    }

    private void openHangingTransaction() {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, fleet.infra.bootstrap());
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "it-hanging-" + UUID.randomUUID());
        p.put(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, "600000");
        hanging = new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer());
        hanging.initTransactions();
        hanging.beginTransaction();
        hanging.send(new ProducerRecord<>(Topics.EVENTS, 0, null, "hanging".getBytes(StandardCharsets.UTF_8)));
        hanging.flush();
    }

    private Map<String, String> settings(String abortMs) {
        return Map.of(OnceflowConfig.ENGINE_TRANSACTION_TIMEOUT.name(), "2000",
                OnceflowConfig.ENGINE_STALL_REPORT.name(), "3000",
                OnceflowConfig.ENGINE_HANGING_TX_ABORT.name(), abortMs);
    }

    private List<String> watchProblems(Engine engine, List<String> seen) {
        seen.addAll(engine.problems());
        return seen;
    }

    @Test
    void hangingTransactionIsReportedAndAbortedSoEveryEventRuns() throws Exception {
        Workflow wf = fleet.deployThreeNode(Fleet.uniqueId("hang"));
        fleet.startDispatcher();
        openHangingTransaction();
        Engine engine = fleet.startEngine(2, settings("8000"));
        for (int i = 0; i < EVENTS; i++) {
            fleet.publish(wf.id(), "h-" + i, Fleet.data(i));
        }
        fleet.flush();
        List<String> problems = new CopyOnWriteArrayList<>();

        await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofMillis(500))
                .until(() -> !watchProblems(engine, problems).isEmpty() && fleet.finished(wf.id()) == EVENTS);

        assertThat(problems).anyMatch(p -> p.contains(Topics.EVENTS + "-0") && p.contains("open transaction"));
        assertThat(fleet.succeeded(wf.id())).isEqualTo(EVENTS);
        assertThat(fleet.duplicateEffects(wf.id())).isZero();
    }

    @Test
    void negativeControlWithoutAbortingTheEventsBehindItStayStuck() throws Exception {
        Workflow wf = fleet.deployThreeNode(Fleet.uniqueId("hang-off"));
        fleet.startDispatcher();
        openHangingTransaction();
        Engine engine = fleet.startEngine(2, settings("-1"));
        for (int i = 0; i < EVENTS; i++) {
            fleet.publish(wf.id(), "o-" + i, Fleet.data(i));
        }
        fleet.flush();
        List<String> problems = new CopyOnWriteArrayList<>();

        // The other partitions drain; partition 0's events are reported and stay unrun.
        await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofMillis(500))
                .until(() -> watchProblems(engine, problems).stream().anyMatch(p -> p.contains(Topics.EVENTS + "-0")));
        await().atMost(Duration.ofMinutes(1)).pollInterval(Duration.ofMillis(500))
                .until(() -> fleet.count("SELECT count(*) FROM executions WHERE workflow_id = ?", wf.id()) > EVENTS / 2);
        await().during(Duration.ofSeconds(12)).atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofSeconds(1))
                .until(() -> fleet.finished(wf.id()) < EVENTS);
        assertThat(fleet.finished(wf.id())).as("events behind the hanging transaction never ran").isLessThan(EVENTS);
    }
}
