package dev.onceflow.engine;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpServer;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@code ignoreFail}: a failed call succeeds the node with the failure in its output; without it the node fails. */
@Timeout(30)
class HttpCallIgnoreFailTest {

    private HttpServer server;
    private final HttpClient client = HttpClient.newHttpClient();

    @BeforeEach
    void start() throws Exception {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 8);
        server.createContext("/", exchange -> {
            byte[] out = "{\"reason\": \"down\"}".getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().add("Content-Type", "application/json");
            exchange.sendResponseHeaders(503, out.length);
            exchange.getResponseBody().write(out);
            exchange.close();
        });
        server.start();
    }

    @AfterEach
    void stop() {
        server.stop(0);
    }

    private URI url() {
        return URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/");
    }

    private NodeResult send(URI url, boolean ignoreFail) throws Exception {
        HttpCall.Request r = new HttpCall.Request("POST", url, Map.of(), null, 5_000, 1_000_000, ignoreFail);
        return HttpCall.send(client, r, "w@1/n", "n").get(20, TimeUnit.SECONDS);
    }

    @Test
    void theRenderedRequestCarriesTheNodesIgnoreFail() throws Exception {
        for (boolean ignoreFail : new boolean[] {true, false}) {
            dev.onceflow.common.workflow.Node.Http node = (dev.onceflow.common.workflow.Node.Http) dev.onceflow.common.workflow.Workflows.parse("w",
                    ("{\"id\":\"w\",\"nodes\":[{\"type\":\"http\",\"id\":\"n\",\"url\":\"http://127.0.0.1/\""
                            + (ignoreFail ? ",\"ignoreFail\":true" : "") + "}]}").getBytes(StandardCharsets.UTF_8)).node("n").orElseThrow();
            assertThat(HttpCall.render(node, Map.of(), java.util.List.of()).ignoreFail()).isEqualTo(ignoreFail);
        }
    }

    @Test
    void non2xxFailsTheNodeWithoutIgnoreFail() throws Exception {
        NodeResult result = send(url(), false);
        assertThat(result).isInstanceOf(NodeResult.Failed.class);
        assertThat(((NodeResult.Failed) result).errorClass()).isEqualTo("503");
    }

    @Test
    void non2xxSucceedsWithStatusBodyAndErrorUnderIgnoreFail() throws Exception {
        NodeResult result = send(url(), true);
        assertThat(result).isInstanceOf(NodeResult.Succeeded.class);
        JsonNode out = ((NodeResult.Succeeded) result).output();
        assertThat(out.get("status").asInt()).isEqualTo(503);
        assertThat(out.get("body").get("reason").asText()).isEqualTo("down");
        assertThat(out.get("errorClass").asText()).isEqualTo("503");
        assertThat(out.get("error").asText()).contains("answered 503");
    }

    @Test
    void aRefusedConnectionSucceedsWithTheErrorUnderIgnoreFail() throws Exception {
        int closedPort;
        try (ServerSocket s = new ServerSocket(0)) {
            closedPort = s.getLocalPort();
        }
        URI closed = URI.create("http://127.0.0.1:" + closedPort + "/");
        assertThat(send(closed, false)).isInstanceOf(NodeResult.Failed.class);
        NodeResult result = send(closed, true);
        assertThat(result).isInstanceOf(NodeResult.Succeeded.class);
        JsonNode out = ((NodeResult.Succeeded) result).output();
        assertThat(out.get("status").isNull()).isTrue();
        assertThat(out.get("errorClass").asText()).isEqualTo("connection");
    }
}
