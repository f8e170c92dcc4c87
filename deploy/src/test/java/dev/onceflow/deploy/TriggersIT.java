package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.dispatcher.Dispatcher;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Triggers from any Kafka topic and from HTTP: one execution per occurrence, duplicates absorbed. */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class TriggersIT {

    @RegisterExtension
    final Fleet fleet = new Fleet(TestInfra.embedded());

    @Test
    void userTopicRecordsWithAnIdRunOnceAndWithoutOneRunPerRecord() throws Exception {
        String topic = "orders-" + Fleet.uniqueId("t");
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, fleet.infra.bootstrap()))) {
            admin.createTopics(List.of(new NewTopic(topic, 3, (short) 1))).all().get();
        }
        Workflow byId = fleet.deploy("""
                {"id": "%s", "trigger": {"type": "kafka", "topic": "%s", "id": "/orderId", "time": "/at"}, "nodes": %s}"""
                .formatted(Fleet.uniqueId("topic-id"), topic, Fleet.effectNode("by-id")));
        Workflow byPosition = fleet.deploy("""
                {"id": "%s", "trigger": {"type": "kafka", "topic": "%s"}, "nodes": %s}"""
                .formatted(Fleet.uniqueId("topic-pos"), topic, Fleet.effectNode("by-position")));
        fleet.startEngine(2);
        Dispatcher dispatcher = fleet.startDispatcher();

        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
                fleet.infra.bootstrap()), new ByteArraySerializer(), new ByteArraySerializer())) {
            byte[] order = "{\"orderId\": \"o-1\", \"at\": \"2026-01-10T01:00:00Z\", \"amount\": 5}".getBytes(StandardCharsets.UTF_8);
            byte[] other = "{\"orderId\": \"o-2\", \"at\": \"2026-01-10T01:00:00Z\", \"amount\": 7}".getBytes(StandardCharsets.UTF_8);
            long sameMillisecond = 1_768_006_800_000L;
            // o-1 twice (a retrying publisher), o-2 once, all with the same record timestamp.
            p.send(new ProducerRecord<>(topic, 0, sameMillisecond, null, order)).get();
            p.send(new ProducerRecord<>(topic, 1, sameMillisecond, null, order)).get();
            p.send(new ProducerRecord<>(topic, 0, sameMillisecond, null, other)).get();
            p.send(new ProducerRecord<>(topic, 0, sameMillisecond, null, "not json".getBytes(StandardCharsets.UTF_8))).get();
        }

        await().atMost(Duration.ofSeconds(90)).until(() -> fleet.finished(byId.id()) >= 2 && fleet.finished(byPosition.id()) >= 3);
        // Late copies would show up as extra executions: the counts must hold for 2 s, not only be reached.
        await().during(Duration.ofSeconds(2)).atMost(Duration.ofSeconds(30))
                .until(() -> fleet.executions(byId.id()) == 2 && fleet.executions(byPosition.id()) == 3);
        // With an id pointer: o-1 and o-2, once each, whatever the copies.
        assertThat(fleet.executions(byId.id())).isEqualTo(2);
        assertThat(fleet.count("SELECT count(*) FROM executions WHERE event_key = ?", byId.id() + "@1768006800000#o-1")).isEqualTo(1);
        // Without one: every record is its own event (the source position tells them apart), even at the same millisecond.
        assertThat(fleet.executions(byPosition.id())).isEqualTo(3);
        assertThat(fleet.duplicateEffects(byId.id())).isZero();
        assertThat(dispatcher.metrics().dlq()).as("the malformed record, once per workflow on the topic").isGreaterThanOrEqualTo(1);
    }

    @Test
    void sameApiCallThreeTimesWithOneIdempotencyKeyRunsOnce() throws Exception {
        Workflow wf = fleet.deploy("""
                {"id": "%s", "trigger": {"type": "api"}, "nodes": %s}""".formatted(Fleet.uniqueId("api"), Fleet.effectNode("called")));
        fleet.startEngine(1);
        Dispatcher dispatcher = fleet.startDispatcher();
        HttpClient http = HttpClient.newHttpClient();
        String url = "http://localhost:" + dispatcher.httpPort() + "/api/workflows/" + wf.id() + "/trigger";
        await().atMost(Duration.ofSeconds(30)).until(() -> post(http, url, "{}", null).statusCode() != 404);

        for (int i = 0; i < 3; i++) {
            HttpResponse<String> r = post(http, url, "{\"amount\": 12}", "pay-77");
            assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
            assertThat(r.body()).contains(wf.id() + "@0#pay-77");
        }
        HttpResponse<String> bad = post(http, url, "[1, 2]", null);
        assertThat(bad.statusCode()).isEqualTo(400);
        assertThat(bad.body()).contains("JSON object");
        assertThat(post(http, url, "{oops", null).body()).contains("malformed JSON");
        HttpResponse<String> unknown = post(http, url.replace(wf.id(), "no-such-workflow"), "{}", null);
        assertThat(unknown.statusCode()).isEqualTo(404);
        assertThat(unknown.body()).contains("no-such-workflow");

        await().atMost(Duration.ofSeconds(60)).until(() -> fleet.count(
                "SELECT count(*) FROM executions WHERE event_key = ? AND finished_at IS NOT NULL", wf.id() + "@0#pay-77") == 1);
        // A late copy would show up as a second execution: the count must hold for 2 s, not only be reached.
        await().during(Duration.ofSeconds(2)).atMost(Duration.ofSeconds(30)).until(() -> fleet.count(
                "SELECT count(*) FROM executions WHERE workflow_id = ? AND event_key LIKE '%#pay-77'", wf.id()) == 1);
        // The warm-up call without a key is its own event; the three keyed calls are one.
        assertThat(fleet.count("SELECT count(*) FROM executions WHERE workflow_id = ? AND event_key LIKE '%#pay-77'", wf.id())).isEqualTo(1);
        assertThat(fleet.duplicateEffects(wf.id())).isZero();
    }

    private static HttpResponse<String> post(HttpClient http, String url, String body, String idempotencyKey) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).header("Authorization", "Bearer " + TestInfra.TOKEN).POST(HttpRequest.BodyPublishers.ofString(body))
                .header("Content-Type", "application/json");
        if (idempotencyKey != null) {
            b.header("Idempotency-Key", idempotencyKey);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }
}
