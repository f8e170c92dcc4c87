package dev.onceflow.dispatcher;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.onceflow.common.EventEnvelope;
import dev.onceflow.common.EventKey;
import dev.onceflow.common.Json;
import dev.onceflow.common.Topics;
import dev.onceflow.common.workflow.Trigger;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The dispatcher's HTTP API (the JDK's built-in server, no hand-written parsing):
 * {@code POST /api/workflows/{id}/trigger} with a JSON object body starts the workflow, which must
 * be deployed, enabled and have an {@code api} trigger. An {@code Idempotency-Key} header becomes
 * the event key's discriminator ({@code workflowId@0#key}), so the same call sent again is the same
 * event; without one, each call is a new event. Answers 202 with the event key once the event is
 * acknowledged by Kafka; 400 with the reason for invalid input, 404 for an unknown workflow,
 * 413 for a body that can never be published (larger than {@value #MAX_BODY} bytes, or an event
 * over the {@link RecordSizeLimit} once the body is wrapped in its envelope), 503 when Kafka does
 * not acknowledge. Owns its server and threads; {@link #close()} stops them.
 */
final class ApiIngress implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ApiIngress.class);
    private static final Pattern TRIGGER_PATH = Pattern.compile("/api/workflows/([^/]+)/trigger");
    private static final int MAX_BODY = 1 << 20;
    /** How much of a refused body is read and dropped so that the client can read the 413 (see {@link #drain}). */
    private static final long MAX_DRAIN = 64L << 20;

    private final WorkflowCatalog catalog;
    private final Producer<byte[], byte[]> producer;
    private final RecordSizeLimit limit;
    private final Clock clock;
    private final HttpServer server;
    private final ExecutorService executor;

    ApiIngress(int port, WorkflowCatalog catalog, Producer<byte[], byte[]> producer, RecordSizeLimit limit, Clock clock)
            throws IOException {
        this("", port, catalog, producer, limit, clock);
    }

    /** @param host the address to listen on; empty: every interface */
    ApiIngress(String host, int port, WorkflowCatalog catalog, Producer<byte[], byte[]> producer, RecordSizeLimit limit,
               Clock clock) throws IOException {
        this.catalog = catalog;
        this.producer = producer;
        this.limit = limit;
        this.clock = clock;
        InetSocketAddress address = host == null || host.isBlank() ? new InetSocketAddress(port) : new InetSocketAddress(host, port);
        if (address.isUnresolved()) {
            throw new IOException("dispatcher.http.host '" + host + "' does not resolve to an address");
        }
        this.server = HttpServer.create(address, 128);
        this.executor = Executors.newFixedThreadPool(4, r -> {
            Thread t = new Thread(r, "onceflow-api");
            t.setDaemon(true);
            return t;
        });
        server.setExecutor(executor);
        server.createContext("/api/workflows/", this::handle);
        server.start();
        LOG.info("HTTP API listening on {}", server.getAddress());
    }

    int port() {
        return server.getAddress().getPort();
    }

    private void handle(HttpExchange ex) throws IOException {
        try (ex) {
            Matcher m = TRIGGER_PATH.matcher(ex.getRequestURI().getPath());
            if (!m.matches()) {
                respond(ex, 404, Map.of("error", "no such endpoint; use POST /api/workflows/{id}/trigger"));
                return;
            }
            if (!ex.getRequestMethod().equals("POST")) {
                ex.getResponseHeaders().add("Allow", "POST");
                respond(ex, 405, Map.of("error", "use POST"));
                return;
            }
            String workflowId = m.group(1);
            WorkflowCatalog.Entry entry = catalog.find(workflowId).orElse(null);
            if (entry == null) {
                respond(ex, 404, Map.of("error", "unknown workflow '" + workflowId + "': no such workflow is deployed"));
                return;
            }
            if (!entry.enabled()) {
                respond(ex, 400, Map.of("error", "workflow '" + workflowId + "' is disabled: it accepts no new events"));
                return;
            }
            if (!(entry.trigger() instanceof Trigger.Api)) {
                respond(ex, 400, Map.of("error", "workflow '" + workflowId + "' has no api trigger"));
                return;
            }
            JsonNode body;
            int bytesRead;
            try (InputStream in = ex.getRequestBody()) {
                byte[] bytes = in.readNBytes(MAX_BODY + 1);
                bytesRead = bytes.length;
                if (bytes.length > MAX_BODY) {
                    drain(in);
                    respond(ex, 413, Map.of("error", "body larger than " + MAX_BODY + " bytes"));
                    return;
                }
                body = bytes.length == 0 ? Json.MAPPER.createObjectNode() : Json.MAPPER.readTree(bytes);
            } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                respond(ex, 400, Map.of("error", "malformed JSON body: " + e.getOriginalMessage()));
                return;
            }
            if (!(body instanceof ObjectNode data)) {
                respond(ex, 400, Map.of("error", "the body must be a JSON object"));
                return;
            }
            String idempotencyKey = ex.getRequestHeaders().getFirst("Idempotency-Key");
            if (idempotencyKey != null && (idempotencyKey.isBlank() || idempotencyKey.length() > 256)) {
                respond(ex, 400, Map.of("error", "Idempotency-Key must be 1 to 256 characters"));
                return;
            }
            long now = clock.millis();
            EventKey key = idempotencyKey != null
                    ? EventKey.of(workflowId, 0, idempotencyKey)
                    : EventKey.of(workflowId, now, "api-" + UUID.randomUUID());
            EventEnvelope event = new EventEnvelope(key.toString(), workflowId, entry.version(), idempotencyKey != null ? 0 : now,
                    data, "api", now);
            byte[] recordKey = key.toString().getBytes(StandardCharsets.UTF_8);
            byte[] value = Json.bytes(event);
            int size = RecordSizeLimit.sizeOf(recordKey, value, null);
            if (size > limit.maxBytes()) {
                // Refused before sending: retrying can never help, and the producer would refuse it anyway.
                respond(ex, 413, Map.of("error", "the event of workflow '" + workflowId + "' would be " + limit.over(size)
                        + ": the body is " + bytesRead + " bytes and the event envelope adds its key, workflow and times"));
                return;
            }
            try {
                producer.send(new ProducerRecord<>(Topics.BY_KEY, recordKey, value)).get(30, TimeUnit.SECONDS);
            } catch (Exception e) {
                Throwable cause = e instanceof java.util.concurrent.ExecutionException && e.getCause() != null ? e.getCause() : e;
                if (cause instanceof org.apache.kafka.common.errors.RecordTooLargeException) {
                    // A limit lower than this dispatcher knew (a broker setting changed since start): still never publishable.
                    respond(ex, 413, Map.of("error", "Kafka refused the event of workflow '" + workflowId + "' (" + size
                            + " bytes) as too large: " + cause.getMessage()));
                    return;
                }
                respond(ex, 503, Map.of("error", "Kafka did not acknowledge the event: " + e.getMessage()));
                return;
            }
            respond(ex, 202, Map.of("eventKey", key.toString()));
        } catch (RuntimeException e) {
            LOG.warn("HTTP API request failed: {}", e.toString());
            respond(ex, 500, Map.of("error", e.toString()));
        }
    }

    /**
     * Reads and drops the rest of a refused body, up to {@value #MAX_DRAIN} bytes. Without it the
     * server closes the connection under a client that is still sending (the JDK server drains 64 KB
     * at most), and the client reads no answer at all (a broken connection, "header parser received
     * no bytes") instead of the 413 that tells it why.
     */
    private static void drain(InputStream in) throws IOException {
        byte[] buffer = new byte[64 * 1024];
        long total = 0;
        int n;
        while (total < MAX_DRAIN && (n = in.read(buffer, 0, (int) Math.min(buffer.length, MAX_DRAIN - total))) > 0) {
            total += n;
        }
    }

    private static void respond(HttpExchange ex, int status, Map<String, String> body) throws IOException {
        byte[] bytes = Json.bytes(body);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(bytes);
        }
    }

    @Override
    public void close() {
        server.stop(1);
        executor.shutdownNow();
    }
}
