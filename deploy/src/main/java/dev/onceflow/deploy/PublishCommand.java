package dev.onceflow.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.common.Json;
import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.common.Topics;
import dev.onceflow.common.TriggerRecord;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/** {@code onceflow publish --workflow ID [--id ID] [--time T] DATA}: one trigger record, acknowledged by all replicas. */
final class PublishCommand {

    private PublishCommand() {
    }

    static int run(List<String> argv, PrintStream out, PrintStream err) throws Exception {
        Args args = Args.parse("publish", argv, Set.of("config", "set", "workflow", "id", "time", "topic"), Set.of());
        String workflow = args.required("publish", "workflow");
        String data = args.positional().isEmpty() ? "{}" : String.join(" ", args.positional());
        JsonNode parsed;
        try {
            parsed = Json.MAPPER.readTree(data);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new Args.UsageException("DATA is not valid JSON: " + e.getOriginalMessage());
        }
        if (!(parsed instanceof ObjectNode object)) {
            throw new Args.UsageException("DATA must be a JSON object, got " + parsed.getNodeType().name().toLowerCase());
        }
        Instant time = null;
        if (args.get("time", null) != null) {
            try {
                time = Instant.parse(args.get("time", null));
            } catch (DateTimeParseException e) {
                throw new Args.UsageException("--time must be an ISO-8601 instant such as 2026-01-10T01:00:00Z");
            }
        }
        TriggerRecord record = new TriggerRecord(workflow, args.get("id", null), time, object);
        OnceflowConfig config = Onceflow.config(args);
        String topic = args.get("topic", Topics.TRIGGERS);
        try (KafkaProducer<byte[], byte[]> producer = producer(config)) {
            byte[] key = record.id() == null ? null : record.id().getBytes(StandardCharsets.UTF_8);
            RecordMetadata md;
            try {
                md = producer.send(new ProducerRecord<>(topic, key, record.toBytes())).get(90, TimeUnit.SECONDS);
            } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException
                     | org.apache.kafka.common.KafkaException e) {
                Throwable cause = e.getCause() != null ? e.getCause() : e;
                throw new IllegalStateException("could not publish to " + topic + " at Kafka "
                        + config.get(OnceflowConfig.KAFKA_BOOTSTRAP) + " (is the broker reachable and the topic created?): "
                        + cause.getMessage(), e);
            }
            out.println("published to " + md.topic() + "-" + md.partition() + "@" + md.offset());
        }
        return 0;
    }

    static KafkaProducer<byte[], byte[]> producer(OnceflowConfig config) {
        Map<String, Object> props = new java.util.HashMap<>();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, config.get(OnceflowConfig.KAFKA_BOOTSTRAP));
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        // Not idempotent: a publisher's retry may append a record twice, which is exactly the kind of
        // duplicate Onceflow absorbs (and idempotent producers hit sequence errors after broker kills).
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "false");
        props.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "60000");
        props.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        props.putAll(config.clientSettings("kafka.producer."));
        return new KafkaProducer<>(props, new ByteArraySerializer(), new ByteArraySerializer());
    }
}
