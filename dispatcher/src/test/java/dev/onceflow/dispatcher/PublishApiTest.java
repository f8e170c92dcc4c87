package dev.onceflow.dispatcher;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.onceflow.common.Json;
import dev.onceflow.common.http.RoleServer;
import dev.onceflow.common.workflow.Trigger;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * What {@code onceflow publish} is told before anything reaches Kafka, and how fast it is told that
 * the broker is away: the producer is a real one, pointed at a port where nothing listens.
 */
class PublishApiTest {

    private final MapCatalog catalog = new MapCatalog()
            .with("orders", 1, true, new Trigger.Kafka(null, null, null))
            .with("nightly", 1, true, new Trigger.Schedule("0 0 * * *", null, null, null, null, null, null))
            .with("rows", 1, true, new Trigger.Table("public.t", null, null, null))
            .with("signups", 1, true, new Trigger.Kafka("demo.signups", "/id", null))
            .with("paused", 2, false, new Trigger.Kafka(null, null, null));
    private RoleServer server;
    private PublishApi publish;

    @BeforeEach
    void start() throws Exception {
        int closedPort;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            closedPort = s.getLocalPort();
        }
        String bootstrap = "127.0.0.1:" + closedPort;
        publish = new PublishApi(catalog, new ApiIngress(catalog, null, RecordSizeLimit.KAFKA_DEFAULT, Clock.systemUTC()),
                () -> new KafkaProducer<>(PublishApi.producerSettings(bootstrap, Map.of()), new ByteArraySerializer(), new ByteArraySerializer()));
        server = new RoleServer("127.0.0.1", 0, "t", new RoleServer.Role("test", () -> RoleServer.Health.up(Map.of()),
                () -> RoleServer.Health.up(Map.of()), () -> "", publish::routes));
    }

    @AfterEach
    void stop() {
        server.close();
        publish.close();
    }

    private HttpResponse<String> post(String path, String body) throws Exception {
        return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                .header("Authorization", "Bearer t").timeout(Duration.ofSeconds(30))
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private static String error(HttpResponse<String> r) {
        JsonNode body = Json.tree(r.body());
        return body.path("error").asText();
    }

    @Test
    void aWorkflowThatPublishCannotStartIsRefusedNamingWhy() throws Exception {
        HttpResponse<String> unknown = post("/api/workflows/nope/publish", "{}");
        assertThat(unknown.statusCode()).isEqualTo(404);
        assertThat(error(unknown)).isEqualTo("unknown workflow 'nope': no such workflow is deployed");

        HttpResponse<String> schedule = post("/api/workflows/nightly/publish", "{}");
        assertThat(schedule.statusCode()).isEqualTo(409);
        assertThat(error(schedule)).isEqualTo("workflow 'nightly' has a schedule trigger; it starts from its schedule, not from publish");
        assertThat(error(post("/api/workflows/rows/publish", "{}"))).contains("row changes of public.t, not from publish");
        assertThat(error(post("/api/workflows/signups/publish", "{}"))).contains("onceflow publish --topic demo.signups");
        HttpResponse<String> disabled = post("/api/workflows/paused/publish", "{}");
        assertThat(disabled.statusCode()).isEqualTo(409);
        assertThat(error(disabled)).contains("is disabled");

        assertThat(post("/api/workflows/orders/publish", "{\"data\": [1]}").statusCode()).isEqualTo(400);
        assertThat(error(post("/api/workflows/orders/publish", "{\"time\": \"yesterday\"}"))).contains("time");
        assertThat(error(post("/api/workflows/orders/publish", "{\"dta\": {}}"))).contains("unknown field 'dta'");
        HttpResponse<String> unread = post("/api/topics/nobody.reads/records", "{}");
        assertThat(unread.statusCode()).isEqualTo(404);
        assertThat(error(unread)).contains("no enabled workflow reads topic 'nobody.reads'");
    }

    @Test
    void anUnreachableBrokerIs503WithinSeconds() throws Exception {
        long start = System.nanoTime();
        HttpResponse<String> r = post("/api/workflows/orders/publish", "{\"id\": \"o-1\", \"data\": {\"amount\": 1}}");
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(503);
        assertThat(error(r)).startsWith("broker unreachable: ");
        assertThat(took).isLessThan(Duration.ofSeconds(8));
    }
}
