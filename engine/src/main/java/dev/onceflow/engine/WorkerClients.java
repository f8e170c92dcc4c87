package dev.onceflow.engine;

import dev.onceflow.common.Topics;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Kafka side of one engine worker: its consumer of {@value Topics#EVENTS} and
 * {@value Topics#TASKS} ({@link Ownership} as its rebalance listener), its transactional producer,
 * and the {@link TwoCommits} over both. Opened together and closed together: a fenced producer or
 * a failed abort ends both, and the group restarts the worker from its committed offsets. Used by
 * the worker's thread only, except {@link #wakeup()}.
 */
final class WorkerClients {

    private static final Logger LOG = LoggerFactory.getLogger(WorkerClients.class);

    private final String worker;
    private final EngineSettings settings;
    private final KafkaClients factory;
    private final Ownership ownership;
    private volatile Consumer<byte[], byte[]> consumer;
    private Producer<byte[], byte[]> producer;
    private TwoCommits commits;
    /** Whether {@link #holdBack} paused the partitions. */
    private boolean held;

    WorkerClients(String worker, EngineSettings settings, KafkaClients factory, Ownership ownership) {
        this.worker = worker;
        this.settings = settings;
        this.factory = factory;
        this.ownership = ownership;
    }

    /** Opens what is not open: the producer (its transactions initialised), then the consumer, subscribed. */
    void open() {
        if (producer == null) {
            producer = factory.producer(worker, settings);
            producer.initTransactions();
        }
        if (consumer == null) {
            consumer = factory.consumer(worker, settings);
            ownership.attach(consumer);
            consumer.subscribe(List.of(Topics.EVENTS, Topics.TASKS), ownership);
        }
        if (commits == null) {
            commits = new TwoCommits(producer, consumer::groupMetadata);
        }
    }

    Consumer<byte[], byte[]> consumer() {
        return consumer;
    }

    TwoCommits commits() {
        return commits;
    }

    /**
     * Back-pressure: pauses every owned partition (newly assigned ones too) while {@code hold},
     * resumes them once not. The consumer keeps polling either way, so the group sees a live member.
     */
    void holdBack(boolean hold) {
        if (hold) {
            if (!held) {
                LOG.warn("Engine worker {}: http calls wait over a sixth of engine.lease.grace.ms for one of "
                        + "engine.http.concurrency slots, or {} long statements for one of engine.sql.long.concurrency; its "
                        + "partitions pause until they catch up", worker, LongStatements.BACKLOG);
            }
            consumer.pause(consumer.assignment());
            held = true;
        } else if (held) {
            LOG.info("Engine worker {}: http calls and long statements caught up; its partitions resume", worker);
            consumer.resume(consumer.assignment());
            held = false;
        }
    }

    /** Any thread: the worker's poll (or a commit that waits) throws {@code WakeupException}. */
    void wakeup() {
        Consumer<byte[], byte[]> c = consumer;
        if (c != null) {
            c.wakeup();
        }
    }

    /**
     * Aborts the open Kafka transaction and seeks back to the first of these records on each
     * partition still owned, so the next poll returns them again. If the abort fails the producer
     * is unusable: the exception goes to the worker, which closes the clients, and the new
     * consumer starts from the committed offsets.
     */
    void rewind(List<ConsumerRecord<byte[], byte[]>> records) {
        commits.abort();
        Map<TopicPartition, Long> first = new HashMap<>();
        for (ConsumerRecord<byte[], byte[]> r : records) {
            first.putIfAbsent(new TopicPartition(r.topic(), r.partition()), r.offset());
        }
        first.forEach((tp, offset) -> {
            if (consumer.assignment().contains(tp)) {
                consumer.seek(tp, offset);
            }
        });
    }

    void close() {
        if (producer != null) {
            try {
                if (commits != null) {
                    commits.abort();
                }
            } catch (RuntimeException e) {
                LOG.debug("Abort on close failed", e);
            }
            commits = null;
            producer.close(Duration.ofSeconds(5));
            producer = null;
        }
        if (consumer != null) {
            // close() leaves the group, so its partitions move at once instead of after the session timeout.
            try {
                consumer.close(CloseOptions.timeout(Duration.ofSeconds(5)));
            } catch (RuntimeException e) {
                LOG.debug("Consumer close failed", e);
            }
            consumer = null;
            held = false;
            ownership.detach();
        }
    }
}
