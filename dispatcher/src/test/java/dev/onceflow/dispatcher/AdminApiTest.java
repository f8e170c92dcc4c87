package dev.onceflow.dispatcher;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.onceflow.common.Json;
import dev.onceflow.common.http.RoleServer;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The OpenAPI file describes exactly the endpoints the server registers, and is served without a token. */
class AdminApiTest {

    @Test
    void theOpenApiFileDescribesEveryRegisteredEndpointAndNoOther() throws Exception {
        AdminApi admin = new AdminApi(null, null, new DeadLetterApi("localhost:1", null),
                new FleetApi("localhost:1", "engines", "dispatchers", null, "slot", () -> null), Clock.systemUTC());
        ApiIngress ingress = new ApiIngress(new MapCatalog(), null, RecordSizeLimit.KAFKA_DEFAULT, Clock.systemUTC());
        try (RoleServer server = new RoleServer("127.0.0.1", 0, "t", new RoleServer.Role("test", () -> RoleServer.Health.up(Map.of()),
                () -> RoleServer.Health.up(Map.of()), () -> "", routes -> {
                    ingress.routes(routes);
                    admin.routes(routes);
                    new PublishApi(new MapCatalog(), ingress, () -> null).routes(routes);
                    new WorkflowGraphApi(null).routes(routes);
                    new FiguresApi(null, Clock.systemUTC()).routes(routes);
                }))) {
            HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + server.port() + "/api/openapi.json")).build(), HttpResponse.BodyHandlers.ofString());

            assertThat(r.statusCode()).as("served without a token").isEqualTo(200);
            JsonNode doc = Json.tree(r.body());
            List<String> described = new ArrayList<>();
            for (Iterator<Map.Entry<String, JsonNode>> paths = doc.get("paths").fields(); paths.hasNext(); ) {
                Map.Entry<String, JsonNode> p = paths.next();
                p.getValue().fieldNames().forEachRemaining(m -> described.add(m.toUpperCase(Locale.ROOT) + " " + p.getKey()));
            }
            List<String> registered = new ArrayList<>(admin.endpoints());
            registered.add("POST " + ApiIngress.TRIGGER_PATH);
            registered.addAll(WorkflowGraphApi.endpoints());
            registered.addAll(FiguresApi.endpoints());
            registered.addAll(PublishApi.endpoints());
            assertThat(described).containsExactlyInAnyOrderElementsOf(registered);
            assertThat(doc.get("openapi").asText()).startsWith("3.");
        }
    }
}
