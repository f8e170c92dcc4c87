package dev.onceflow.dispatcher;

import static org.assertj.core.api.Assertions.assertThat;

import dev.onceflow.common.http.RoleServer;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.common.workflow.Workflows;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The console's files are served from the jar without a token, and every file the page loads
 * (its modules and the WebJars' scripts and styles, whose versions are written in index.html) is
 * there; the API behind it still wants the token. Also the graph and figure arithmetic the
 * console relies on.
 */
class ConsoleFilesTest {

    private final HttpClient http = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NEVER).build();

    private HttpResponse<String> get(int port, String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).build(),
                HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    }

    @Test
    void thePageAndEveryFileItLoadsAreServedWithoutATokenAndTheApiStillWantsOne() throws Exception {
        try (RoleServer server = new RoleServer("127.0.0.1", 0, "t", new RoleServer.Role("test", () -> RoleServer.Health.up(Map.of()),
                () -> RoleServer.Health.up(Map.of()), () -> "", routes -> new FiguresApi(null, java.time.Clock.systemUTC()).routes(routes),
                Dispatcher.CONSOLE))) {
            int port = server.port();
            HttpResponse<String> page = get(port, "/console/");
            assertThat(page.statusCode()).isEqualTo(200);
            assertThat(page.headers().firstValue("Content-Type").orElse("")).startsWith("text/html");
            assertThat(page.headers().firstValue("Content-Security-Policy").orElse("")).contains("script-src 'self'");
            assertThat(page.body()).contains("Onceflow console");
            assertThat(get(port, "/console").body()).as("also without the slash (the page's URLs are absolute)").contains("Onceflow console");

            List<String> loaded = new ArrayList<>();
            Matcher m = Pattern.compile("(?:src|href)=\"([^\"#:]+\\.(?:js|css))\"").matcher(page.body());
            while (m.find()) {
                loaded.add(m.group(1).startsWith("/") ? m.group(1) : "/console/" + m.group(1));
            }
            for (String module : List.of("app.js", "api.js", "graph.js", "charts.js")) {
                loaded.add("/console/" + module);
            }
            assertThat(loaded).anyMatch(p -> p.startsWith("/webjars/cytoscape/")).anyMatch(p -> p.startsWith("/webjars/uplot/"));
            for (String path : loaded) {
                HttpResponse<String> r = get(port, path);
                assertThat(r.statusCode()).as(path).isEqualTo(200);
                assertThat(r.body()).as(path).isNotBlank();
            }
            assertThat(get(port, "/console/app.js").headers().firstValue("Content-Type").orElse("")).contains("javascript");
            assertThat(get(port, "/api/figures").statusCode()).as("the data still needs the token").isEqualTo(401);
        }
    }

    @Test
    void theGraphHasEveryNodeAndEdgeLabelledByWhy() throws Exception {
        Workflow wf = Workflows.parse("test", """
                {"id": "g", "trigger": {"type": "kafka"}, "nodes": [
                  {"type": "condition", "id": "check", "if": "trigger.n > 1", "then": "big", "else": "small"},
                  {"type": "calculation", "id": "big", "set": {"x": "1"}, "next": "done"},
                  {"type": "calculation", "id": "small", "set": {"x": "2"}, "next": "done"},
                  {"type": "end", "id": "done"}
                ]}""".getBytes(StandardCharsets.UTF_8));

        Map<String, Object> g = WorkflowGraphApi.graph(wf);

        assertThat(g.get("start")).isEqualTo("check");
        assertThat(g.get("trigger")).isEqualTo("kafka");
        assertThat(g.get("nodes").toString()).contains("id=check", "type=condition", "type=calculation", "type=end");
        assertThat(g.get("edges").toString()).contains("from=check", "to=big", "label=then", "to=small", "label=else");
        assertThat((List<?>) g.get("edges")).hasSize(4);
    }

    @Test
    void duplicatesInABucketAreTheDifferenceOfTheSamplesAroundIt() {
        List<FiguresApi.Sample> ring = List.of(
                new FiguresApi.Sample(1_000, Map.of("dispatcher", 5L, "execution_key", 1L, "processed_key", 0L)),
                new FiguresApi.Sample(11_000, Map.of("dispatcher", 9L, "execution_key", 1L, "processed_key", 3L)),
                new FiguresApi.Sample(21_000, Map.of("dispatcher", 9L, "execution_key", 4L, "processed_key", 3L)));

        assertThat(FiguresApi.absorbedIn(ring, 10_000, 20_000)).containsEntry("dispatcher", 4L).containsEntry("processed_key", 3L)
                .containsEntry("execution_key", 0L);
        assertThat(FiguresApi.absorbedIn(ring, 20_000, 30_000)).containsEntry("execution_key", 3L).containsEntry("dispatcher", 0L);
        assertThat(FiguresApi.absorbedIn(ring, 0, 10_000)).as("before the first sample: unknown, not zero").isNull();
        assertThat(FiguresApi.bucketOf(1_764_300_017L)).isEqualTo(1_764_300_010L);
    }
}
