package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.sun.net.httpserver.HttpServer;
import dev.onceflow.common.local.LocalReceiver;
import dev.onceflow.common.tracing.Traceparent;
import dev.onceflow.common.tracing.Tracing;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.dispatcher.Dispatcher;
import dev.onceflow.engine.Engine;
import dev.onceflow.engine.EngineHooks;
import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.common.v1.KeyValue;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.Span;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Clock;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Traces end to end (ADR 0019): an API trigger call carrying a {@code traceparent}, the real
 * dispatcher and engine on the embedded broker and PostgreSQL, an {@code http} node calling a
 * local receiver, and the engine's spans exported over OTLP/HTTP to an in-process receiver that
 * decodes them as a collector would.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class TracesIT {

    @RegisterExtension
    final Fleet fleet = new Fleet(TestInfra.embedded());

    /** What a collector would receive: every span of every export request, with its resource's service name. */
    record Received(String service, Span span) {
        String traceId() {
            return HexFormat.of().formatHex(span.getTraceId().toByteArray());
        }

        String spanId() {
            return HexFormat.of().formatHex(span.getSpanId().toByteArray());
        }

        String parentSpanId() {
            return HexFormat.of().formatHex(span.getParentSpanId().toByteArray());
        }

        String attribute(String key) {
            return span.getAttributesList().stream().filter(kv -> kv.getKey().equals(key)).findFirst()
                    .map(kv -> kv.getValue().hasIntValue() ? String.valueOf(kv.getValue().getIntValue()) : kv.getValue().getStringValue())
                    .orElse(null);
        }
    }

    @Test
    void anApiCallsTraceparentReachesTheEnginesSpansOverOtlpAndTheHttpNodesRequest() throws Exception {
        Queue<Received> received = new ConcurrentLinkedQueue<>();
        HttpServer collector = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 16);
        collector.createContext("/v1/traces", exchange -> {
            ExportTraceServiceRequest request = ExportTraceServiceRequest.parseFrom(exchange.getRequestBody().readAllBytes());
            for (ResourceSpans rs : request.getResourceSpansList()) {
                String service = rs.getResource().getAttributesList().stream().filter(kv -> kv.getKey().equals("service.name"))
                        .map(KeyValue::getValue).map(v -> v.getStringValue()).findFirst().orElse("");
                rs.getScopeSpansList().forEach(ss -> ss.getSpansList().forEach(s -> received.add(new Received(service, s))));
            }
            exchange.getResponseHeaders().add("Content-Type", "application/x-protobuf");
            exchange.sendResponseHeaders(200, 0);
            exchange.close();
        });
        collector.start();
        Tracing tracing = Tracing.from(Map.of(
                "OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:" + collector.getAddress().getPort(),
                "otel.bsp.schedule.delay", "100"), Tracing.ENGINE_SERVICE);
        Engine engine = null;
        try (LocalReceiver receiver = LocalReceiver.start()) {
            assertThat(tracing.on()).as("an OTLP endpoint turns traces on").isTrue();
            Workflow wf = fleet.deploy("""
                    {"id": "%s", "trigger": {"type": "api"}, "nodes": [
                      {"type": "http", "id": "notify", "method": "POST", "url": "%s/notify", "body": {"n": "${trigger.n}"},
                       "next": "done"},
                      {"type": "end", "id": "done"}
                    ]}""".formatted(Fleet.uniqueId("traced"), receiver.url()));
            engine = new Engine(fleet.config(1), fleet.ds, EngineHooks.NONE, Clock.systemUTC(), false, null, tracing);
            engine.start();
            Dispatcher dispatcher = fleet.startDispatcher();
            HttpClient http = HttpClient.newHttpClient();
            String url = "http://localhost:" + dispatcher.httpPort() + "/api/workflows/" + wf.id() + "/trigger";

            List<Traceparent> incoming = List.of(random(), random());
            Map<String, String> eventKeys = new java.util.HashMap<>();
            for (int i = 0; i < incoming.size(); i++) {
                Traceparent t = incoming.get(i);
                HttpResponse<String> r = await().atMost(Duration.ofSeconds(30)).until(
                        () -> post(http, url, "{\"n\": " + t.hashCode() + "}", t.header()), x -> x.statusCode() != 404);
                assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
                eventKeys.put(t.traceId(), com.fasterxml.jackson.databind.json.JsonMapper.builder().build()
                        .readTree(r.body()).get("eventKey").asText());
            }

            await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200))
                    .until(() -> fleet.finished(wf.id()) == incoming.size());
            // Three spans per execution: the execution, the http node, the end node.
            await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(100))
                    .until(() -> received.stream().filter(s -> wf.id().equals(s.attribute("onceflow.workflow.id"))).count()
                            >= 3L * incoming.size());

            for (Traceparent t : incoming) {
                String eventKey = eventKeys.get(t.traceId());
                Map<String, Received> spans = received.stream().filter(s -> s.traceId().equals(t.traceId()))
                        .collect(Collectors.toMap(s -> s.span().getName(), s -> s));
                assertThat(spans).as("the spans of the trace the API call came with").containsOnlyKeys(
                        "execution " + wf.id(), "node notify", "node done");
                Received execution = spans.get("execution " + wf.id());
                assertThat(execution.service()).isEqualTo("onceflow-engine");
                assertThat(execution.parentSpanId()).as("the execution is a child of the caller's span").isEqualTo(t.spanId());
                assertThat(execution.attribute("onceflow.event.key")).isEqualTo(eventKey);
                assertThat(execution.attribute("onceflow.outcome")).isEqualTo("succeeded");
                assertThat(execution.attribute("onceflow.workflow.version")).isEqualTo(String.valueOf(wf.version()));

                Received notify = spans.get("node notify");
                assertThat(notify.parentSpanId()).isEqualTo(execution.spanId());
                assertThat(notify.attribute("onceflow.node.type")).isEqualTo("http");
                assertThat(notify.attribute("onceflow.outcome")).isEqualTo("succeeded");
                assertThat(notify.attribute("onceflow.node.attempt")).isEqualTo("1");
                assertThat(notify.attribute("onceflow.processed.key")).isEqualTo(eventKey + "/notify");
                assertThat(notify.span().getKind()).isEqualTo(Span.SpanKind.SPAN_KIND_CLIENT);
                assertThat(spans.get("node done").parentSpanId()).isEqualTo(execution.spanId());
                assertThat(spans.get("node done").attribute("onceflow.node.type")).isEqualTo("end");

                // The receiver saw the call in the same trace, as a child of the http node's span.
                assertThat(receiver.traceparents()).contains("00-" + t.traceId() + "-" + notify.spanId() + "-01");
            }
            assertThat(receiver.keysCalledMoreThanOnce()).isZero();
        } finally {
            if (engine != null) {
                engine.close();
            }
            tracing.close();
            collector.stop(0);
        }
    }

    private static Traceparent random() {
        ThreadLocalRandom r = ThreadLocalRandom.current();
        return new Traceparent(String.format("%016x%016x", r.nextLong() | 1, r.nextLong()), String.format("%016x", r.nextLong() | 1), 1);
    }

    private static HttpResponse<String> post(HttpClient http, String url, String body, String traceparent) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(url)).header("Authorization", "Bearer " + TestInfra.TOKEN)
                .header("Content-Type", "application/json").header("traceparent", traceparent)
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }
}
