import java.io.*;
import java.nio.file.*;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.*;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.*;

/**
 * Reduction of the chaos stall: one broker as a child process, N transactional workers
 * (consume "in" read_committed, produce to "out", sendOffsetsToTransaction, commit) as child
 * processes, a feeder; kill -9 the broker (and workers) at random points, restart, and check that
 * the group's offsets become stable again (requireStable) within a deadline.
 *
 * harness: Repro harness DIR ROUNDS SEED [txnVersion|""] [stable|random] [workers] [broker|worker|both]
 * worker:  Repro worker BOOTSTRAP NAME stable|random
 *
 * System properties of the harness: repro.fill (plain offset commits written first, so that loading
 * __consumer_offsets takes a while), repro.partitions (24), repro.settle.ms (15000, wait after a
 * restart before checking), repro.omm / repro.runtime / repro.snap (broker log levels of
 * OffsetMetadataManager, the coordinator runtime and SnapshottableCoordinator), repro.keep (leave
 * the broker running when the stall is found). The harness reports, after each broker restart,
 * committed offsets that went back ("OFFSET WENT BACK") and whether the group's offsets are stable
 * again within 60 s (requireStable); "REPRODUCED" and exit code 3 when they are not.
 */
public class Repro {
    static final String IN = "in", OUT = "out", GROUP = "g";

    public static void main(String[] a) throws Exception {
        if (a[0].equals("worker")) {
            worker(a[1], a[2], a[3]);
        } else {
            harness(Path.of(a[1]), Integer.parseInt(a[2]), Long.parseLong(a[3]), a.length > 4 ? a[4] : "", a.length > 5 ? a[5] : "stable",
                a.length > 6 ? Integer.parseInt(a[6]) : 2, a.length > 7 ? a[7] : "both");
        }
    }

    // ---------------------------------------------------------------- worker
    static void worker(String bootstrap, String name, String ids) throws Exception {
        while (true) {
            String txnId = ids.equals("stable") ? "repro-" + name : "repro-" + name + "-" + UUID.randomUUID();
            Properties c = new Properties();
            c.put("bootstrap.servers", bootstrap);
            c.put("group.id", GROUP);
            c.put("isolation.level", "read_committed");
            c.put("enable.auto.commit", "false");
            c.put("auto.offset.reset", "earliest");
            c.put("max.poll.records", System.getProperty("repro.maxpoll", "20"));
            c.put("session.timeout.ms", "10000");
            c.put("heartbeat.interval.ms", "1000");
            c.put("client.id", name + "-consumer");
            Properties p = new Properties();
            p.put("bootstrap.servers", bootstrap);
            p.put("transactional.id", txnId);
            p.put("transaction.timeout.ms", "10000");
            p.put("client.id", name + "-producer");
            p.put("linger.ms", "5");
            try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(c, new StringDeserializer(), new StringDeserializer());
                 KafkaProducer<String, String> producer = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
                producer.initTransactions();
                consumer.subscribe(List.of(IN));
                log(name + " started, transactional.id " + txnId);
                long n = 0;
                while (true) {
                    ConsumerRecords<String, String> recs = consumer.poll(Duration.ofMillis(200));
                    if (recs.isEmpty()) {
                        continue;
                    }
                    producer.beginTransaction();
                    Map<TopicPartition, OffsetAndMetadata> offs = new HashMap<>();
                    for (ConsumerRecord<String, String> r : recs) {
                        producer.send(new ProducerRecord<>(OUT, r.key(), r.value()));
                        offs.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
                    }
                    producer.sendOffsetsToTransaction(offs, consumer.groupMetadata());
                    producer.commitTransaction();
                    n += recs.count();
                    if (n % 5000 < recs.count()) {
                        log(name + " processed " + n);
                    }
                }
            } catch (Exception e) {
                log(name + " restarting after " + e);
                Thread.sleep(1000);
            }
        }
    }

    static void log(String s) {
        System.out.println(java.time.LocalTime.now() + " " + s);
        System.out.flush();
    }

    // ---------------------------------------------------------------- harness
    static final class Child {
        final String name;
        final List<String> cmd;
        final Path logs;
        Process p;
        int starts;

        Child(String name, List<String> cmd, Path logs) {
            this.name = name;
            this.cmd = cmd;
            this.logs = logs;
        }

        void start() throws IOException {
            starts++;
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(logs.resolve(name + "-" + starts + ".log").toFile());
            p = pb.start();
        }

        void kill9() throws Exception {
            p.destroyForcibly();
            p.waitFor();
        }
    }

    static List<String> java(String heap, List<String> sysProps, String main, List<String> args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("-Xmx" + heap);
        cmd.add("-XX:+UseSerialGC");
        cmd.add("-XX:TieredStopAtLevel=1");
        cmd.addAll(sysProps);
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(main);
        cmd.addAll(args);
        return cmd;
    }

    static void harness(Path dir, int rounds, long seed, String txnVersion, String ids, int workers, String kills) throws Exception {
        Random rnd = new Random(seed);
        Files.createDirectories(dir);
        Path logs = Files.createDirectories(dir.resolve("logs"));
        Path kafkaDir = Files.createDirectories(dir.resolve("kafka"));
        int port = dev.onceflow.common.local.LocalKafka.freePort();
        int cport = dev.onceflow.common.local.LocalKafka.freePort();
        Map<String, String> props = dev.onceflow.common.local.LocalKafka.brokerProperties(kafkaDir.resolve("logs"), port, cport);
        String extra = System.getenv().getOrDefault("REPRO_BROKER_PROPS", "");
        for (String kv : extra.split(",")) {
            if (kv.contains("=")) {
                props.put(kv.substring(0, kv.indexOf('=')), kv.substring(kv.indexOf('=') + 1));
            }
        }
        Properties pp = new Properties();
        pp.putAll(props);
        Path serverProps = kafkaDir.resolve("server.properties");
        try (OutputStream o = Files.newOutputStream(serverProps)) {
            pp.store(o, "repro");
        }
        List<String> fmt = new ArrayList<>(List.of("format", "--config", serverProps.toString(), "--cluster-id",
            org.apache.kafka.common.Uuid.randomUuid().toString(), "--ignore-formatted"));
        if (!txnVersion.isEmpty()) {
            fmt.addAll(List.of("--feature", "transaction.version=" + txnVersion));
        }
        int rc = kafka.tools.StorageTool.execute(fmt.toArray(new String[0]), System.out);
        if (rc != 0) {
            throw new IllegalStateException("format " + rc);
        }
        String bootstrap = "localhost:" + port;
        List<String> brokerLog = List.of(
            "-Dorg.slf4j.simpleLogger.log.org.apache.kafka.coordinator.group.OffsetMetadataManager=" + System.getProperty("repro.omm", "info"),
            "-Dorg.slf4j.simpleLogger.log.org.apache.kafka.coordinator.common.runtime=" + System.getProperty("repro.runtime", "info"),
            "-Dorg.slf4j.simpleLogger.log.org.apache.kafka.coordinator.common.runtime.SnapshottableCoordinator=" + System.getProperty("repro.snap", "info"),
            "-Dorg.slf4j.simpleLogger.log.kafka.coordinator.transaction=debug",
            "-Dorg.slf4j.simpleLogger.log.org.apache.kafka.coordinator.transaction=debug",
            "-Dorg.slf4j.simpleLogger.log.kafka.server.ReplicaManager=off");
        Child broker = new Child("broker", java("768m", brokerLog, "kafka.Kafka", List.of(serverProps.toString())), logs);
        broker.start();
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap, "default.api.timeout.ms", "20000", "request.timeout.ms", "5000"))) {
            awaitBroker(admin);
            admin.createTopics(List.of(new NewTopic(IN, Integer.getInteger("repro.partitions", 24), (short) 1), new NewTopic(OUT, Integer.getInteger("repro.partitions", 24), (short) 1))).all().get();
            int fill = Integer.getInteger("repro.fill", 0);
            if (fill > 0) {
                fillOffsets(bootstrap, fill);
            }
            List<Child> ws = new ArrayList<>();
            for (int i = 1; i <= workers; i++) {
                Child w = new Child("w" + i, java("256m", List.of("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn"), "Repro",
                    List.of("worker", bootstrap, "w" + i, ids)), logs);
                w.start();
                ws.add(w);
            }
            AtomicBoolean feeding = new AtomicBoolean(true);
            Thread feeder = new Thread(() -> feed(bootstrap, feeding), "feeder");
            feeder.setDaemon(true);
            feeder.start();
            Thread.sleep(15_000);
            for (int round = 1; round <= rounds; round++) {
                // A random fault: kill -9 the broker, a worker, or both close together.
                int kind = kills.equals("broker") ? 0 : kills.equals("worker") ? 1 : rnd.nextInt(3);
                long wait = 2000 + rnd.nextInt(8000);
                Thread.sleep(wait);
                if (kind == 1 || kind == 2) {
                    Child w = ws.get(rnd.nextInt(ws.size()));
                    w.kill9();
                    log("round " + round + ": killed " + w.name);
                    if (kind == 2) {
                        Thread.sleep(rnd.nextInt(1500));
                    }
                    w.start();
                }
                Map<TopicPartition, OffsetAndMetadata> before = null;
                if (kind == 0 || kind == 2) {
                    try {
                        before = admin.listConsumerGroupOffsets(GROUP).partitionsToOffsetAndMetadata().get(5, TimeUnit.SECONDS);
                    } catch (Exception e) {
                        log("could not read offsets before the kill: " + e);
                    }
                    broker.kill9();
                    log("round " + round + ": killed broker (start " + broker.starts + ")");
                    Thread.sleep(500 + rnd.nextInt(3000));
                    broker.start();
                    awaitBroker(admin);
                    log("round " + round + ": broker back (start " + broker.starts + ")");
                    if (before != null) {
                        Map<TopicPartition, OffsetAndMetadata> after = null;
                        for (int i = 0; i < 20 && after == null; i++) {
                            try {
                                after = admin.listConsumerGroupOffsets(GROUP).partitionsToOffsetAndMetadata().get(5, TimeUnit.SECONDS);
                            } catch (Exception e) {
                                Thread.sleep(500);
                            }
                        }
                        if (after != null) {
                            for (var e : before.entrySet()) {
                                OffsetAndMetadata now = after.get(e.getKey());
                                if (now == null || now.offset() < e.getValue().offset()) {
                                    log("round " + round + ": OFFSET WENT BACK " + e.getKey() + " " + e.getValue().offset() + " -> " + (now == null ? null : now.offset()));
                                }
                            }
                        }
                    }
                }
                // Let the coordinator settle (its load, and any reload, finishes in a few seconds), then:
                // stable again within 60 s?
                Thread.sleep(Long.getLong("repro.settle.ms", 15_000));
                long t0 = System.currentTimeMillis();
                String last = null;
                boolean stable = false;
                while (System.currentTimeMillis() - t0 < 60_000) {
                    try {
                        admin.listConsumerGroupOffsets(GROUP, new ListConsumerGroupOffsetsOptions().requireStable(true).timeoutMs(10_000))
                            .partitionsToOffsetAndMetadata().get();
                        stable = true;
                        break;
                    } catch (Exception e) {
                        last = String.valueOf(e.getCause() == null ? e : e.getCause());
                    }
                }
                log("round " + round + ": group offsets " + (stable ? "stable after " + (System.currentTimeMillis() - t0) + " ms"
                    : "NOT stable within 60 s: " + last));
                if (!stable) {
                    log("REPRODUCED in round " + round + "; plain offsets " + admin.listConsumerGroupOffsets(GROUP).partitionsToOffsetAndMetadata().get());
                    try {
                        log("open transactions: " + admin.listTransactions().all().get());
                    } catch (Exception e) {
                        log("listTransactions: " + e);
                    }
                    feeding.set(false);
                    for (Child w : ws) {
                        w.kill9();
                    }
                    if (!Boolean.getBoolean("repro.keep")) {
                        broker.p.destroy();
                        broker.p.waitFor();
                    }
                    System.exit(3);
                }
            }
            log("no stall in " + rounds + " rounds");
            feeding.set(false);
            for (Child w : ws) {
                w.kill9();
            }
        } finally {
            broker.p.destroy();
            broker.p.waitFor(60, TimeUnit.SECONDS);
            broker.p.destroyForcibly();
        }
    }

    /** Writes about {@code records} plain offset commit records for a filler group, so that loading __consumer_offsets takes a while. */
    static void fillOffsets(String bootstrap, int records) {
        Properties c = new Properties();
        c.put("bootstrap.servers", bootstrap);
        c.put("group.id", "filler");
        c.put("enable.auto.commit", "false");
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(c, new StringDeserializer(), new StringDeserializer())) {
            int n = Integer.getInteger("repro.partitions", 24);
            consumer.subscribe(List.of(OUT));
            while (consumer.assignment().size() < n) {
                consumer.poll(Duration.ofMillis(200));
            }
            Map<TopicPartition, OffsetAndMetadata> offs = new HashMap<>();
            long written = 0, i = 0;
            while (written < records) {
                i++;
                for (int p = 0; p < n; p++) {
                    offs.put(new TopicPartition(OUT, p), new OffsetAndMetadata(i));
                }
                consumer.commitSync(offs);
                written += n;
            }
            log("filled __consumer_offsets with " + written + " offset commit records");
        }
    }

    static void awaitBroker(Admin admin) throws Exception {
        long t0 = System.currentTimeMillis();
        while (true) {
            try {
                admin.describeCluster().nodes().get(5, TimeUnit.SECONDS);
                admin.listTopics().names().get(5, TimeUnit.SECONDS);
                return;
            } catch (Exception e) {
                if (System.currentTimeMillis() - t0 > 90_000) {
                    throw new IllegalStateException("broker did not come back", e);
                }
                Thread.sleep(300);
            }
        }
    }

    static void feed(String bootstrap, AtomicBoolean feeding) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("linger.ms", "5");
        p.put("delivery.timeout.ms", "120000");
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
            long i = 0;
            while (feeding.get()) {
                producer.send(new ProducerRecord<>(IN, "k" + (i % 1000), "v" + i));
                i++;
                if (i % 20 == 0) {
                    Thread.sleep(10); // about 2000 records/s
                }
            }
        } catch (Exception e) {
            log("feeder stopped: " + e);
        }
    }
}
