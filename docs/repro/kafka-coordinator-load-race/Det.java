import java.io.*;
import java.nio.file.*;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.*;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Deterministic-ish replay of the stall on a copy of a broker data directory whose __consumer_offsets
 * log holds more than 16,384 offsets (for example the soak's):
 *   1. start the broker (a child process, OffsetMetadataManager at DEBUG so that loading is slow);
 *   2. open a transaction that commits an offset for a scratch group (so __consumer_offsets-0 is in it);
 *   3. kill -9 the broker and start it again on the same data;
 *   4. at once, initTransactions() with the same transactional id: the transaction coordinator aborts the
 *      open transaction and writes an ABORT marker to __consumer_offsets-0, i.e. a write to the group
 *      coordinator while it is (re)loading;
 *   5. after it settles, fetch GROUP's offsets with requireStable and without.
 *
 * Det KAFKA_DATA_DIR GROUP
 */
public class Det {
    public static void main(String[] a) throws Exception {
        Path dir = Path.of(a[0]);
        String group = a[1];
        Path props = dir.resolve("server.properties");
        Properties p = new Properties();
        try (InputStream in = Files.newInputStream(props)) {
            p.load(in);
        }
        int port = dev.onceflow.common.local.LocalKafka.freePort();
        int cport = dev.onceflow.common.local.LocalKafka.freePort();
        p.put("log.dirs", dir.resolve("logs").toString());
        p.put("listeners", "PLAINTEXT://localhost:" + port + ",CONTROLLER://localhost:" + cport);
        p.put("advertised.listeners", "PLAINTEXT://localhost:" + port);
        p.put("controller.quorum.voters", "1@localhost:" + cport);
        try (OutputStream o = Files.newOutputStream(props)) {
            p.store(o, "det");
        }
        String bootstrap = "localhost:" + port;
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx768m", "-XX:+UseSerialGC",
            "-Dorg.slf4j.simpleLogger.log.org.apache.kafka.coordinator.group.OffsetMetadataManager=" + System.getProperty("det.omm", "debug"),
            "-Dorg.slf4j.simpleLogger.log.org.apache.kafka.coordinator.common.runtime=info",
            "-Dorg.slf4j.simpleLogger.log.org.apache.kafka.coordinator.common.runtime.SnapshottableCoordinator=debug",
            "-cp", System.getProperty("java.class.path"), "kafka.Kafka", props.toString());
        Process b1 = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(dir.resolve("det-broker-1.log").toFile()).start();
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap, "request.timeout.ms", "5000", "default.api.timeout.ms", "20000"))) {
            await(admin);
            // Wait until the group coordinator has loaded (an offset fetch answers).
            admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(60, TimeUnit.SECONDS);
            log("broker 1 up; " + group + " before: " + brief(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get()));
            // 2. an open transaction with an offset commit for a scratch group
            Properties pp = new Properties();
            pp.put("bootstrap.servers", bootstrap);
            pp.put("transactional.id", "det-open");
            pp.put("transaction.timeout.ms", "600000");
            KafkaProducer<String, String> open = new KafkaProducer<>(pp, new StringSerializer(), new StringSerializer());
            open.initTransactions();
            open.beginTransaction();
            String topic = admin.listTopics().names().get().stream().filter(t -> !t.startsWith("__")).sorted().findFirst().orElseThrow();
            open.sendOffsetsToTransaction(Map.of(new TopicPartition(topic, 0), new OffsetAndMetadata(1)),
                new ConsumerGroupMetadata("det-scratch"));
            log("transaction det-open is open with an offset commit for det-scratch");
            // 3. kill -9 and restart
            b1.destroyForcibly().waitFor();
            open.close(Duration.ZERO);
            log("broker killed");
            Process b2 = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(dir.resolve("det-broker-2.log").toFile()).start();
            try {
                // 4. re-init the same transactional id as soon as the broker answers
                Properties pq = new Properties();
                pq.putAll(pp);
                pq.put("max.block.ms", "120000");
                try (KafkaProducer<String, String> again = new KafkaProducer<>(pq, new StringSerializer(), new StringSerializer())) {
                    again.initTransactions();
                    log("det-open re-initialised (its open transaction aborted)");
                }
                Thread.sleep(Long.getLong("det.settle.ms", 15_000));
                // 5.
                log(group + " plain: " + brief(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS)));
                try {
                    var st = admin.listConsumerGroupOffsets(group, new ListConsumerGroupOffsetsOptions().requireStable(true).timeoutMs(30_000))
                        .partitionsToOffsetAndMetadata().get();
                    log(group + " STABLE: " + brief(st));
                } catch (ExecutionException e) {
                    log(group + " NOT STABLE after 30 s: " + e.getCause());
                }
                // 6. (-Ddet.heal=true) the remedy chaos applies: stop the broker cleanly, start it again, fetch again.
                if (Boolean.getBoolean("det.heal")) {
                    b2.destroy();
                    b2.waitFor(60, TimeUnit.SECONDS);
                    log("broker stopped cleanly (exit " + b2.exitValue() + ")");
                    b2 = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(dir.resolve("det-broker-3.log").toFile()).start();
                    await(admin);
                    Thread.sleep(Long.getLong("det.settle.ms", 15_000));
                    log(group + " plain after the clean restart: "
                        + brief(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS)));
                    try {
                        var st = admin.listConsumerGroupOffsets(group, new ListConsumerGroupOffsetsOptions().requireStable(true).timeoutMs(30_000))
                            .partitionsToOffsetAndMetadata().get();
                        log(group + " STABLE after the clean restart: " + brief(st));
                    } catch (ExecutionException e) {
                        log(group + " NOT STABLE after the clean restart, 30 s: " + e.getCause());
                    }
                }
            } finally {
                if (Boolean.getBoolean("det.keep")) {
                    log("broker left running on " + bootstrap + " (pid " + b2.pid() + ")");
                } else {
                    b2.destroy();
                    b2.waitFor(60, TimeUnit.SECONDS);
                    b2.destroyForcibly();
                }
            }
        }
    }

    static String brief(Map<TopicPartition, OffsetAndMetadata> m) {
        Map<String, Long> o = new TreeMap<>();
        m.forEach((k, v) -> o.put(k.toString(), v == null ? null : v.offset()));
        return o.toString();
    }

    static void await(Admin admin) throws Exception {
        long t0 = System.currentTimeMillis();
        while (true) {
            try {
                admin.describeCluster().nodes().get(5, TimeUnit.SECONDS);
                return;
            } catch (Exception e) {
                if (System.currentTimeMillis() - t0 > 90_000) {
                    throw e;
                }
                Thread.sleep(300);
            }
        }
    }

    static void log(String s) {
        System.out.println(java.time.LocalTime.now() + " " + s);
    }
}
