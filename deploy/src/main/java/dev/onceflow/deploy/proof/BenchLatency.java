package dev.onceflow.deploy.proof;

import dev.onceflow.common.Json;
import dev.onceflow.common.Topics;
import dev.onceflow.common.TriggerRecord;
import dev.onceflow.common.workflow.Workflow;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.ToLongFunction;
import javax.sql.DataSource;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * The latency workload of {@code onceflow bench} (issue 13): w1 executions published at a fixed
 * low rate, each timed end to end (trigger record timestamp → {@code executions.finished_at}) and
 * hop by hop, next to the bare floors of the same broker and database measured in the same run:
 * one record produced in a Kafka transaction until a {@code read_committed} consumer sees it, and
 * one durable PostgreSQL commit.
 *
 * <p>The hops come from times the path already leaves: the trigger record's timestamp, the wall
 * time a {@code read_committed} observer in this process first sees the event on
 * {@value Topics#EVENTS} (the dispatcher's transaction committed), {@code executions.created_at}
 * (the engine's batch transaction began, {@code now()}), {@code executions.finished_at} (the engine's
 * clock just before its PostgreSQL commit) and the time the observer sees the outcome on
 * {@value Topics#OUTCOMES} (the engine's Kafka transaction committed). One host, one clock.
 */
final class BenchLatency {

    private static final int FLOOR_SAMPLES = 300;

    private final String bootstrap;
    private final DataSource ds;
    private final PrintStream out;

    BenchLatency(String bootstrap, DataSource ds, PrintStream out) {
        this.bootstrap = bootstrap;
        this.ds = ds;
        this.out = out;
    }

    /** The floors: p50/p99 of a bare transactional hop and of a bare durable commit, in ms. */
    Map<String, Object> floors() throws Exception {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("kafka_transactional_hop_ms", percentiles(kafkaHop()));
        r.put("postgres_durable_commit_ms", percentiles(postgresCommit()));
        return r;
    }

    /**
     * Publishes {@code ratePerS} trigger records a second for {@code seconds} to {@code wf}, one at
     * a time (no batching on the way in), and reports the latencies once all finished.
     */
    Map<String, Object> run(Workflow wf, double ratePerS, int seconds) throws Exception {
        int n = (int) Math.round(ratePerS * seconds);
        Map<String, Long> eventSeen = new ConcurrentHashMap<>();
        Map<String, Long> outcomeSeen = new ConcurrentHashMap<>();
        Observer observer = new Observer(wf.id(), eventSeen, outcomeSeen);
        observer.start();
        try {
            Properties pp = new Properties();
            pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            pp.put(ProducerConfig.LINGER_MS_CONFIG, "0");
            pp.put(ProducerConfig.ACKS_CONFIG, "all");
            try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(pp, new ByteArraySerializer(), new ByteArraySerializer())) {
                long start = System.nanoTime();
                for (int i = 0; i < n; i++) {
                    long wait = start + (long) (i * 1e9 / ratePerS) - System.nanoTime();
                    if (wait > 0) {
                        TimeUnit.NANOSECONDS.sleep(wait);
                    }
                    String id = "l" + i;
                    byte[] value = new TriggerRecord(wf.id(), id, Instant.ofEpochMilli(2_000_000 + i),
                            Json.MAPPER.createObjectNode().put("n", i)).toBytes();
                    producer.send(new ProducerRecord<>(Topics.TRIGGERS, null, System.currentTimeMillis(),
                            id.getBytes(StandardCharsets.UTF_8), value));
                }
                producer.flush();
            }
            long deadline = System.currentTimeMillis() + 120_000;
            while (outcomeSeen.size() < n && System.currentTimeMillis() < deadline) {
                Thread.sleep(100);
            }
        } finally {
            observer.close();
        }
        return figures(wf.id(), n, eventSeen, outcomeSeen);
    }

    private Map<String, Object> figures(String workflow, int n, Map<String, Long> eventSeen, Map<String, Long> outcomeSeen)
            throws SQLException {
        List<long[]> rows = new ArrayList<>(); // published, event seen, created, finished, outcome seen (epoch ms)
        try (Connection c = ds.getConnection();
             PreparedStatement q = c.prepareStatement("SELECT event_key, (extract(epoch FROM published_at) * 1000)::bigint, "
                     + "(extract(epoch FROM created_at) * 1000)::bigint, (extract(epoch FROM finished_at) * 1000)::bigint "
                     + "FROM executions WHERE workflow_id = ? AND finished_at IS NOT NULL")) {
            q.setString(1, workflow);
            try (ResultSet rs = q.executeQuery()) {
                while (rs.next()) {
                    String key = rs.getString(1);
                    rows.add(new long[] {rs.getLong(2), eventSeen.getOrDefault(key, -1L), rs.getLong(3), rs.getLong(4),
                            outcomeSeen.getOrDefault(key, -1L)});
                }
            }
        }
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("executions", rows.size());
        r.put("published", n);
        Map<String, Object> e2e = percentiles(column(rows, x -> x[3] - x[0]));
        r.put("end_to_end_ms", e2e);
        List<long[]> seen = rows.stream().filter(x -> x[1] >= 0 && x[4] >= 0).toList();
        Map<String, Object> hops = new LinkedHashMap<>();
        hops.put("trigger_to_event_committed", percentiles(column(seen, x -> x[1] - x[0])));
        hops.put("event_committed_to_engine_transaction", percentiles(column(seen, x -> x[2] - x[1])));
        hops.put("engine_transaction_to_postgres_commit", percentiles(column(seen, x -> x[3] - x[2])));
        hops.put("postgres_commit_to_outcome_committed", percentiles(column(seen, x -> x[4] - x[3])));
        r.put("hops_ms", hops);
        r.put("hops_observed", seen.size());
        return r;
    }

    private static long[] column(List<long[]> rows, ToLongFunction<long[]> f) {
        return rows.stream().mapToLong(f).toArray();
    }

    /** p50/p95/p99/max of the samples (ms), nearest rank. */
    static Map<String, Object> percentiles(long[] samples) {
        Map<String, Object> r = new LinkedHashMap<>();
        if (samples.length == 0) {
            return r;
        }
        long[] s = samples.clone();
        Arrays.sort(s);
        r.put("p50", rank(s, 0.50));
        r.put("p95", rank(s, 0.95));
        r.put("p99", rank(s, 0.99));
        r.put("max", s[s.length - 1]);
        return r;
    }

    private static long rank(long[] sorted, double q) {
        int i = (int) Math.ceil(q * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, i))];
    }

    /** A transaction of one record, committed, until a read_committed consumer polls it; ms each. */
    private long[] kafkaHop() throws Exception {
        // Under onceflow-: the dispatcher's user-topic pattern does not pick it up.
        String topic = "onceflow-bench-floor-" + UUID.randomUUID().toString().substring(0, 8);
        Properties ap = new Properties();
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        try (Admin admin = Admin.create(ap)) {
            // The broker's default replication: 1 on the embedded broker, 3 with bench --brokers 3 (whose
            // min.insync.replicas 2 would refuse a topic of one replica).
            admin.createTopics(List.of(new NewTopic(topic, java.util.Optional.of(1), java.util.Optional.empty())))
                    .all().get(30, TimeUnit.SECONDS);
        }
        Properties pp = new Properties();
        pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        pp.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, topic);
        pp.put(ProducerConfig.LINGER_MS_CONFIG, "0");
        Properties cp = consumerProps();
        TopicPartition tp = new TopicPartition(topic, 0);
        long[] samples = new long[FLOOR_SAMPLES];
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(pp, new ByteArraySerializer(), new ByteArraySerializer());
             KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(cp, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            producer.initTransactions();
            consumer.assign(List.of(tp));
            consumer.seekToEnd(List.of(tp));
            consumer.position(tp);
            for (int i = -30; i < FLOOR_SAMPLES; i++) { // 30 to warm up
                long t0 = System.nanoTime();
                producer.beginTransaction();
                producer.send(new ProducerRecord<>(topic, new byte[] {1}));
                producer.commitTransaction();
                int got = 0;
                while (got == 0) {
                    got = consumer.poll(Duration.ofMillis(1000)).count();
                }
                if (i >= 0) {
                    samples[i] = (System.nanoTime() - t0) / 1_000_000;
                }
            }
        }
        return samples;
    }

    /** One single-row INSERT committed durably (fsync on, synchronous_commit on); ms each. */
    private long[] postgresCommit() throws SQLException {
        long[] samples = new long[FLOOR_SAMPLES];
        try (Connection c = ds.getConnection()) {
            try (Statement st = c.createStatement()) {
                st.execute("CREATE TABLE IF NOT EXISTS bench_floor (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())");
            }
            c.setAutoCommit(false);
            try (PreparedStatement ins = c.prepareStatement("INSERT INTO bench_floor DEFAULT VALUES")) {
                for (int i = -30; i < FLOOR_SAMPLES; i++) {
                    long t0 = System.nanoTime();
                    ins.executeUpdate();
                    c.commit();
                    if (i >= 0) {
                        samples[i] = (System.nanoTime() - t0) / 1_000_000;
                    }
                }
            }
        }
        return samples;
    }

    /**
     * The consumer of the floor and of the observer: {@code read_committed}, and a short fetch wait
     * so that it does not itself add the 500 ms default a read_committed fetch can sit out.
     */
    private Properties consumerProps() {
        Properties cp = new Properties();
        cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        cp.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        cp.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, "5");
        return cp;
    }

    /** Notes the first time each key of {@code workflow} is seen committed on the events and outcomes topics. */
    private final class Observer implements AutoCloseable {
        private final String prefix;
        private final Map<String, Long> eventSeen;
        private final Map<String, Long> outcomeSeen;
        private final Thread thread;
        private volatile boolean running = true;
        private final java.util.concurrent.CountDownLatch positioned = new java.util.concurrent.CountDownLatch(1);
        private volatile Throwable failure;

        Observer(String workflow, Map<String, Long> eventSeen, Map<String, Long> outcomeSeen) {
            this.prefix = workflow + "@";
            this.eventSeen = eventSeen;
            this.outcomeSeen = outcomeSeen;
            this.thread = new Thread(this::observe, "bench-latency-observer");
            this.thread.setDaemon(true);
        }

        void start() throws InterruptedException {
            thread.start();
            if (!positioned.await(60, TimeUnit.SECONDS)) {
                throw new IllegalStateException("the latency observer did not reach the topics' ends within 60 s: " + failure);
            }
        }

        private void observe() {
            try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(consumerProps(), new ByteArrayDeserializer(),
                    new ByteArrayDeserializer())) {
                List<TopicPartition> parts = new ArrayList<>();
                for (String topic : List.of(Topics.EVENTS, Topics.OUTCOMES)) {
                    for (PartitionInfo p : consumer.partitionsFor(topic)) {
                        parts.add(new TopicPartition(topic, p.partition()));
                    }
                }
                consumer.assign(parts);
                consumer.seekToEnd(parts);
                parts.forEach(consumer::position);
                positioned.countDown();
                while (running) {
                    for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(100))) {
                        long now = System.currentTimeMillis();
                        if (r.key() == null) {
                            continue;
                        }
                        // Events are keyed by their ordering key (ADR 0020); their event key, what outcomes are keyed
                        // by, travels in the onceflow.event.key header (absent on events keyed by it).
                        String key = dev.onceflow.common.ByKeyRecord.eventKey(r.key(), r.headers());
                        if (key.startsWith(prefix)) {
                            (r.topic().equals(Topics.EVENTS) ? eventSeen : outcomeSeen).putIfAbsent(key, now);
                        }
                    }
                }
            } catch (Throwable e) {
                failure = e;
                positioned.countDown();
            }
        }

        @Override
        public void close() throws InterruptedException {
            running = false;
            thread.join(10_000);
        }
    }

    void print(String label, Map<String, Object> r) {
        out.printf("  %s: end to end %s ms; hops %s%n", label, r.get("end_to_end_ms"), r.get("hops_ms"));
    }
}
