package dev.onceflow.dispatcher;

import com.fasterxml.jackson.databind.JsonNode;
import dev.onceflow.common.Json;
import dev.onceflow.common.Topics;
import dev.onceflow.common.http.ApiException;
import dev.onceflow.common.http.RoleServer;
import io.javalin.http.Context;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * {@code GET /api/dlq} and {@code POST /api/dlq/redrive}: the records of {@value Topics#DLQ} with
 * their reason headers, and their redrive to the topic they came from after a fix. A redriven
 * record keeps its key and value, so it maps to the same event key: whatever already ran for it
 * is absorbed, nothing runs twice. Each call reads the topic with its own short-lived
 * {@code read_committed} consumer (the topic holds what failed, not a stream to keep up with).
 */
final class DeadLetterApi {

    /** Header put on a redriven record: the dead letter it came from ({@code partition@offset}). */
    static final String H_REDRIVEN_FROM = "onceflow.redriven.from";
    private static final int MAX_VALUE_CHARS = 4096;

    private final String bootstrap;
    private final Producer<byte[], byte[]> producer;

    DeadLetterApi(String bootstrap, Producer<byte[], byte[]> producer) {
        this.bootstrap = bootstrap;
        this.producer = producer;
    }

    /** {@code GET /api/dlq?reason=&limit=}: newest first. */
    void list(Context ctx) {
        int limit = AdminApi.intParam(ctx, "limit", AdminApi.DEFAULT_LIMIT, 1, AdminApi.MAX_LIMIT);
        String reason = ctx.queryParam("reason");
        List<ConsumerRecord<byte[], byte[]>> all = read();
        List<Map<String, Object>> items = new ArrayList<>();
        for (int i = all.size() - 1; i >= 0 && items.size() < limit; i--) {
            ConsumerRecord<byte[], byte[]> r = all.get(i);
            if (reason == null || reason.equals(header(r, Topics.H_ERROR_CLASS))) {
                items.add(describe(r));
            }
        }
        RoleServer.json(ctx, 200, Map.of("items", items));
    }

    /**
     * {@code POST /api/dlq/redrive} with {@code {"partition": P, "offset": O}} for one record, or
     * {@code {"reason": "UNKNOWN_WORKFLOW"}} for every record with that reason; answers what was
     * produced where.
     */
    void redrive(Context ctx) throws Exception {
        JsonNode body;
        try {
            body = Json.MAPPER.readTree(ctx.bodyAsBytes());
        } catch (java.io.IOException e) {
            throw new ApiException(400, "malformed JSON body: " + e.getMessage());
        }
        if (body == null || !body.isObject() || !(body.has("reason") || body.has("partition") && body.has("offset"))) {
            throw new ApiException(400, "redrive needs {\"partition\": P, \"offset\": O} or {\"reason\": \"...\"}");
        }
        List<ConsumerRecord<byte[], byte[]>> chosen = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : read()) {
            boolean match = body.has("reason") ? body.get("reason").asText().equals(header(r, Topics.H_ERROR_CLASS))
                    : r.partition() == body.get("partition").asInt() && r.offset() == body.get("offset").asLong();
            if (match) {
                chosen.add(r);
            }
        }
        if (chosen.isEmpty()) {
            throw new ApiException(404, "no dead letter matches " + body);
        }
        List<Map<String, Object>> done = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : chosen) {
            String topic = header(r, Topics.H_SOURCE_TOPIC);
            if (topic == null) {
                throw new ApiException(409, "dead letter " + r.partition() + "@" + r.offset() + " names no source topic: it cannot be redriven");
            }
            ProducerRecord<byte[], byte[]> again = new ProducerRecord<>(topic, r.key(), r.value());
            again.headers().add(H_REDRIVEN_FROM, (r.partition() + "@" + r.offset()).getBytes(StandardCharsets.UTF_8));
            Header command = r.headers().lastHeader(Topics.H_COMMAND);
            if (command != null) {
                again.headers().add(command); // an operator's command is redriven as a command (ADR 0025)
            }
            var m = producer.send(again).get(30, TimeUnit.SECONDS);
            Map<String, Object> d = new LinkedHashMap<>();
            d.put("from", r.partition() + "@" + r.offset());
            d.put("to", m.topic() + "-" + m.partition() + "@" + m.offset());
            d.put("key", r.key() == null ? null : new String(r.key(), StandardCharsets.UTF_8));
            done.add(d);
        }
        RoleServer.json(ctx, 200, Map.of("redriven", done));
    }

    private List<ConsumerRecord<byte[], byte[]>> read() {
        Map<String, Object> props = Map.of(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
                ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed", ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 2000);
        List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> parts = consumer.partitionsFor(Topics.DLQ, Duration.ofSeconds(10)).stream()
                    .map(p -> new TopicPartition(p.topic(), p.partition())).toList();
            consumer.assign(parts);
            consumer.seekToBeginning(parts);
            Map<TopicPartition, Long> end = consumer.endOffsets(parts, Duration.ofSeconds(10));
            long deadline = System.currentTimeMillis() + 15_000;
            while (System.currentTimeMillis() < deadline && parts.stream().anyMatch(p -> consumer.position(p) < end.get(p))) {
                consumer.poll(Duration.ofMillis(200)).forEach(out::add);
            }
        }
        out.sort(java.util.Comparator.comparingLong(ConsumerRecord::timestamp));
        return out;
    }

    private static Map<String, Object> describe(ConsumerRecord<byte[], byte[]> r) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("partition", r.partition());
        m.put("offset", r.offset());
        m.put("time", Instant.ofEpochMilli(r.timestamp()).toString());
        m.put("key", r.key() == null ? null : new String(r.key(), StandardCharsets.UTF_8));
        m.put("reason", header(r, Topics.H_ERROR_CLASS));
        m.put("message", header(r, Topics.H_ERROR_MESSAGE));
        m.put("sourceTopic", header(r, Topics.H_SOURCE_TOPIC));
        m.put("sourcePartition", header(r, Topics.H_SOURCE_PARTITION));
        m.put("sourceOffset", header(r, Topics.H_SOURCE_OFFSET));
        m.put("redrivenFrom", header(r, H_REDRIVEN_FROM));
        String value = r.value() == null ? null : new String(r.value(), StandardCharsets.UTF_8);
        m.put("value", value == null || value.length() <= MAX_VALUE_CHARS ? value : value.substring(0, MAX_VALUE_CHARS) + "…");
        return m;
    }

    static String header(ConsumerRecord<byte[], byte[]> r, String name) {
        Header h = r.headers().lastHeader(name);
        return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }
}
