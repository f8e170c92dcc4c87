package dev.onceflow.engine;

import java.util.Properties;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Makes a worker's Kafka clients. {@link #REAL} makes the {@code read_committed} consumer and the
 * transactional producer the protocol needs; tests of the loop pass Kafka's {@code MockConsumer}
 * and {@code MockProducer} instead. Stateless and thread-safe.
 */
interface KafkaClients {

    /** A worker killed without leaving the group holds its partitions until this passes (Kafka's default: 45 s). */
    int DEFAULT_SESSION_TIMEOUT_MS = 10_000;
    int DEFAULT_HEARTBEAT_INTERVAL_MS = 1_000;
    /** fetch.max.wait.ms of the workers' consumers (ADR 0018); kafka.consumer.fetch.max.wait.ms overrides it. */
    int FETCH_MAX_WAIT_MS = 10;

    Consumer<byte[], byte[]> consumer(String worker, EngineSettings settings);

    /** A producer whose {@code initTransactions()} the caller makes. */
    Producer<byte[], byte[]> producer(String worker, EngineSettings settings);

    KafkaClients REAL = new KafkaClients() {
        @Override
        public Consumer<byte[], byte[]> consumer(String worker, EngineSettings settings) {
            return new KafkaConsumer<>(consumerProps(worker, settings), new ByteArrayDeserializer(), new ByteArrayDeserializer());
        }

        @Override
        public Producer<byte[], byte[]> producer(String worker, EngineSettings settings) {
            return new KafkaProducer<>(producerProps(worker, settings), new ByteArraySerializer(), new ByteArraySerializer());
        }
    };

    static Properties consumerProps(String worker, EngineSettings settings) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, settings.bootstrapServers());
        p.put(ConsumerConfig.GROUP_ID_CONFIG, settings.groupId());
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, worker + "-consumer");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, String.valueOf(settings.maxPollRecords()));
        p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, String.valueOf(DEFAULT_SESSION_TIMEOUT_MS));
        p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, String.valueOf(DEFAULT_HEARTBEAT_INTERVAL_MS));
        // Range assignment gives events-N and tasks-N to the same worker: one key, one consumer.
        p.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, org.apache.kafka.clients.consumer.RangeAssignor.class.getName());
        // A read_committed fetch with nothing stable sits out fetch.max.wait.ms at the broker even
        // after the dispatcher's commit made its events stable: 500 ms by default (ADR 0018).
        p.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, String.valueOf(FETCH_MAX_WAIT_MS));
        p.putAll(settings.consumerOverrides());
        return p;
    }

    static Properties producerProps(String worker, EngineSettings settings) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, settings.bootstrapServers());
        p.put(ProducerConfig.CLIENT_ID_CONFIG, worker + "-producer");
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, settings.transactionalIdPrefix() + "-" + worker + "-"
                + java.util.UUID.randomUUID());
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "2");
        p.put(ProducerConfig.RETRY_BACKOFF_MS_CONFIG, "10");
        // Short: a producer that died or froze with its transaction open blocks read_committed
        // readers of the partitions it wrote until the coordinator aborts it (ADR 0009).
        p.put(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, String.valueOf(settings.transactionTimeoutMs()));
        p.putAll(settings.producerOverrides());
        return p;
    }
}
