package dev.onceflow.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.common.EventKey;
import dev.onceflow.common.Json;
import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.common.Topics;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code onceflow publish}, through the dispatcher's admin API, which checks the workflow and its
 * trigger before anything is sent and answers the real event key:
 *
 * <ul>
 *   <li>{@code --workflow ID [--id ID] [--time T]}: {@code POST /api/workflows/{id}/publish}; for a kafka workflow
 *       on {@value Topics#TRIGGERS} the data is wrapped in a trigger record naming the workflow, for an api workflow
 *       it is the call's body.</li>
 *   <li>{@code --topic T}: {@code POST /api/topics/{topic}/records}, the record sent as given (the user's own JSON
 *       object), as any producer of a {@code kafka} workflow's topic would; each workflow on T finds id and time
 *       through its own pointers.</li>
 * </ul>
 * The data comes from the argument, {@code --data}, {@code --file F}, or standard input ({@code -} or
 * {@code --stdin}). With {@code --wait}, polls the execution until it ends and prints it as
 * {@code executions show} does; exit 0 when it succeeded, 1 when it failed or was cancelled.
 * One instance per invocation.
 */
@Command(name = "publish", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Publish one event to a workflow (or a record to the topic of kafka workflows) and print its event key.",
                "The dispatcher checks the workflow and its trigger first: an unknown, disabled or schedule workflow is refused at once."})
public final class PublishCommand implements Callable<Integer> {

    /** Where {@code -} and {@code --stdin} read from (tests set their own). */
    static InputStream stdin = System.in;
    /** How often {@code --wait} asks for the execution. */
    static final Duration POLL = Duration.ofMillis(200);

    @Mixin
    AdminCli.Api api;
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;
    @Option(names = "--workflow", paramLabel = "ID", description = "The workflow to start (a kafka workflow on onceflow.triggers, or an api workflow).")
    String workflow;
    @Option(names = "--id", paramLabel = "ID", description = "The event's own id: the same id published again is the same event (run once).")
    String id;
    @Option(names = "--time", paramLabel = "ISO-8601", description = "The event's time, e.g. 2026-01-10T01:00:00Z (kafka workflows; default: the record's time).")
    String time;
    @Option(names = "--topic", paramLabel = "TOPIC", description = "Instead of --workflow: send the record as given to this topic of kafka workflows.")
    String topic;
    @Option(names = "--data", paramLabel = "JSON", description = "The data, a JSON object (default: {}).")
    String data;
    @Option(names = "--file", paramLabel = "FILE", description = "Read the data from this file.")
    Path file;
    @Option(names = "--stdin", description = "Read the data from standard input (as DATA '-').")
    boolean fromStdin;
    @Option(names = "--wait", description = "Wait for the execution to end; print its status and timeline (exit 0 succeeded, 1 failed or cancelled).")
    boolean await;
    @Option(names = "--timeout", paramLabel = "S", defaultValue = "60", description = "How long --wait waits, in seconds (default: ${DEFAULT-VALUE}).")
    int timeoutSeconds;
    @Parameters(arity = "0..1", paramLabel = "DATA", description = "The data as a JSON object, or - to read it from standard input.")
    String dataArgument;

    /** One request to the admin API, decided from the arguments alone. */
    record Request(String path, ObjectNode body) {
    }

    @Override
    public Integer call() {
        Request request = request(stdin);
        if (await && timeoutSeconds < 1) {
            throw new Args.UsageException("--timeout must be at least 1 second");
        }
        if (await && topic != null) {
            throw new Args.UsageException("--wait needs --workflow (a record on a topic may start several workflows)");
        }
        AdminCli.Client client = api.client();
        JsonNode answer = client.post(request.path(), request.body());
        PrintWriter out = spec.commandLine().getOut();
        if (api.output.equals("json") && !await) {
            out.println(Json.text(answer));
            return AdminCli.OK;
        }
        if (topic != null) {
            out.println("published to " + topic + " partition " + answer.path("partition").asInt() + " offset " + answer.path("offset").asLong());
            for (JsonNode e : answer.path("events")) {
                out.println(e.hasNonNull("eventKey") ? "event key " + e.get("eventKey").asText() + " (workflow " + e.path("workflow").asText() + ")"
                        : "workflow " + e.path("workflow").asText() + ": " + e.path("error").asText());
            }
            return AdminCli.OK;
        }
        String key = answer.path("eventKey").asText();
        out.println("event key " + key);
        out.flush();
        return await ? await(client, key) : AdminCli.OK;
    }

    /** Polls the execution of {@code key} until it ends or {@code --timeout} passes; prints it as {@code executions show}. */
    private int await(AdminCli.Client client, String key) {
        PrintWriter out = spec.commandLine().getOut();
        long deadline = System.nanoTime() + Duration.ofSeconds(timeoutSeconds).toNanos();
        String status = null;
        while (System.nanoTime() < deadline) {
            try {
                status = client.get("/api/executions/" + AdminCli.q(key)).path("status").asText();
                if (TERMINAL.contains(status)) {
                    break;
                }
            } catch (AdminCli.ApiError e) {
                if (e.code != AdminCli.NOT_FOUND) {
                    throw e;
                }
            }
            try {
                Thread.sleep(POLL.toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AdminCli.ApiError(AdminCli.FAILED, "interrupted while waiting for " + key);
            }
        }
        if (status == null) {
            throw new AdminCli.ApiError(AdminCli.FAILED, "no execution of " + key + " appeared within " + timeoutSeconds + " s: are the engines"
                    + " running (onceflow fleet)? was the event dead-lettered (onceflow dlq list)?");
        }
        // The same rendering as 'onceflow executions show KEY', called, not copied.
        CommandLine show = new CommandLine(new AdminCli.ExecutionsShow());
        show.setOut(out);
        show.setErr(spec.commandLine().getErr());
        show.execute("--url", client.base, "--token", client.token, "-o", api.output, key);
        if (!TERMINAL.contains(status)) {
            throw new AdminCli.ApiError(AdminCli.FAILED, "execution " + key + " is still " + status + " after " + timeoutSeconds
                    + " s (--timeout S to wait longer; onceflow executions show " + key + ")");
        }
        return status.equals("succeeded") ? AdminCli.OK : AdminCli.FAILED;
    }

    private static final Set<String> TERMINAL = Set.of("succeeded", "failed", "cancelled");

    /** Validates the arguments and reads the data; nothing is sent. */
    Request request(InputStream in) {
        byte[] bytes = data(in);
        if (topic != null) {
            if (topic.isBlank()) {
                throw new Args.UsageException("--topic must not be empty");
            }
            if (workflow != null) {
                throw new Args.UsageException("give --workflow or --topic, not both: a record on " + topic + " is sent as given to"
                        + " every enabled kafka workflow on it");
            }
            for (Map.Entry<String, String> option : Map.of("id", String.valueOf(id), "time", String.valueOf(time)).entrySet()) {
                if (!option.getValue().equals("null")) {
                    throw new Args.UsageException("--" + option.getKey() + " applies to --workflow only: a record on " + topic
                            + " is sent as given, and each kafka workflow on " + topic
                            + " reads its id and time from the record through its own JSON pointers");
                }
            }
            if (bytes == null) {
                throw new Args.UsageException("publish --topic " + topic + " needs the record: DATA, --data, --file F, or - for standard input");
            }
            return new Request("/api/topics/" + AdminCli.q(topic) + "/records", object(bytes));
        }
        if (workflow == null) {
            throw new Args.UsageException("publish: option --workflow is required"
                    + " (or give --topic T to send a record as given to the topic of a kafka workflow)");
        }
        try {
            EventKey.of(workflow, 0); // a workflow id the dispatcher would refuse is refused here, naming the rule
        } catch (IllegalArgumentException e) {
            throw new Args.UsageException(e.getMessage());
        }
        ObjectNode body = Json.MAPPER.createObjectNode();
        if (id != null) {
            if (id.isEmpty()) {
                throw new Args.UsageException("--id must not be empty");
            }
            body.put("id", id);
        }
        if (time != null) {
            try {
                body.put("time", Instant.parse(time).toString());
            } catch (DateTimeParseException e) {
                throw new Args.UsageException("--time must be an ISO-8601 instant such as 2026-01-10T01:00:00Z");
            }
        }
        body.set("data", object(bytes == null ? "{}".getBytes(StandardCharsets.UTF_8) : bytes));
        return new Request("/api/workflows/" + AdminCli.q(workflow) + "/publish", body);
    }

    /** The data from exactly one source: DATA, {@code --data}, {@code --file F}, or standard input; null when none is given. */
    private byte[] data(InputStream in) {
        boolean dash = "-".equals(dataArgument);
        boolean readStdin = dash || fromStdin;
        int sources = (dataArgument == null || dash ? 0 : 1) + (data == null ? 0 : 1) + (file == null ? 0 : 1) + (readStdin ? 1 : 0);
        if (sources > 1) {
            throw new Args.UsageException("give the data once: DATA, --data JSON, --file F, or - (--stdin) for standard input");
        }
        try {
            if (file != null) {
                return Files.readAllBytes(file);
            }
            if (readStdin) {
                return in.readAllBytes();
            }
        } catch (NoSuchFileException e) {
            throw new Args.UsageException("--file " + file + ": no such file");
        } catch (IOException e) {
            throw new Args.UsageException("cannot read the data from " + (file != null ? file : "standard input") + ": " + e.getMessage());
        }
        String text = data != null ? data : dataArgument;
        return text == null ? null : text.getBytes(StandardCharsets.UTF_8);
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

    /** A producer for the embedded tools ({@code dev}, {@code bench}) and tests: acks from all replicas, not idempotent. */
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
