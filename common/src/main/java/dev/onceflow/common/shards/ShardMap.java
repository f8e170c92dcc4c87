package dev.onceflow.common.shards;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.apache.kafka.common.utils.Utils;

/**
 * Which PostgreSQL shard owns a Kafka partition and an ordering key, when Onceflow's state is split
 * over several PostgreSQL primaries (or Citus shard groups) — the prototype of ADR 0026.
 *
 * <p>The rule: {@code shard(key) = toPositive(murmur2(key)) % shards}, and {@code shard(partition) =
 * partition % shards}. Kafka's default partitioner puts a keyed record on partition
 * {@code toPositive(murmur2(key)) % partitions}; when {@code partitions} is a multiple of
 * {@code shards}, {@code (h % partitions) % shards == h % shards}, so the two agree: every record of a
 * partition belongs to one shard, for every topic whose partition count is a multiple of the shard
 * count, and a key keeps its shard when a topic grows from one multiple to another. That is why
 * {@link #validate} refuses partition counts that are not multiples.
 *
 * <p>Immutable and thread-safe; a pure function of its two numbers.
 *
 * @param shards the number of shards, at least 1
 */
public record ShardMap(int shards) {

    public ShardMap {
        if (shards < 1) {
            throw new IllegalArgumentException("shards must be at least 1, not " + shards);
        }
    }

    /** The partition Kafka's default partitioner gives a record with this (UTF-8) key on a topic of {@code partitions}. */
    public static int partition(String key, int partitions) {
        if (partitions < 1) {
            throw new IllegalArgumentException("partitions must be at least 1, not " + partitions);
        }
        return Utils.toPositive(Utils.murmur2(key.getBytes(StandardCharsets.UTF_8))) % partitions;
    }

    /** The shard of an ordering key (the record key of events, tasks and by-key records, ADR 0020). */
    public int shardOfKey(String orderingKey) {
        Objects.requireNonNull(orderingKey, "orderingKey");
        return Utils.toPositive(Utils.murmur2(orderingKey.getBytes(StandardCharsets.UTF_8))) % shards;
    }

    /**
     * The shard that owns a partition of a topic with {@code partitions} partitions.
     *
     * @throws IllegalArgumentException when the partition is out of range or {@code partitions} is not a multiple of the shards
     */
    public int shardOfPartition(int partition, int partitions) {
        requireMultiple("topic", partitions);
        if (partition < 0 || partition >= partitions) {
            throw new IllegalArgumentException("partition " + partition + " is not one of 0.." + (partitions - 1));
        }
        return partition % shards;
    }

    /** The partitions of a topic with {@code partitions} partitions that shard {@code shard} owns, ascending. */
    public List<Integer> partitionsOf(int shard, int partitions) {
        requireMultiple("topic", partitions);
        if (shard < 0 || shard >= shards) {
            throw new IllegalArgumentException("shard " + shard + " is not one of 0.." + (shards - 1));
        }
        List<Integer> owned = new ArrayList<>();
        for (int p = shard; p < partitions; p += shards) {
            owned.add(p);
        }
        return owned;
    }

    /**
     * Checks that every topic whose records are keyed by ordering key (events, tasks, by-key) has a
     * partition count that is a multiple of the shard count; the problems, one line each (empty: valid).
     *
     * @param partitionsByTopic topic → its partition count
     */
    public List<String> validate(Map<String, Integer> partitionsByTopic) {
        List<String> problems = new ArrayList<>();
        partitionsByTopic.forEach((topic, partitions) -> {
            if (partitions == null || partitions < 1) {
                problems.add(topic + ": no partition count");
            } else if (partitions % shards != 0) {
                problems.add(topic + " has " + partitions + " partitions, not a multiple of " + shards
                        + " shards: some of its partitions would hold keys of two shards");
            }
        });
        return problems;
    }

    /**
     * Whether state can move from this map to {@code next} by splitting or merging shards: one shard
     * count must divide the other (from S to k·S, shard s splits into s, s + S, …, s + (k − 1)·S, and
     * each key moves to the part its hash names; a merge is the reverse), and every topic must be a
     * multiple of the new count. The moving keys' partitions are drained first (ADR 0026).
     */
    public List<String> reshardProblems(ShardMap next, Map<String, Integer> partitionsByTopic) {
        List<String> problems = new ArrayList<>();
        int a = Math.min(shards, next.shards);
        int b = Math.max(shards, next.shards);
        if (b % a != 0) {
            problems.add("from " + shards + " to " + next.shards + " shards: neither count divides the other, so keys of one shard "
                    + "would scatter over several and the reverse; split or merge by whole factors");
        }
        problems.addAll(next.validate(partitionsByTopic));
        return problems;
    }

    /** Whether a key changes shard going to {@code next} (it then moves, with its executions, processed keys, timers and lane). */
    public boolean moves(String orderingKey, ShardMap next) {
        return shardOfKey(orderingKey) != next.shardOfKey(orderingKey);
    }

    private void requireMultiple(String what, int partitions) {
        if (partitions < 1 || partitions % shards != 0) {
            throw new IllegalArgumentException(what + " with " + partitions + " partitions is not a multiple of " + shards + " shards");
        }
    }
}
