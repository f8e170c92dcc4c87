package dev.onceflow.deploy.proof;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The chaos run's diagnosis of the Kafka 4.3.1 group coordinator load race (ADR 0009, addendum of
 * session 5): the brokers log the coordinator runtime's loads, and the summary counts the lines that
 * show a coordinator activated before its load. Pure logic; the lines are copied from reproductions.
 */
class ChaosLoadRaceTest {

    private static final String IGNORED_ACTIVE = "20:05:39.102 [group-coordinator-event-processor-3] INFO CoordinatorRuntime - "
            + "[GroupCoordinator id=1] Ignored load completion from __consumer_offsets-0 because context is in ACTIVE state.";
    private static final String IGNORED_INITIAL = "20:30:37.601 [group-coordinator-event-processor-1] INFO CoordinatorRuntime - "
            + "[GroupCoordinator id=1] Ignored load completion from __consumer_offsets-0 because context is in INITIAL state.";
    private static final String OUT_OF_SYNC = "20:47:17.597 [group-coordinator-event-processor-3] ERROR CoordinatorRuntime - "
            + "[GroupCoordinator id=1] The state machine of the coordinator __consumer_offsets-0 is out of sync with the underlying log. "
            + "The last written offset returned is 31447 while the coordinator expected 1. The coordinator will be reloaded in order "
            + "to re-synchronize the state machine.";
    private static final String FINISHED = "20:05:36.429 [group-coordinator-event-processor-1] INFO CoordinatorRuntime - "
            + "[GroupCoordinator id=1] Finished loading of metadata from __consumer_offsets-0 with epoch 12 in 4415ms";

    @Test
    void findsTheRaceInBrokerLogsOnly(@TempDir Path logs) throws Exception {
        Files.write(logs.resolve("broker-1.log"), List.of(FINISHED, IGNORED_INITIAL));
        Files.write(logs.resolve("broker-2.log"), List.of(FINISHED, IGNORED_ACTIVE, "noise"));
        Files.write(logs.resolve("broker-3.log"), List.of(OUT_OF_SYNC));
        Files.write(logs.resolve("engine-1.log"), List.of(IGNORED_ACTIVE));

        List<Map<String, Object>> races = ChaosKafka.coordinatorLoadRaces(logs, 20);

        assertThat(races).extracting(m -> m.get("log")).containsExactly("broker-2.log", "broker-3.log");
        assertThat(races.get(0)).containsEntry("line", IGNORED_ACTIVE);
        assertThat((String) races.get(1).get("line")).hasSize(300).startsWith(OUT_OF_SYNC.substring(0, 100));
        assertThat(ChaosKafka.coordinatorLoadRaces(logs, 1)).hasSize(1);
        assertThat(ChaosKafka.coordinatorLoadRaces(logs.resolve("absent"), 20)).isEmpty();
    }

    @Test
    void aBrokerRestartIsHealedOnlyOnAnIgnoredLoadOfAnActiveCoordinator(@TempDir Path logs) throws Exception {
        Path log = logs.resolve("broker-2.log");
        Files.write(log, List.of(FINISHED, IGNORED_INITIAL, OUT_OF_SYNC));
        assertThat(ChaosKafka.awaitIgnoredLoad(log, 0)).as("a reload or an initial context is not the race").isNull();
        assertThat(ChaosKafka.awaitIgnoredLoad(logs.resolve("not-yet.log"), 0)).isNull();

        Files.write(log, List.of(FINISHED, IGNORED_ACTIVE), java.nio.file.StandardOpenOption.APPEND);

        assertThat(ChaosKafka.awaitIgnoredLoad(log, 0)).isEqualTo(IGNORED_ACTIVE);
    }

    @Test
    void brokersLogTheCoordinatorRuntimesLoads() {
        List<String> cmd = ChildProcess.java("768m", ChaosFleet.BROKER_JVM_OPTIONS, "kafka.Kafka", List.of("server.properties"));
        assertThat(cmd).contains("-Dorg.slf4j.simpleLogger.log.org.apache.kafka.coordinator.common.runtime.CoordinatorRuntime=info");
        assertThat(cmd.indexOf(ChaosFleet.BROKER_JVM_OPTIONS.get(0))).as("a JVM option, before the main class")
                .isLessThan(cmd.indexOf("kafka.Kafka"));
        assertThat(cmd.subList(cmd.size() - 2, cmd.size())).containsExactly("kafka.Kafka", "server.properties");
    }
}
