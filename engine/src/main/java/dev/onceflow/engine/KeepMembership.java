package dev.onceflow.engine;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Supplier;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.common.TopicPartition;

/**
 * What a worker does while a node's statement runs long (design, "Long SQL";
 * {@link LongStatements}): its partitions paused, one poll per tick, so the group sees a live
 * member within max.poll.interval.ms; all resumed when the statement ends. Records of a partition
 * assigned meanwhile (not yet paused) are put back by seeking to them. Called on the worker's
 * thread only, which is waiting on the statement and so not using its consumer otherwise.
 */
final class KeepMembership implements LongStatements.KeepAlive {

    private final Supplier<Consumer<byte[], byte[]>> consumer;
    private final EngineMetrics metrics;

    /** @param consumer the worker's consumer now (it changes when the worker reconnects) */
    KeepMembership(Supplier<Consumer<byte[], byte[]>> consumer, EngineMetrics metrics) {
        this.consumer = consumer;
        this.metrics = metrics;
    }

    @Override
    public void tick() {
        Consumer<byte[], byte[]> c = consumer.get();
        c.pause(c.assignment());
        ConsumerRecords<byte[], byte[]> polled = c.poll(Duration.ZERO);
        if (!polled.isEmpty()) {
            Map<TopicPartition, Long> first = new HashMap<>();
            polled.forEach(r -> first.putIfAbsent(new TopicPartition(r.topic(), r.partition()), r.offset()));
            first.forEach(c::seek);
        }
        c.pause(c.assignment());
    }

    @Override
    public void done() {
        Consumer<byte[], byte[]> c = consumer.get();
        c.resume(c.assignment());
        metrics.longStatements.increment();
    }
}
