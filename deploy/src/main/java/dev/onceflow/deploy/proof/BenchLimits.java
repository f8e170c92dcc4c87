package dev.onceflow.deploy.proof;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;
import javax.sql.DataSource;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * The machine's limits for the benchmark's ratios, on the same broker and database: a bare Kafka
 * transactional consume-transform-produce loop (no database), and bare batched durable inserts
 * (no Kafka). Onceflow does both for every record, so these bound what it can reach.
 */
final class BenchLimits {

    private BenchLimits() {
    }

    /**
     * Records/s copied by {@code workers} transactional loops with {@code batch} records per transaction, on topics
     * of {@code replication} replicas (the brokers' {@code min.insync.replicas} applies).
     */
    static double kafka(String bootstrap, int records, int batch, int workers, int replication) throws Exception {
        String in = "bench.limit.in." + UUID.randomUUID().toString().substring(0, 6);
        String outTopic = in.replace(".in.", ".out.");
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap))) {
            admin.createTopics(List.of(new NewTopic(in, 6, (short) replication), new NewTopic(outTopic, 6, (short) replication))).all().get();
        }
        byte[] value = new byte[300];
        // The input is loaded before the clock starts; a plain (non-idempotent) producer suffices.
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
                ProducerConfig.LINGER_MS_CONFIG, "5", ProducerConfig.ACKS_CONFIG, "1",
                ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "false"), new ByteArraySerializer(), new ByteArraySerializer())) {
            for (int i = 0; i < records; i++) {
                p.send(new ProducerRecord<>(in, ("k" + i).getBytes(), value));
            }
        }
        AtomicLong copied = new AtomicLong();
        String group = "bench-limit-" + UUID.randomUUID();
        // Timed from the first batch received, so the group's first rebalance is not counted.
        AtomicLong firstBatch = new AtomicLong(Long.MAX_VALUE);
        List<Thread> threads = new ArrayList<>();
        for (int w = 0; w < workers; w++) {
            int id = w;
            Thread t = new Thread(() -> copyLoop(bootstrap, in, outTopic, group, batch, records, copied, id, firstBatch, workers));
            threads.add(t);
            t.start();
        }
        for (Thread t : threads) {
            t.join();
        }
        return BenchCommand.round(copied.get() / ((System.nanoTime() - firstBatch.get()) / 1e9), 1);
    }

    private static void copyLoop(String bootstrap, String in, String out, String group, int batch, int total,
                                 AtomicLong copied, int id, AtomicLong firstBatch, int workers) {
        Map<String, Object> c = new HashMap<>();
        c.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        c.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        c.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, String.valueOf(batch));
        Map<String, Object> p = new HashMap<>();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, group + "-" + id);
        p.put(ProducerConfig.LINGER_MS_CONFIG, "2");
        p.put(ProducerConfig.RETRY_BACKOFF_MS_CONFIG, "10");
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(c, new ByteArrayDeserializer(), new ByteArrayDeserializer());
             KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
            producer.initTransactions();
            // Fixed partitions per loop (no group rebalances mid-measurement); offsets still go
            // through the transaction with the group's metadata, as the engine's do.
            List<TopicPartition> mine = new ArrayList<>();
            for (int part = id; part < 6; part += workers) {
                mine.add(new TopicPartition(in, part));
            }
            consumer.assign(mine);
            long idleSince = System.currentTimeMillis();
            while (copied.get() < total && System.currentTimeMillis() - idleSince < 10_000) {
                ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofMillis(200));
                if (records.isEmpty()) {
                    continue;
                }
                idleSince = System.currentTimeMillis();
                long now = System.nanoTime();
                firstBatch.accumulateAndGet(now, Math::min);
                producer.beginTransaction();
                Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
                for (ConsumerRecord<byte[], byte[]> r : records) {
                    producer.send(new ProducerRecord<>(out, r.key(), r.value()));
                    offsets.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
                }
                producer.sendOffsetsToTransaction(offsets, consumer.groupMetadata());
                producer.commitTransaction();
                copied.addAndGet(records.count());
            }
        }
    }

    /** Rows/s inserted by one connection, {@code perCommit} rows per durable commit. */
    static double postgres(DataSource ds, int rows, int perCommit) throws Exception {
        try (Connection c = ds.getConnection()) {
            try (Statement s = c.createStatement()) {
                s.execute("CREATE TABLE bench_limit (id bigserial PRIMARY KEY, event_key text NOT NULL, node text NOT NULL)");
            }
            c.setAutoCommit(false);
            long start = System.nanoTime();
            try (PreparedStatement ins = c.prepareStatement("INSERT INTO bench_limit (event_key, node) VALUES (?, ?)")) {
                for (int i = 0; i < rows; i++) {
                    ins.setString(1, "bench-limit@" + i);
                    ins.setString(2, "a");
                    ins.addBatch();
                    if ((i + 1) % perCommit == 0) {
                        ins.executeBatch();
                        c.commit();
                    }
                }
                ins.executeBatch();
                c.commit();
            }
            return BenchCommand.round(rows / ((System.nanoTime() - start) / 1e9), 1);
        }
    }
}
