package dev.onceflow.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.common.EventKey;
import dev.onceflow.common.Json;
import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.common.Topics;
import dev.onceflow.common.TriggerRecord;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
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

/**
 * {@code onceflow publish}: one record, acknowledged by all replicas.
 *
 * <ul>
 *   <li>{@code --workflow ID [--id ID] [--time T]} (topic {@value Topics#TRIGGERS}): the data is wrapped in a trigger
 *       record naming the workflow; the event key is printed, derived as the dispatcher derives it.</li>
 *   <li>{@code --topic T}, any other topic: the record is sent as given (the user's own JSON object), as any producer
 *       of a {@code kafka} workflow's topic would; each workflow on T finds id and time through its own pointers.</li>
 * </ul>
 * The data comes from the command line, {@code --file F}, or standard input ({@code -} or {@code --stdin}).
 */
public final class PublishCommand {

    private static final Set<String> VALUED = Set.of("config", "set", "workflow", "id", "time", "topic", "file");

    private PublishCommand() {
    }

    /**
     * One record to publish, decided from the arguments alone. {@code trigger} is the wrapped trigger record on
     * {@value Topics#TRIGGERS}, null for a record sent as given to a user topic.
     */
    record Request(String topic, byte[] key, byte[] value, TriggerRecord trigger) {

        /** What to tell the user once the broker acknowledged the record at {@code partition}/{@code offset}. */
        String describe(int partition, long offset, long timestamp) {
            String where = "published to " + topic + " partition " + partition + " offset " + offset;
            String position = EventKey.sourcePosition(topic, partition, offset);
            if (trigger != null) {
                // The dispatcher's own derivation (ValidateTrigger): the same function, the same inputs.
                EventKey key = trigger.eventKey(timestamp, position);
                return where + "\nevent key " + key + (trigger.id() != null ? ""
                        : "\n(no --id: the key carries the record's position, so the same data published again is another event)");
            }
            return where + " (record time " + Instant.ofEpochMilli(timestamp) + ")"
                    + "\nthe dispatcher derives one event key per enabled kafka workflow on " + topic
                    + ": workflowId@<the record's time pointer, else " + timestamp + ">#<the record's id pointer, else "
                    + position + ">";
        }
    }

    static int run(List<String> argv, PrintStream out, PrintStream err) throws Exception {
        return run(argv, System.in, out);
    }

    static int run(List<String> argv, InputStream stdin, PrintStream out) throws Exception {
        Args args = Args.parse("publish", argv, VALUED, Set.of("stdin"));
        Request request = request(args, stdin);
        OnceflowConfig config = Onceflow.config(args);
        try (KafkaProducer<byte[], byte[]> producer = producer(config)) {
            RecordMetadata md;
            try {
                md = producer.send(new ProducerRecord<>(request.topic(), request.key(), request.value())).get(90, TimeUnit.SECONDS);
            } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException
                     | org.apache.kafka.common.KafkaException e) {
                Throwable cause = e.getCause() != null ? e.getCause() : e;
                throw new IllegalStateException("could not publish to " + request.topic() + " at Kafka "
                        + config.get(OnceflowConfig.KAFKA_BOOTSTRAP) + " (is the broker reachable and the topic created?"
                        + (request.trigger() == null ? " onceflow dev creates the topics of enabled kafka workflows;"
                        + " elsewhere create it with your Kafka tools" : "") + "): " + cause.getMessage(), e);
            }
            out.println(request.describe(md.partition(), md.offset(), md.timestamp()));
        }
        return 0;
    }

    /** Validates the arguments and reads the data; nothing is sent. */
    static Request request(Args args, InputStream stdin) {
        String topic = args.get("topic", Topics.TRIGGERS);
        if (topic.isBlank()) {
            throw new Args.UsageException("--topic must not be empty");
        }
        byte[] data = data(args, stdin);
        if (!topic.equals(Topics.TRIGGERS)) {
            for (String option : List.of("workflow", "id", "time")) {
                if (args.get(option, null) != null) {
                    throw new Args.UsageException("--" + option + " applies to " + Topics.TRIGGERS + " only: a record on "
                            + topic + " is sent as given, and each kafka workflow on " + topic
                            + " reads its id and time from the record through its own JSON pointers");
                }
            }
            if (data == null) {
                throw new Args.UsageException("publish --topic " + topic + " needs the record: DATA, --file F, or - for standard input");
            }
            object(data);
            return new Request(topic, null, data, null);
        }
        String workflow = args.get("workflow", null);
        if (workflow == null) {
            throw new Args.UsageException("publish: option --workflow is required on " + Topics.TRIGGERS
                    + " (or give --topic T to send a record as given to the topic of a kafka workflow)");
        }
        Instant time = null;
        if (args.get("time", null) != null) {
            try {
                time = Instant.parse(args.get("time", null));
            } catch (DateTimeParseException e) {
                throw new Args.UsageException("--time must be an ISO-8601 instant such as 2026-01-10T01:00:00Z");
            }
        }
        String id = args.get("id", null);
        if (id != null && id.isEmpty()) {
            throw new Args.UsageException("--id must not be empty");
        }
        ObjectNode object = object(data == null ? "{}".getBytes(StandardCharsets.UTF_8) : data);
        TriggerRecord record;
        try {
            record = new TriggerRecord(workflow, id, time, object);
            EventKey.of(workflow, 0); // a workflow id the dispatcher would refuse is refused here, naming the rule
        } catch (IllegalArgumentException e) {
            throw new Args.UsageException(e.getMessage());
        }
        byte[] key = id == null ? null : id.getBytes(StandardCharsets.UTF_8);
        return new Request(Topics.TRIGGERS, key, record.toBytes(), record);
    }

    /**
     * The data from exactly one source: the words on the command line, {@code --file F}, or standard input
     * ({@code -} or {@code --stdin}); null when none is given.
     */
    static byte[] data(Args args, InputStream stdin) {
        List<String> words = args.positional();
        boolean dash = words.contains("-");
        if (dash && words.size() > 1) {
            throw new Args.UsageException("'-' reads the data from standard input; give no other DATA with it");
        }
        boolean fromStdin = dash || args.flag("stdin");
        String file = args.get("file", null);
        int sources = (words.isEmpty() || dash ? 0 : 1) + (file == null ? 0 : 1) + (fromStdin ? 1 : 0);
        if (sources > 1) {
            throw new Args.UsageException("give the data once: DATA on the command line, --file F, or - (--stdin) for standard input");
        }
        try {
            if (file != null) {
                return Files.readAllBytes(Path.of(file));
            }
            if (fromStdin) {
                return stdin.readAllBytes();
            }
        } catch (NoSuchFileException e) {
            throw new Args.UsageException("--file " + file + ": no such file");
        } catch (IOException e) {
            throw new Args.UsageException("cannot read the data from " + (file != null ? file : "standard input") + ": " + e.getMessage());
        }
        return words.isEmpty() ? null : String.join(" ", words).getBytes(StandardCharsets.UTF_8);
    }

    private static ObjectNode object(byte[] data) {
        JsonNode parsed;
        try {
            parsed = Json.MAPPER.readTree(data);
        } catch (IOException e) {
            String reason = e instanceof com.fasterxml.jackson.core.JsonProcessingException j ? j.getOriginalMessage() : e.getMessage();
            throw new Args.UsageException("the data is not valid JSON: " + reason);
        }
        if (!(parsed instanceof ObjectNode object)) {
            throw new Args.UsageException("the data must be a JSON object, got "
                    + (parsed == null || parsed.isMissingNode() ? "nothing" : parsed.getNodeType().name().toLowerCase()));
        }
        return object;
    }

    public static KafkaProducer<byte[], byte[]> producer(OnceflowConfig config) {
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
