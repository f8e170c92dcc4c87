package dev.onceflow.dispatcher;

import static org.assertj.core.api.Assertions.assertThat;

import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.common.Topics;
import dev.onceflow.common.local.LocalKafka;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The dispatcher on a real broker with exactly_once_v2: duplicates dropped, bad input dead-lettered. */
@Timeout(180)
class DispatcherIT {

    @TempDir
    Path dir;

    @Test
    void duplicatesBecomeOneEventAndBadInputGoesToDlq() throws Exception {
        try (LocalKafka kafka = LocalKafka.start(dir.resolve("kafka"))) {
            OnceflowConfig config = OnceflowConfig.of(Map.of(
                    "kafka.bootstrap.servers", kafka.bootstrapServers(),
                    "topics.partitions", "3"));
            // order-sync has order "none"; order-keyed has order "key": its records are keyed by the
            // ordering key (the source record's key), its copies (one record key, as a retrying
            // publisher sends them) too.
            try (Dispatcher dispatcher = new Dispatcher(config, new MapCatalog().unordered("order-sync", 1)
                    .with("order-keyed", 1, true))) {
                dispatcher.start();
                dispatcher.awaitRunning(Duration.ofSeconds(60));

                List<String> spread = List.of("spread-0", "spread-1", "spread-2");
                try (KafkaProducer<String, String> producer = producer(kafka)) {
                    for (int i = 0; i < 3; i++) {
                        // A retrying publisher: one record key, so one trigger partition and one dedupe task.
                        producer.send(new ProducerRecord<>(Topics.TRIGGERS, "copy", "{\"workflow\":\"order-sync\",\"id\":\"ord-1\"}"));
                        producer.send(new ProducerRecord<>(Topics.TRIGGERS, "customer-7", "{\"workflow\":\"order-keyed\",\"id\":\"ord-3\"}"));
                        // Copies under other record keys: one dedupe per trigger partition (ADR 0028).
                        producer.send(new ProducerRecord<>(Topics.TRIGGERS, spread.get(i), "{\"workflow\":\"order-sync\",\"id\":\"ord-4\"}"));
                    }
                    producer.send(new ProducerRecord<>(Topics.TRIGGERS, "bad", "{oops"));
                    producer.send(new ProducerRecord<>(Topics.TRIGGERS, "other", "{\"workflow\":\"order-sync\",\"id\":\"ord-2\"}"));
                }
                // The copies of ord-4 pass once per trigger partition they landed on; the engine's unique
                // event_key absorbs the rest (ExactlyOnceIT, ChaosIT).
                long spreadPartitions = spread.stream().map(k -> org.apache.kafka.common.utils.Utils.toPositive(
                        org.apache.kafka.common.utils.Utils.murmur2(k.getBytes(StandardCharsets.UTF_8))) % 3).distinct().count();

                List<ConsumerRecord<String, String>> events = readCommitted(kafka, Topics.EVENTS, 3 + (int) spreadPartitions);
                List<ConsumerRecord<String, String>> dead = readCommitted(kafka, Topics.DLQ, 1);

                assertThat(events).extracting(ConsumerRecord::key).filteredOn(k -> !k.equals("order-sync@0#ord-4"))
                        .containsExactlyInAnyOrder("order-sync@0#ord-1", "order-sync@0#ord-2", "order-keyed/customer-7");
                assertThat(events).extracting(ConsumerRecord::key).filteredOn(k -> k.equals("order-sync@0#ord-4"))
                        .hasSize((int) spreadPartitions);
                ConsumerRecord<String, String> keyed = events.stream().filter(e -> e.key().equals("order-keyed/customer-7"))
                        .findFirst().orElseThrow();
                assertThat(new String(keyed.headers().lastHeader(Topics.H_EVENT_KEY).value(), StandardCharsets.UTF_8))
                        .as("the event key travels in a header (ADR 0020)").isEqualTo("order-keyed@0#ord-3");
                assertThat(dead).extracting(ConsumerRecord::value).containsExactly("{oops");
                assertThat(new String(dead.get(0).headers().lastHeader(Topics.H_ERROR_CLASS).value(), StandardCharsets.UTF_8))
                        .isEqualTo("MALFORMED_JSON");
                assertThat(dispatcher.metrics().deduplicated()).isEqualTo(4 + (3 - spreadPartitions));
                assertThat(dispatcher.isRunning()).isTrue();
            }
        }
    }

    /**
     * Before issue 9: the by-key topic kept records one day, and a trigger record the broker
     * accepted but whose event is too large replaced the stream thread forever (RecordTooLargeException
     * inside the transaction), so the record after it never became an event.
     */
    @Test
    void oversizeTriggerIsDeadLetteredAndShortByKeyRetentionIsRaised() throws Exception {
        try (LocalKafka kafka = LocalKafka.start(dir.resolve("kafka"))) {
            ConfigResource byKey = new ConfigResource(ConfigResource.Type.TOPIC, Topics.BY_KEY);
            try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()))) {
                // The layout of a cluster set up before: one day.
                admin.createTopics(List.of(new NewTopic(Topics.BY_KEY, 3, (short) 1)
                        .configs(Map.of(TopicConfig.RETENTION_MS_CONFIG, String.valueOf(Duration.ofDays(1).toMillis())))))
                        .all().get(30, TimeUnit.SECONDS);
            }
            OnceflowConfig config = OnceflowConfig.of(Map.of(
                    "kafka.bootstrap.servers", kafka.bootstrapServers(),
                    "topics.partitions", "3"));
            try (Dispatcher dispatcher = new Dispatcher(config, new MapCatalog().unordered("order-sync", 1))) {
                dispatcher.start();
                dispatcher.awaitRunning(Duration.ofSeconds(60));
                try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()))) {
                    String retention = admin.describeConfigs(List.of(byKey)).all().get(30, TimeUnit.SECONDS).get(byKey)
                            .get(TopicConfig.RETENTION_MS_CONFIG).value();
                    assertThat(Long.parseLong(retention)).isEqualTo(Duration.ofDays(7).toMillis());
                }

                String big = "{\"workflow\":\"order-sync\",\"id\":\"big\",\"data\":{\"s\":\"" + "x".repeat(1_048_400) + "\"}}";
                try (KafkaProducer<String, String> producer = producer(kafka)) {
                    producer.send(new ProducerRecord<>(Topics.TRIGGERS, 0, "k", big)).get(30, TimeUnit.SECONDS); // the broker accepts it
                    producer.send(new ProducerRecord<>(Topics.TRIGGERS, 0, "k", "{\"workflow\":\"order-sync\",\"id\":\"after\"}"))
                            .get(30, TimeUnit.SECONDS);
                }

                List<ConsumerRecord<String, String>> events = readCommitted(kafka, Topics.EVENTS, 1);
                List<ConsumerRecord<String, String>> dead = readCommitted(kafka, Topics.DLQ, 1);
                assertThat(events).extracting(ConsumerRecord::key).containsExactly("order-sync@0#after");
                assertThat(dead).hasSize(1);
                assertThat(new String(dead.get(0).headers().lastHeader(Topics.H_ERROR_CLASS).value(), StandardCharsets.UTF_8))
                        .isEqualTo("RECORD_TOO_LARGE");
                assertThat(new String(dead.get(0).headers().lastHeader(Topics.H_ERROR_MESSAGE).value(), StandardCharsets.UTF_8))
                        .contains("over the limit of");
                assertThat(dead.get(0).value()).as("the value is left out: with the headers it would be too large too").isNull();
                assertThat(dispatcher.isRunning()).isTrue();
            }
        }
    }

    private static KafkaProducer<String, String> producer(LocalKafka kafka) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
        return new KafkaProducer<>(p, new StringSerializer(), new StringSerializer());
    }

    /** Reads until {@code expected} records arrived and then 2 s more pass without another. */
    private static List<ConsumerRecord<String, String>> readCommitted(LocalKafka kafka, String topic, int expected) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
        p.put(ConsumerConfig.GROUP_ID_CONFIG, "it-" + topic);
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        List<ConsumerRecord<String, String>> out = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer())) {
            consumer.subscribe(List.of(topic));
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            long quietUntil = Long.MAX_VALUE;
            while (System.nanoTime() < Math.min(deadline, quietUntil)) {
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
                    out.add(r);
                }
                if (out.size() >= expected && quietUntil == Long.MAX_VALUE) {
                    quietUntil = System.nanoTime() + Duration.ofSeconds(2).toNanos();
                }
            }
        }
        return out;
    }
}
