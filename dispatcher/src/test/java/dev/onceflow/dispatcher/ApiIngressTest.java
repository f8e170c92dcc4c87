package dev.onceflow.dispatcher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.onceflow.common.Json;
import dev.onceflow.common.workflow.Trigger;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Clock;
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
    private ApiIngress api;

    @BeforeEach
    void start() throws Exception {
        api = new ApiIngress(0, catalog, producer, RecordSizeLimit.KAFKA_DEFAULT, Clock.systemUTC());
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

    private HttpResponse<String> post(String workflow, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://localhost:" + api.port() + "/api/workflows/" + workflow + "/trigger"))
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void listensOnTheConfiguredAddressAndRefusesOneThatDoesNotResolve() throws Exception {
        ApiIngress loopback = new ApiIngress("127.0.0.1", 0, catalog, producer, RecordSizeLimit.KAFKA_DEFAULT, Clock.systemUTC());
        try {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:" + loopback.port()
                    + "/api/workflows/nope/trigger")).POST(HttpRequest.BodyPublishers.ofString("{}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).isEqualTo(404);
        } finally {
            loopback.close();
        }
        assertThatThrownBy(() -> new ApiIngress("no-such-host.invalid", 0, catalog, producer, RecordSizeLimit.KAFKA_DEFAULT,
                Clock.systemUTC())).isInstanceOf(java.io.IOException.class).hasMessageContaining("dispatcher.http.host");
    }
}
