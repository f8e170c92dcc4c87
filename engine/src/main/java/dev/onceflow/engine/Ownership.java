package dev.onceflow.engine;

import java.util.Collection;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.TopicPartition;

/**
 * What a worker's consumer owns, for the gauges and readiness: its partitions, their lag, its
 * heartbeat. Written by the worker's thread (after each poll, and in the rebalance callbacks the
 * poll runs), read by a metrics scrape or a health check on any thread.
 */
final class Ownership implements ConsumerRebalanceListener {

    private final EngineMetrics metrics;
    /** Records not yet consumed per owned partition, from the fetched end offsets (no request of its own). */
    private final Map<TopicPartition, Long> lag = new ConcurrentHashMap<>();
    private volatile int assigned;
    /** The consumer's metrics (KafkaConsumer.metrics() is not for other threads; a metric's value is). */
    private volatile Map<MetricName, ? extends Metric> consumerMetrics = Map.of();
    private Consumer<?, ?> consumer;

    Ownership(EngineMetrics metrics) {
        this.metrics = metrics;
    }

    /** The worker's new consumer, before it subscribes with this listener. */
    void attach(Consumer<?, ?> c) {
        consumer = c;
        consumerMetrics = Map.copyOf(c.metrics());
    }

    /** The consumer was closed: its partitions are someone else's now. */
    void detach() {
        consumer = null;
        lag.clear();
    }

    void afterPoll() {
        for (TopicPartition tp : consumer.assignment()) {
            java.util.OptionalLong l = consumer.currentLag(tp);
            if (l.isPresent()) {
                lag.put(tp, l.getAsLong());
            }
        }
    }

    Map<TopicPartition, Long> lag() {
        return lag;
    }

    int assigned() {
        return assigned;
    }

    double heartbeatAgeSeconds() {
        return dev.onceflow.common.http.RoleServer.heartbeatAgeSeconds(consumerMetrics);
    }

    @Override
    public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
        metrics.countPartitionsRevoked(partitions.size());
        lag.keySet().removeAll(partitions);
        assigned = consumer.assignment().size() - partitions.size();
    }

    @Override
    public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
        assigned = consumer.assignment().size();
    }

    @Override
    public void onPartitionsLost(Collection<TopicPartition> partitions) {
        metrics.countPartitionsRevoked(partitions.size());
        lag.keySet().removeAll(partitions);
        assigned = 0;
    }
}
