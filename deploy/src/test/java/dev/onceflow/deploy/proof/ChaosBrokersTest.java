package dev.onceflow.deploy.proof;

import static org.assertj.core.api.Assertions.assertThat;

import dev.onceflow.common.local.LocalKafka;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

/** {@code chaos --brokers 3}: the cluster's settings and the choice of the broker to kill; pure logic. */
class ChaosBrokersTest {

    private static ChaosKafka.Replicas led(int leader, Integer... isr) {
        return new ChaosKafka.Replicas(leader, Set.of(isr), 3);
    }

    @Test
    void killsTheBrokerLeadingMostPartitionsOfEventsAndTriggers() {
        Map<TopicPartition, ChaosKafka.Replicas> r = new HashMap<>();
        r.put(new TopicPartition("onceflow.events", 0), led(2, 1, 2, 3));
        r.put(new TopicPartition("onceflow.events", 1), led(3, 1, 2, 3));
        r.put(new TopicPartition("onceflow.triggers", 0), led(3, 1, 2, 3));
        r.put(new TopicPartition("onceflow.tasks", 0), led(1, 1, 2, 3)); // not counted
        r.put(new TopicPartition("onceflow.tasks", 1), led(1, 1, 2, 3));
        r.put(new TopicPartition("onceflow.tasks", 2), led(1, 1, 2, 3));
        Map<Integer, Integer> led = ChaosFaults.ledBy(r, ChaosFaults.LED_TOPICS);
        assertThat(led).containsExactlyInAnyOrderEntriesOf(Map.of(2, 1, 3, 2));
        assertThat(ChaosFaults.mostLeading(led)).isEqualTo(3);
        assertThat(ChaosFaults.mostLeading(Map.of(3, 2, 2, 2, 1, 1))).as("a tie goes to the lowest id").isEqualTo(2);
        assertThat(ChaosFaults.outOfSync(r)).isZero();
        r.put(new TopicPartition("onceflow.events", 2), led(1, 1, 2));
        r.put(new TopicPartition("onceflow.events", 3), new ChaosKafka.Replicas(-1, Set.of(), 3));
        assertThat(ChaosFaults.outOfSync(r)).isEqualTo(2);
    }

    @Test
    void clusterPropertiesReplicateEverythingThreeTimesWithTwoInSync() {
        Map<String, String> p = LocalKafka.clusterProperties(2, "1@localhost:1001,2@localhost:1002,3@localhost:1003",
                Path.of("/tmp/x"), 2000, 1002, 3, 2);
        assertThat(p).containsEntry("node.id", "2").containsEntry("process.roles", "broker,controller")
                .containsEntry("controller.quorum.voters", "1@localhost:1001,2@localhost:1002,3@localhost:1003")
                .containsEntry("default.replication.factor", "3").containsEntry("min.insync.replicas", "2")
                .containsEntry("offsets.topic.replication.factor", "3").containsEntry("transaction.state.log.replication.factor", "3")
                .containsEntry("transaction.state.log.min.isr", "2")
                .containsEntry("listeners", "PLAINTEXT://localhost:2000,CONTROLLER://localhost:1002");
        assertThat(LocalKafka.brokerProperties(Path.of("/tmp/x"), 2000, 1002)).as("the one-node settings are unchanged")
                .containsEntry("node.id", "1").containsEntry("offsets.topic.replication.factor", "1")
                .doesNotContainKey("min.insync.replicas");
    }
}
