package dev.onceflow.dispatcher;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.common.ByKeyRecord;
import dev.onceflow.common.EventEnvelope;
import dev.onceflow.common.EventKey;
import dev.onceflow.common.Json;
import dev.onceflow.common.OrderKey;
import dev.onceflow.common.http.RoleServer;
import dev.onceflow.common.workflow.Trigger;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import java.io.IOException;
import java.io.InputStream;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * The dispatcher's trigger endpoint, served by its {@link RoleServer} (bearer token):
 * {@code POST /api/workflows/{id}/trigger} with a JSON object body starts the workflow, which must
 * be deployed, enabled and have an {@code api} trigger. An {@code Idempotency-Key} header becomes
 * the event key's discriminator ({@code workflowId@0#key}), so the same call sent again is the same
 * event; without one, each call is a new event. An {@code Order-Key} header (else the value at the
 * trigger's {@code orderKey} pointer into the body) names the ordering key (ADR 0020): calls with one
 * order key run in the order they were acknowledged. Answers 202 with the event key once the event is
 * acknowledged by Kafka; 400 with the reason for invalid input, 404 for an unknown workflow,
 * 413 for a body that can never be published (larger than {@value #MAX_BODY} bytes, or an event
 * over the {@link RecordSizeLimit} once the body is wrapped in its envelope), 503 when Kafka does
 * not acknowledge. Stateless apart from its collaborators; thread-safe.
 */
final class ApiIngress {

    static final String TRIGGER_PATH = "/api/workflows/{id}/trigger";
    private static final int MAX_BODY = 1 << 20;
    /** How much of a refused body is read and dropped so that the client can read the 413 (see {@link #drain}). */
    private static final long MAX_DRAIN = 64L << 20;

    private final WorkflowCatalog catalog;
    private final Producer<byte[], byte[]> producer;
    private final RecordSizeLimit limit;
    private final Clock clock;
    private final OrderKeys orderKeys;

    ApiIngress(WorkflowCatalog catalog, Producer<byte[], byte[]> producer, RecordSizeLimit limit, Clock clock) {
        this(catalog, producer, limit, clock, new OrderKeys(true, new DispatcherMetrics()));
    }

    ApiIngress(WorkflowCatalog catalog, Producer<byte[], byte[]> producer, RecordSizeLimit limit, Clock clock, OrderKeys orderKeys) {
        this.orderKeys = orderKeys;
        this.catalog = catalog;
        this.producer = producer;
        this.limit = limit;
        this.clock = clock;
    }

    /** Registers the trigger endpoint. */
    void routes(RoutesConfig routes) {
        routes.post(TRIGGER_PATH, this::handle);
        for (io.javalin.http.HandlerType other : List.of(io.javalin.http.HandlerType.GET, io.javalin.http.HandlerType.PUT,
                io.javalin.http.HandlerType.DELETE, io.javalin.http.HandlerType.PATCH)) {
            routes.addEndpoint(io.javalin.router.Endpoint.create(other, TRIGGER_PATH).handler(ctx -> {
                ctx.header("Allow", "POST");
                respond(ctx, 405, Map.of("error", "use POST"));
            }));
        }
    }

    private void handle(Context ex) throws IOException {
        {
            String workflowId = ex.pathParam("id");
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
            try (InputStream in = ex.bodyInputStream()) {
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
            accept(ex, workflowId, entry, data, ex.header("Idempotency-Key"), ex.header(OrderKey.HEADER), bytesRead);
        }
    }

    /**
     * Publishes the event of {@code data} for {@code entry} (deployed, enabled, an api trigger) and answers
     * {@code ex}: the trigger endpoint's work once the request is read, also {@link PublishApi}'s for api workflows.
     */
    void accept(Context ex, String workflowId, WorkflowCatalog.Entry entry, ObjectNode data, String idempotencyKey, String orderKey,
                int bytesRead) {
        {
            if (idempotencyKey != null && (idempotencyKey.isBlank() || idempotencyKey.length() > 256)) {
                respond(ex, 400, Map.of("error", "Idempotency-Key must be 1 to 256 characters"));
                return;
            }
            if (orderKey != null && orderKey.isBlank()) {
                respond(ex, 400, Map.of("error", OrderKey.HEADER + " must not be blank: leave it out for a call that need not "
                        + "wait for others"));
                return;
            }
            long now = clock.millis();
            EventKey key = idempotencyKey != null
                    ? EventKey.of(workflowId, 0, idempotencyKey)
                    : EventKey.of(workflowId, now, "api-" + UUID.randomUUID());
            // The ordering key (ADR 0020): the Order-Key header, else the trigger's orderKey pointer into the body.
            String pointer = entry.trigger() instanceof Trigger.Api api ? api.orderKey() : null;
            EventEnvelope event = orderKeys.apply(new EventEnvelope(key.toString(), workflowId, entry.version(),
                    idempotencyKey != null ? 0 : now, data, "api", now), entry,
                    () -> OrderKey.api(workflowId, entry.ordered(), orderKey, pointer, data));
            ProducerRecord<byte[], byte[]> record = ByKeyRecord.of(event);
            byte[] recordKey = record.key();
            byte[] value = record.value();
            // An incoming W3C traceparent is honoured: the execution joins the caller's trace (ADR 0019).
            EventTraces.carry(dev.onceflow.common.tracing.Traceparent.parse(ex.header(dev.onceflow.common.tracing.Traceparent.HEADER)),
                    key.toString(), record.headers());
            int size = RecordSizeLimit.sizeOf(recordKey, value, record.headers());
            if (size > limit.maxBytes()) {
                // Refused before sending: retrying can never help, and the producer would refuse it anyway.
                respond(ex, 413, Map.of("error", "the event of workflow '" + workflowId + "' would be " + limit.over(size)
                        + ": the body is " + bytesRead + " bytes and the event envelope adds its key, workflow and times"));
                return;
            }
            try {
                producer.send(record).get(30, TimeUnit.SECONDS);
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

    private static void respond(Context ex, int status, Map<String, String> body) {
        RoleServer.json(ex, status, body);
    }
}
