package dev.onceflow.dispatcher;

import java.time.Duration;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * A consumer group's lag in records: per partition, the committed records a {@code read_committed}
 * consumer would still read from the group's committed offset (from the log start where it never
 * committed; the engine's {@code auto.offset.reset} is {@code earliest}) up to the last stable
 * offset.
 *
 * <p>Why not the offsets' difference: every Kafka transaction ends with a commit marker that takes
 * an offset of its own. A group that consumed everything commits the offset after its last
 * record, one below the marker, so "end offset minus committed" says 1 on every idle partition
 * that a transaction wrote. Here a consumer of no group is sought to the committed offset and
 * reads on: markers and aborted records are skipped by the client, records are counted. The engine's
 * {@code onceflow_consumer_lag_records} (its consumer's {@code currentLag}: last stable offset
 * minus its position, which has moved past the marker) is 0 on the same idle partitions.
 *
 * <p>Bounded: reading stops after {@code budget}; a partition not read to its end then reports the
 * records counted plus the offsets left (an upper bound: markers among them are counted too), and
 * {@link Lag#exact()} says so. Zero is always exact: a partition with nothing but markers left is
 * read to its end in one fetch. Each call opens and closes its own consumer; thread-safe.
 */
public final class RecordLag {

    /**
     * @param records per partition ({@code topic-partition}), in order
     * @param exact   false when the budget ran out before every partition was read to its end
     */
    public record Lag(Map<String, Long> records, boolean exact) {

        public Lag {
            records = java.util.Collections.unmodifiableMap(new TreeMap<>(records));
        }

        public long total() {
            return records.values().stream().mapToLong(Long::longValue).sum();
        }
    }

    private RecordLag() {
    }

    /**
     * The lag of {@code partitions} for a group whose committed offsets are {@code committed}
     * (absent: never committed there).
     */
    public static Lag of(String bootstrap, Collection<TopicPartition> partitions, Map<TopicPartition, OffsetAndMetadata> committed,
                         Duration budget) {
        Map<String, Object> p = new HashMap<>();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, "onceflow-record-lag");
        p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 10_000);
        p.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 10_000);
        Map<TopicPartition, Long> counted = new HashMap<>();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> parts = List.copyOf(partitions);
            c.assign(parts);
            Map<TopicPartition, Long> start = c.beginningOffsets(parts);
            Map<TopicPartition, Long> stable = c.endOffsets(parts); // read_committed: the last stable offset
            Set<TopicPartition> open = new HashSet<>();
            for (TopicPartition tp : parts) {
                OffsetAndMetadata at = committed.get(tp);
                long from = Math.max(at == null ? start.get(tp) : at.offset(), start.get(tp));
                counted.put(tp, 0L);
                if (from < stable.get(tp)) {
                    c.seek(tp, from);
                    open.add(tp);
                }
            }
            c.pause(parts.stream().filter(tp -> !open.contains(tp)).toList());
            long deadline = System.nanoTime() + budget.toNanos();
            while (!open.isEmpty() && System.nanoTime() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(100))) {
                    TopicPartition tp = new TopicPartition(r.topic(), r.partition());
                    if (r.offset() < stable.get(tp)) {
                        counted.merge(tp, 1L, Long::sum);
                    }
                }
                for (TopicPartition tp : List.copyOf(open)) {
                    if (c.position(tp) >= stable.get(tp)) {
                        open.remove(tp);
                        c.pause(List.of(tp));
                    }
                }
            }
            Map<String, Long> lag = new HashMap<>();
            for (TopicPartition tp : parts) {
                long left = open.contains(tp) ? Math.max(0, stable.get(tp) - c.position(tp)) : 0;
                lag.put(tp.toString(), counted.get(tp) + left);
            }
            return new Lag(lag, open.isEmpty());
        }
    }
}
