package dev.onceflow.deploy.proof;

import static org.assertj.core.api.Assertions.assertThat;

import dev.onceflow.deploy.Fleet;
import dev.onceflow.deploy.TestInfra;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The freeze fault and its measurement, on a plain consumer group: a consumer in its own process
 * (the victim) and one in this JVM share a 2-partition topic that receives records all along;
 * freezing the victim (SIGSTOP) past the session timeout must show it evicted after about the
 * session timeout, name the partition it held, and show that partition's committed offset moving
 * again before the thaw — the survivor took it over. What the chaos summary reports for each
 * {@code freeze-engine}, proven measurable here without the whole fleet.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class ChaosFreezeIT {

    /** The victim: one consumer of the group that commits what it reads, until killed. */
    public static void main(String[] args) {
        try (KafkaConsumer<byte[], byte[]> c = consumer(args[0], args[2], "victim")) {
            c.subscribe(List.of(args[1]));
            while (true) {
                if (!c.poll(Duration.ofMillis(200)).isEmpty()) {
                    c.commitSync();
                }
            }
        }
    }

    private static KafkaConsumer<byte[], byte[]> consumer(String bootstrap, String group, String name) {
        return new KafkaConsumer<>(Map.of(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap, ConsumerConfig.GROUP_ID_CONFIG, group,
                ConsumerConfig.CLIENT_ID_CONFIG, name, ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false",
                ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest", ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "10000",
                ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "1000"), new ByteArrayDeserializer(), new ByteArrayDeserializer());
    }

    @Test
    void aFrozenConsumerIsEvictedAndItsPartitionMovesOnBeforeTheThaw(@TempDir Path tmp) throws Exception {
        TestInfra infra = TestInfra.embedded();
        String topic = Fleet.uniqueId("chaos-freeze");
        String group = Fleet.uniqueId("chaos-freeze-group");
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, infra.bootstrap()))) {
            admin.createTopics(List.of(new NewTopic(topic, 2, (short) 1))).all().get();
        }
        AtomicBoolean running = new AtomicBoolean(true);
        Thread producer = new Thread(() -> {
            try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
                    infra.bootstrap(), ProducerConfig.LINGER_MS_CONFIG, 50), new ByteArraySerializer(), new ByteArraySerializer())) {
                // One record at a time, each acknowledged: paced by the broker's answers, records all along.
                for (long i = 0; running.get(); i++) {
                    p.send(new ProducerRecord<>(topic, (int) (i % 2), null, new byte[] {1})).get();
                }
            } catch (InterruptedException | java.util.concurrent.ExecutionException e) {
                throw new IllegalStateException(e);
            }
        }, "chaos-freeze-producer");
        Thread survivor = new Thread(() -> {
            try (KafkaConsumer<byte[], byte[]> c = consumer(infra.bootstrap(), group, "survivor")) {
                c.subscribe(List.of(topic));
                while (running.get()) {
                    if (!c.poll(Duration.ofMillis(200)).isEmpty()) {
                        c.commitSync();
                    }
                }
            }
        }, "chaos-freeze-survivor");
        ChildProcess victim = new ChildProcess("victim", ChildProcess.java("128m", ChaosFreezeIT.class.getName(),
                List.of(infra.bootstrap(), topic, group)), Map.of(), Files.createDirectories(tmp.resolve("logs")));
        producer.start();
        survivor.start();
        victim.start();
        Map<String, Object> f = new java.util.LinkedHashMap<>();
        try (ChaosKafka kafka = new ChaosKafka(infra.bootstrap())) {
            new ChaosFreeze(kafka, group, List.of(topic)).freeze(victim, 16_000, 2, f);
        } finally {
            running.set(false);
            victim.kill9();
            producer.join(30_000);
            survivor.join(30_000);
        }
        System.out.println("freeze measured: " + f);

        assertThat(f).containsEntry("all_members_joined_before_freeze", true);
        assertThat(((Number) f.get("members_evicted_after_ms")).longValue()).as("%s", f).isBetween(8_000L, 16_000L);
        assertThat((List<?>) f.get("partitions")).as("the partition the victim held").hasSize(1);
        assertThat(f).containsEntry("partitions_with_records_waiting", 1).containsEntry("resumed_before_thaw", true);
        assertThat(((Number) f.get("processing_resumed_after_ms")).longValue()).isGreaterThanOrEqualTo(
                ((Number) f.get("members_evicted_after_ms")).longValue() - 1000).isLessThan(16_000L);
    }
}
