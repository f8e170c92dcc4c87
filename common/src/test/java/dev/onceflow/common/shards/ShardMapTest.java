package dev.onceflow.common.shards;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.junit.jupiter.api.Test;

class ShardMapTest {

    private static final String[] KEYS = keys(5000);

    private static String[] keys(int n) {
        String[] k = new String[n];
        for (int i = 0; i < n; i++) {
            k[i] = switch (i % 3) {
                case 0 -> "order-sync/public.orders/" + i;
                case 1 -> "nightly-report@17364420" + i + "#t-0-" + i;
                default -> "api-wf/customer-" + i + "/é";
            };
        }
        return k;
    }

    @Test
    void partitionIsKafkasDefaultPartitioner() {
        for (int partitions : new int[] {1, 6, 12, 24, 7}) {
            for (String key : KEYS) {
                assertThat(ShardMap.partition(key, partitions))
                        .isEqualTo(BuiltInPartitioner.partitionForKey(key.getBytes(StandardCharsets.UTF_8), partitions));
            }
        }
    }

    @Test
    void aKeysShardIsItsPartitionsShardOnEveryTopicWhosePartitionsAreMultiples() {
        ShardMap map = new ShardMap(3);
        for (String key : KEYS) {
            int shard = map.shardOfKey(key);
            for (int partitions : new int[] {3, 6, 12, 24}) {
                assertThat(map.shardOfPartition(ShardMap.partition(key, partitions), partitions)).as(key + " on " + partitions)
                        .isEqualTo(shard);
            }
        }
    }

    @Test
    void growingATopicFromOneMultipleToAnotherKeepsEveryKeysShard() {
        ShardMap map = new ShardMap(4);
        for (String key : KEYS) {
            assertThat(map.shardOfPartition(ShardMap.partition(key, 12), 12))
                    .isEqualTo(map.shardOfPartition(ShardMap.partition(key, 24), 24));
        }
    }

    @Test
    void everyPartitionHasExactlyOneShardAndShardsSharePartitionsEvenly() {
        ShardMap map = new ShardMap(3);
        assertThat(map.partitionsOf(0, 12)).containsExactly(0, 3, 6, 9);
        assertThat(map.partitionsOf(2, 12)).containsExactly(2, 5, 8, 11);
        int owned = 0;
        for (int s = 0; s < 3; s++) {
            for (int p : map.partitionsOf(s, 12)) {
                assertThat(map.shardOfPartition(p, 12)).isEqualTo(s);
                owned++;
            }
        }
        assertThat(owned).isEqualTo(12);
    }

    @Test
    void partitionCountsThatAreNotMultiplesAreRefusedNamingTheTopic() {
        ShardMap map = new ShardMap(4);
        Map<String, Integer> topics = new LinkedHashMap<>();
        topics.put("onceflow.events", 12);
        topics.put("onceflow.tasks", 6);
        topics.put("onceflow.dispatch.bykey", 24);
        assertThat(map.validate(topics)).singleElement().asString().contains("onceflow.tasks has 6 partitions")
                .contains("multiple of 4");
        assertThat(new ShardMap(2).validate(topics)).isEmpty();
        assertThatThrownBy(() -> map.shardOfPartition(1, 6)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("not a multiple of 4");
        assertThatThrownBy(() -> map.shardOfPartition(12, 12)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new ShardMap(0)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void splittingAShardMovesAboutHalfItsKeysAndOnlyToItsOwnParts() {
        ShardMap two = new ShardMap(2);
        ShardMap four = new ShardMap(4);
        int moved = 0;
        for (String key : KEYS) {
            int from = two.shardOfKey(key);
            int to = four.shardOfKey(key);
            assertThat(to == from || to == from + 2).as(key).isTrue();
            if (two.moves(key, four)) {
                moved++;
            }
        }
        assertThat(moved).isBetween(KEYS.length * 45 / 100, KEYS.length * 55 / 100);
    }

    @Test
    void reshardingIsBySplitOrMergeIntoCountsThatDivideEveryTopic() {
        Map<String, Integer> topics = Map.of("onceflow.events", 12, "onceflow.tasks", 12, "onceflow.dispatch.bykey", 12);
        assertThat(new ShardMap(2).reshardProblems(new ShardMap(4), topics)).isEmpty();
        assertThat(new ShardMap(4).reshardProblems(new ShardMap(2), topics)).isEmpty();
        assertThat(new ShardMap(2).reshardProblems(new ShardMap(3), topics)).singleElement().asString()
                .contains("neither count divides the other");
        assertThat(new ShardMap(4).reshardProblems(new ShardMap(8), topics)).hasSize(3)
                .allSatisfy(problem -> assertThat(problem).contains("12 partitions, not a multiple of 8"));
    }
}
