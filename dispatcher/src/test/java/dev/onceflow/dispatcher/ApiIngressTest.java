package dev.onceflow.dispatcher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.onceflow.common.Json;
import dev.onceflow.common.http.RoleServer;
import dev.onceflow.common.workflow.Trigger;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Clock;
import java.util.Map;
import java.util.concurrent.Future;
import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(30)
class ApiIngressTest {

    /** Refuses what a real producer refuses: a record over max.request.size (Kafka's default). */
    private final MockProducer<byte[], byte[]> producer = new MockProducer<>(true, null, new ByteArraySerializer(),
            new ByteArraySerializer()) {
        @Override
        public synchronized Future<RecordMetadata> send(ProducerRecord<byte[], byte[]> record, Callback callback) {
            int size = RecordSizeLimit.sizeOf(record.key(), record.value(), record.headers());
            if (size > RecordSizeLimit.DEFAULT_MAX_REQUEST_SIZE) {
                RecordTooLargeException e = new RecordTooLargeException("The message is " + size
                        + " bytes when serialized which is larger than 1048576, which is the value of the max.request.size configuration.");
                if (callback != null) {
                    callback.onCompletion(null, e);
                }
                return java.util.concurrent.CompletableFuture.failedFuture(e);
            }
            return super.send(record, callback);
        }
    };
    private final MapCatalog catalog = new MapCatalog().with("refunds", 1, true, new Trigger.Api());
    private final HttpClient http = HttpClient.newHttpClient();
    private static final String TOKEN = "test-token";
    private RoleServer api;

    private RoleServer server(String host) {
        ApiIngress ingress = new ApiIngress(catalog, producer, RecordSizeLimit.KAFKA_DEFAULT, Clock.systemUTC());
        return new RoleServer(host, 0, TOKEN, new RoleServer.Role("test", () -> RoleServer.Health.up(Map.of()),
                () -> RoleServer.Health.down(Map.of("why", "not yet")), () -> "m 1\n", ingress::routes));
    }

    @BeforeEach
    void start() {
        api = server("");
    }

    @AfterEach
    void stop() {
        api.close();
    }

    @Test
    void bodyThatWouldBeTooLargeOnceWrappedIs413WithTheSizesNot503() throws Exception {
        // Under the 1 MiB body limit, and under max.request.size alone: the envelope pushes it over.
        String body = "{\"s\":\"" + "x".repeat(1_048_400) + "\"}";
        HttpResponse<String> response = post("refunds", body);

        assertThat(response.statusCode()).isEqualTo(413);
        assertThat(response.headers().firstValue("Content-Type")).hasValue("application/json");
        JsonNode error = Json.tree(response.body());
        assertThat(error.get("error").asText()).contains("'refunds'").contains("over the limit of 1048576 bytes")
                .contains(body.length() + " bytes");
        assertThat(producer.history()).isEmpty();
    }

    @Test
    void bodyWithinTheLimitIsAccepted() throws Exception {
        HttpResponse<String> response = post("refunds", "{\"amount\":12}");

        assertThat(response.statusCode()).isEqualTo(202);
        assertThat(Json.tree(response.body()).get("eventKey").asText()).startsWith("refunds@");
        assertThat(producer.history()).hasSize(1);
    }

    @Test
    void anOrderKeyHeaderKeysTheByKeyRecordAndTheEventKeyTravelsInAHeader() throws Exception {
        HttpResponse<String> ordered = send(HttpRequest.newBuilder(URI.create("http://localhost:" + api.port()
                        + "/api/workflows/refunds/trigger")).header("Authorization", "Bearer " + TOKEN)
                .header("Order-Key", "account-9").POST(HttpRequest.BodyPublishers.ofString("{\"amount\":12}")));
        HttpResponse<String> plain = post("refunds", "{\"amount\":13}");

        assertThat(ordered.statusCode()).isEqualTo(202);
        assertThat(plain.statusCode()).isEqualTo(202);
        var first = producer.history().get(0);
        var second = producer.history().get(1);
        assertThat(new String(first.key(), java.nio.charset.StandardCharsets.UTF_8)).isEqualTo("refunds/account-9");
        assertThat(new String(first.headers().lastHeader(dev.onceflow.common.Topics.H_EVENT_KEY).value(),
                java.nio.charset.StandardCharsets.UTF_8)).isEqualTo(Json.tree(ordered.body()).get("eventKey").asText());
        assertThat(Json.tree(new String(first.value(), java.nio.charset.StandardCharsets.UTF_8)).get("orderKey").asText())
                .isEqualTo("refunds/account-9");
        // No Order-Key and no pointer: a sequence of one, keyed by its event key.
        assertThat(new String(second.key(), java.nio.charset.StandardCharsets.UTF_8)).isEqualTo(Json.tree(plain.body()).get("eventKey").asText());
    }

    private HttpResponse<String> post(String workflow, String body) throws Exception {
        return send(HttpRequest.newBuilder(URI.create("http://localhost:" + api.port() + "/api/workflows/" + workflow + "/trigger"))
                .header("Authorization", "Bearer " + TOKEN).POST(HttpRequest.BodyPublishers.ofString(body)));
    }

    private HttpResponse<String> send(HttpRequest.Builder request) throws Exception {
        return http.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void theApiNeedsTheBearerTokenAndHealthAndMetricsDoNot() throws Exception {
        URI trigger = URI.create("http://localhost:" + api.port() + "/api/workflows/refunds/trigger");
        HttpResponse<String> none = send(HttpRequest.newBuilder(trigger).POST(HttpRequest.BodyPublishers.ofString("{}")));
        HttpResponse<String> wrong = send(HttpRequest.newBuilder(trigger).header("Authorization", "Bearer nope")
                .POST(HttpRequest.BodyPublishers.ofString("{}")));
        HttpResponse<String> live = send(HttpRequest.newBuilder(URI.create("http://localhost:" + api.port() + "/health/live")));
        HttpResponse<String> ready = send(HttpRequest.newBuilder(URI.create("http://localhost:" + api.port() + "/health/ready")));
        HttpResponse<String> metrics = send(HttpRequest.newBuilder(URI.create("http://localhost:" + api.port() + "/metrics")));
        HttpResponse<String> unknown = send(HttpRequest.newBuilder(URI.create("http://localhost:" + api.port() + "/api/nothing"))
                .header("Authorization", "Bearer " + TOKEN));

        assertThat(none.statusCode()).isEqualTo(401);
        assertThat(Json.tree(none.body()).get("error").asText()).contains("missing bearer token");
        assertThat(wrong.statusCode()).isEqualTo(401);
        assertThat(Json.tree(wrong.body()).get("error").asText()).contains("wrong bearer token");
        assertThat(producer.history()).as("nothing published without the token").isEmpty();
        assertThat(live.statusCode()).isEqualTo(200);
        assertThat(Json.tree(live.body()).get("status").asText()).isEqualTo("UP");
        assertThat(ready.statusCode()).isEqualTo(503);
        assertThat(Json.tree(ready.body()).get("why").asText()).isEqualTo("not yet");
        assertThat(metrics.statusCode()).isEqualTo(200);
        assertThat(metrics.body()).isEqualTo("m 1\n");
        assertThat(unknown.statusCode()).isEqualTo(404);
        assertThat(Json.tree(unknown.body()).get("error").asText()).contains("/api/nothing");
    }

    @Test
    void listensOnTheConfiguredAddressAndRefusesOneThatDoesNotResolve() throws Exception {
        RoleServer loopback = server("127.0.0.1");
        try {
            HttpResponse<String> r = send(HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:" + loopback.port()
                    + "/api/workflows/nope/trigger")).header("Authorization", "Bearer " + TOKEN).POST(HttpRequest.BodyPublishers.ofString("{}")));
            assertThat(r.statusCode()).isEqualTo(404);
            assertThat(Json.tree(r.body()).get("error").asText()).contains("unknown workflow 'nope'");
        } finally {
            loopback.close();
        }
        assertThatThrownBy(() -> server("no-such-host.invalid")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("no-such-host.invalid");
    }
}
