package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.common.Json;
import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.common.Topics;
import dev.onceflow.common.WorkflowStore;
import dev.onceflow.common.workflow.DefinitionException;
import dev.onceflow.common.workflow.Workflows;
import dev.onceflow.dispatcher.Dispatcher;
import dev.onceflow.engine.Engine;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.utils.Utils;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The bad-input corpus (issue 9): one table of bad inputs — trigger records, workflow files, API
 * calls, configuration — each refused or failed with a message naming its cause, the input kept
 * (a dead letter with its reason headers, a failed execution with the reason, or a refusal), the
 * processes still running, and, for records, the good records just before and just after it on
 * the same partition processed.
 *
 * <p>One fleet for every case (one dispatcher, one engine with 2 workers): every record case is
 * published first, between two good records with the same Kafka key (so on the same partition of
 * {@code onceflow.triggers}; for a record that becomes an event, the good records' ids are chosen so
 * that their events share its partition of {@code onceflow.events} too), then the outcomes are
 * awaited together, and each row of the table checks its own.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class BadInputCorpusIT {

    /** Kafka's default max.request.size, which is the dispatcher's record size limit on the test broker. */
    private static final int LIMIT = 1_048_576;

    private final String u = Fleet.uniqueId("c").substring(2);
    private final String textWf = "corpus-text-" + u;
    private final String checkWf = "corpus-check-" + u;
    private final String slowWf = "corpus-slow-" + u;
    private final String syntaxWf = "corpus-syntax-" + u;
    private final String undefinedWf = "corpus-undefined-" + u;
    private final String classWf = "corpus-class-" + u;
    private final String exitWf = "corpus-exit-" + u;
    private final String hugeWf = "corpus-huge-" + u;
    private final String repeatWf = "corpus-repeat-" + u;
    private final String thousandWf = "corpus-thousand-" + u;
    private final String scheduleWf = "corpus-schedule-" + u;
    private final String apiWf = "corpus-api-" + u;
    private final String tableWf = "corpus-table-" + u;
    private final String userTopicWf = "corpus-usertopic-" + u;
    private final String disabledWf = "corpus-disabled-" + u;
    private final String missingTable = "corpus_missing_" + u.replace('-', '_');
    private final String userTopic = "corpus-user-" + u;

    /** One fleet for the class (per-class lifecycle), closed after the last case. */
    @RegisterExtension
    final Fleet fleet = new Fleet(TestInfra.embedded());
    private Dispatcher dispatcher;
    private Engine engine;
    private KafkaProducer<byte[], byte[]> raisedProducer;
    private int partitions;
    private final HttpClient http = HttpClient.newHttpClient();
    /** The dead-letter topic as last read (refreshed while waiting). */
    private volatile List<ConsumerRecord<byte[], byte[]>> dlq = List.of();
    private String sentinelKey;

    private final List<RecordCase> recordCases = recordCases();
    private final List<Case> cases = allCases();

    // ------------------------------------------------------------------------------------------
    // The table
    // ------------------------------------------------------------------------------------------

    /** One row: a bad input and what must become of it. */
    interface Case {
        String name();

        void verify() throws Exception;
    }

    record Simple(String name, Check check) implements Case {
        @Override
        public void verify() throws Exception {
            check.run();
        }

        @Override
        public String toString() {
            return name;
        }
    }

    @FunctionalInterface
    interface Check {
        void run() throws Exception;
    }

    /** What must become of a bad trigger record. */
    @FunctionalInterface
    interface RecordCheck {
        void run(RecordCase c) throws Exception;
    }

    /**
     * A trigger record on {@code onceflow.triggers}. {@code eventKey} is the event key the
     * dispatcher gives it when it accepts it (null when it must refuse it): the good neighbours are
     * then chosen on that event's partition.
     */
    final class RecordCase implements Case {
        final String name;
        final byte[] value;
        final String eventKey;
        final boolean raisedProducer;
        final RecordCheck check;
        final Predicate<RecordCase> settled;
        String before;
        String after;
        Future<RecordMetadata> sent;

        RecordCase(String name, byte[] value, String eventKey, boolean raisedProducer, RecordCheck check,
                   Predicate<RecordCase> settled) {
            this.name = name;
            this.value = value;
            this.eventKey = eventKey;
            this.raisedProducer = raisedProducer;
            this.check = check;
            this.settled = settled;
        }

        String key() {
            return "corpus-" + u + "-" + name;
        }

        @Override
        public String name() {
            return "record: " + name;
        }

        @Override
        public void verify() throws Exception {
            check.run(this);
            assertThat(succeeded(before)).as("the good record just before it on the same partition (%s) ran", before).isTrue();
            assertThat(succeeded(after)).as("the good record just after it on the same partition (%s) ran", after).isTrue();
            stillRunning();
        }

        /** The dead letter of this record written by the dispatcher (matched by source partition and offset). */
        ConsumerRecord<byte[], byte[]> dispatcherDeadLetter() throws Exception {
            RecordMetadata m = sent.get();
            return dlq.stream().filter(r -> Topics.TRIGGERS.equals(Fleet.header(r, Topics.H_SOURCE_TOPIC))
                            && String.valueOf(m.partition()).equals(Fleet.header(r, Topics.H_SOURCE_PARTITION))
                            && String.valueOf(m.offset()).equals(Fleet.header(r, Topics.H_SOURCE_OFFSET)))
                    .findFirst().orElse(null);
        }

        @Override
        public String toString() {
            return name();
        }
    }

    /**
     * The engine commits the failed execution to PostgreSQL before its Kafka transaction with the
     * dead letter commits: a case that expects both waits for both (in the snapshot of this poll).
     */
    private boolean deadLettered(String eventKey) {
        return dlq.stream().anyMatch(d -> isDeadLetterOf(d, eventKey));
    }

    /**
     * A dead letter keeps its record's original key: an event's is its ordering key when it has one
     * (ADR 0020), so the event key is also looked up in the kept envelope.
     */
    private static boolean isDeadLetterOf(ConsumerRecord<byte[], byte[]> d, String eventKey) {
        if (d.key() != null && new String(d.key(), StandardCharsets.UTF_8).equals(eventKey)) {
            return true;
        }
        return d.value() != null && new String(d.value(), StandardCharsets.UTF_8).contains("\"eventKey\":\"" + eventKey + "\"");
    }

    List<Case> cases() {
        return cases;
    }

    @ParameterizedTest(name = "{index}: {0}")
    @MethodSource("cases")
    void badInputIsRefusedWithItsCauseAndNothingElseStops(Case c) throws Exception {
        c.verify();
    }

    private List<Case> allCases() {
        List<Case> all = new ArrayList<>(recordCases);
        all.addAll(workflowFileCases());
        all.addAll(runtimeDeployCases());
        all.addAll(apiCases());
        all.addAll(configCases());
        return all;
    }

    // ------------------------------------------------------------------------------------------
    // Trigger records
    // ------------------------------------------------------------------------------------------

    private RecordCase refused(String name, String value, String errorClass, String... messageParts) {
        return refused(name, value.getBytes(StandardCharsets.UTF_8), errorClass, messageParts);
    }

    private RecordCase refused(String name, byte[] value, String errorClass, String... messageParts) {
        return new RecordCase(name, value, null, false, c -> {
            ConsumerRecord<byte[], byte[]> dead = c.dispatcherDeadLetter();
            assertThat(dead).as("a dead letter for %s", c.name).isNotNull();
            assertThat(Fleet.header(dead, Topics.H_ERROR_CLASS)).isEqualTo(errorClass);
            assertThat(Fleet.header(dead, Topics.H_ERROR_MESSAGE)).contains(messageParts);
            assertThat(dead.key()).isEqualTo(c.key().getBytes(StandardCharsets.UTF_8));
            if (c.value.length < LIMIT / 2) {
                assertThat(dead.value()).as("the record is kept as published").isEqualTo(c.value);
            }
        }, c -> deadLetterOf(c) != null);
    }

    private ConsumerRecord<byte[], byte[]> deadLetterOf(RecordCase c) {
        try {
            return c.dispatcherDeadLetter();
        } catch (Exception e) {
            return null;
        }
    }

    /** A trigger record naming {@code workflow} with this id and data (and a raw {@code time} JSON value, or none). */
    private static String trigger(String workflow, String id, String time, ObjectNode data) {
        ObjectNode t = Json.MAPPER.createObjectNode().put("workflow", workflow).put("id", id);
        if (time != null) {
            try {
                t.set("time", Json.MAPPER.readTree(time));
            } catch (java.io.IOException e) {
                throw new IllegalArgumentException(e);
            }
        }
        t.set("data", data);
        return t.toString();
    }

    private static ObjectNode text(String caseName, String text) {
        return Json.MAPPER.createObjectNode().put("case", caseName).put("text", text);
    }

    /** A record the dispatcher accepts for {@link #textWf} and whose text must be stored exactly. */
    private RecordCase storedLiterally(String name, String text) {
        String id = "bad-" + name;
        return new RecordCase(name, trigger(textWf, id, null, text(name, text)).getBytes(StandardCharsets.UTF_8),
                textWf + "@0#" + id, false, c -> {
            assertThat(status(c.eventKey)).isEqualTo("succeeded");
            assertThat(storedText(c.eventKey)).as("stored literally").isEqualTo(text);
            assertThat(fleet.count("SELECT count(*) FROM corpus_texts WHERE event_key = ?", c.eventKey)).as("once").isEqualTo(1);
            assertThat(fleet.count("SELECT count(*) FROM corpus_texts WHERE case_name = ?", name))
                    .as("its row and its two neighbours' rows, nothing else").isEqualTo(3);
            assertThat(fleet.count("SELECT count(*) FROM pg_tables WHERE tablename IN ('corpus_texts', 'executions')"))
                    .as("the tables are still there").isEqualTo(2);
        }, c -> finished(c.eventKey));
    }

    /** A record for {@code workflow} whose execution must end failed with a reason containing {@code parts}. */
    private RecordCase failsWith(String name, String workflow, ObjectNode data, String... parts) {
        String id = "bad-" + name;
        return new RecordCase(name, trigger(workflow, id, null, data).getBytes(StandardCharsets.UTF_8),
                workflow + "@0#" + id, false, c -> {
            assertThat(status(c.eventKey)).isEqualTo("failed");
            assertThat(error(c.eventKey)).contains(parts);
        }, c -> finished(c.eventKey));
    }

    private List<RecordCase> recordCases() {
        List<RecordCase> r = new ArrayList<>();
        r.add(refused("not-json", "{not json", "MALFORMED_JSON", "malformed JSON"));
        r.add(refused("json-array", "[1, 2, 3]", "MALFORMED_JSON", "expected a JSON object, got array"));
        r.add(refused("json-string", "\"just a string\"", "MALFORMED_JSON", "expected a JSON object, got string"));
        r.add(refused("empty-value", new byte[0], "MALFORMED_JSON", "empty record value"));
        r.add(refused("unknown-workflow", trigger("no-such-workflow-" + u, "x", null, text("unknown", "x")),
                "UNKNOWN_WORKFLOW", "unknown workflow 'no-such-workflow-" + u + "'"));
        r.add(refused("missing-workflow", "{\"id\": \"x\", \"data\": {}}", "MISSING_FIELD", "missing field 'workflow'"));
        r.add(refused("workflow-not-an-id", "{\"workflow\": \"two words\", \"data\": {}}", "INVALID_FIELD",
                "'two words' is not a workflow id"));
        r.add(refused("time-not-a-time", trigger(textWf, "t1", "\"yesterday\"", text("t1", "x")), "INVALID_FIELD",
                "field 'time': 'yesterday'"));
        r.add(refused("time-bad-date", trigger(textWf, "t2", "\"2026-13-45T25:61:00Z\"", text("t2", "x")), "INVALID_FIELD",
                "field 'time': '2026-13-45T25:61:00Z'"));
        r.add(refused("time-without-zone", trigger(textWf, "t3", "\"2026-01-10 01:00:00\"", text("t3", "x")), "INVALID_FIELD",
                "field 'time': '2026-01-10 01:00:00'"));
        r.add(refused("time-before-1970", trigger(textWf, "t4", "\"1969-12-31T23:59:59Z\"", text("t4", "x")), "INVALID_FIELD",
                "field 'time': '1969-12-31T23:59:59Z'"));
        r.add(refused("time-negative-millis", trigger(textWf, "t5", "-1", text("t5", "x")), "INVALID_FIELD", "field 'time': '-1'"));
        r.add(refused("time-past-epoch-millis", trigger(textWf, "t6", "\"+1000000000-12-31T23:59:59Z\"", text("t6", "x")),
                "INVALID_FIELD", "field 'time': '+1000000000-12-31T23:59:59Z'"));
        r.add(refused("time-fraction", trigger(textWf, "t7", "1.5e30", text("t7", "x")), "INVALID_FIELD", "field 'time'"));
        // After 9999 but within epoch milliseconds: a valid instant, so a valid event (stored under its key).
        r.add(new RecordCase("time-after-9999", trigger(textWf, "t8", "\"+10000-01-01T00:00:00Z\"", text("time-after-9999", "y10k"))
                .getBytes(StandardCharsets.UTF_8), textWf + "@253402300800000#t8", false, c -> {
            assertThat(status(c.eventKey)).isEqualTo("succeeded");
            assertThat(storedText(c.eventKey)).isEqualTo("y10k");
        }, c -> finished(c.eventKey)));
        // The largest epoch milliseconds Java holds: also a valid time (the event time is not stored as a timestamp).
        r.add(new RecordCase("time-max-millis", trigger(textWf, "t9", String.valueOf(Long.MAX_VALUE), text("time-max-millis", "max"))
                .getBytes(StandardCharsets.UTF_8), textWf + "@" + Long.MAX_VALUE + "#t9", false, c -> {
            assertThat(status(c.eventKey)).isEqualTo("succeeded");
            assertThat(storedText(c.eventKey)).isEqualTo("max");
        }, c -> finished(c.eventKey)));
        r.add(refused("data-not-an-object", "{\"workflow\": \"" + textWf + "\", \"data\": [1, 2]}", "INVALID_FIELD",
                "field 'data': expected a JSON object, got array"));
        r.add(refused("id-too-long", trigger(textWf, "i".repeat(300), null, text("id", "x")), "INVALID_FIELD",
                "field 'id': expected a non-empty string of at most 256 characters"));
        r.add(refused("schedule-workflow", trigger(scheduleWf, "s", null, text("s", "x")), "WRONG_TRIGGER_TYPE",
                "workflow '" + scheduleWf + "'", "a schedule trigger"));
        r.add(refused("api-workflow", trigger(apiWf, "a", null, text("a", "x")), "WRONG_TRIGGER_TYPE",
                "workflow '" + apiWf + "'", "an api trigger"));
        r.add(refused("table-workflow", trigger(tableWf, "t", null, text("t", "x")), "WRONG_TRIGGER_TYPE",
                "workflow '" + tableWf + "'", "a table trigger"));
        r.add(refused("user-topic-workflow", trigger(userTopicWf, "k", null, text("k", "x")), "WRONG_TRIGGER_TYPE",
                "workflow '" + userTopicWf + "'", "topic '" + userTopic + "'"));
        r.add(refused("disabled-workflow", trigger(disabledWf, "d", null, text("d", "x")), "DISABLED_WORKFLOW",
                "workflow '" + disabledWf + "'", "is disabled"));
        r.add(storedLiterally("emoji", "👩‍💻 🚀 naïve café 𝄞 — ünïcödé"));
        r.add(storedLiterally("control-characters", "bell\u0007 tab\t nl\n cr\r esc\u001b del\u007f nbsp\u00a0 ls\u2028 bom\ufeff"));
        r.add(storedLiterally("sql-injection-drop", "x'); DROP TABLE corpus_texts; --"));
        r.add(storedLiterally("sql-injection-quotes", "Robert'); DELETE FROM executions WHERE '1'='1"));
        r.add(storedLiterally("sql-injection-dollar", "$$; SELECT pg_sleep(30); $$ \\'; COMMIT; --"));
        // PostgreSQL's jsonb refuses \u0000 (22P05): the engine's poison handling (ADR 0009).
        r.add(new RecordCase("nul-character", trigger(textWf, "bad-nul", null, text("nul-character", "a\u0000b"))
                .getBytes(StandardCharsets.UTF_8), textWf + "@0#bad-nul", false, c -> {
            ConsumerRecord<byte[], byte[]> dead = dlq.stream().filter(d -> isDeadLetterOf(d, c.eventKey)).findFirst().orElse(null);
            assertThat(dead).as("dead-lettered by the engine").isNotNull();
            assertThat(Fleet.header(dead, Topics.H_ERROR_CLASS)).isEqualTo("PROCESSING_FAILED");
            assertThat(Fleet.header(dead, Topics.H_ERROR_MESSAGE)).contains("3 times").containsIgnoringCase("unicode");
            assertThat(new String(dead.value(), StandardCharsets.UTF_8)).as("the event is kept, \\u0000 included").contains("a\\u0000b");
            assertThat(status(c.eventKey)).isEqualTo("failed");
            assertThat(error(c.eventKey)).containsIgnoringCase("unicode").contains(Topics.DLQ);
        }, c -> finished(c.eventKey) && deadLettered(c.eventKey)));
        r.add(failsWith("constraint-violation", checkWf, Json.MAPPER.createObjectNode().put("n", -5),
                "node 'check' failed", "23514", "violates check constraint \"corpus_n_positive\""));
        r.add(failsWith("statement-timeout", slowWf, Json.MAPPER.createObjectNode(), "node 'slow' failed", "timed out after 500 ms"));
        r.add(failsWith("sql-syntax-error", syntaxWf, Json.MAPPER.createObjectNode(), "node 'typo' failed", "42601", "syntax error at or near \"SELEC\""));
        r.add(failsWith("undefined-expression-name", undefinedWf, Json.MAPPER.createObjectNode(), "node 'undefined' failed",
                "expression 'nosuchname + 1' failed: undefined variable 'nosuchname' (known: "));
        r.add(failsWith("class-access-getClass", classWf, Json.MAPPER.createObjectNode(), "node 'klass' failed",
                "'getClass' is not an allowed method or function"));
        // Nothing exits: the name is not resolvable (and the sentinel checked by every row ran after it).
        r.add(failsWith("class-access-system-exit", exitWf, Json.MAPPER.createObjectNode(), "node 'exit' failed",
                "undefined variable 'java' (known: "));
        r.add(failsWith("huge-string-by-plus", hugeWf, Json.MAPPER.createObjectNode().put("s", "x".repeat(100_000)),
                "node 'huge' failed", "a string built by + would hold 4100000 characters, more than the limit of 4000000"));
        r.add(failsWith("huge-string-by-repeat", repeatWf, Json.MAPPER.createObjectNode(), "node 'repeat' failed",
                "'repeat' is not an allowed method or function"));
        r.add(new RecordCase("thousand-nodes", trigger(thousandWf, "bad-1000", null, Json.MAPPER.createObjectNode())
                .getBytes(StandardCharsets.UTF_8), thousandWf + "@0#bad-1000", false, c -> {
            assertThat(status(c.eventKey)).isEqualTo("succeeded");
            assertThat(fleet.count("SELECT count(*) FROM processed_keys WHERE key LIKE ? || '/%'", c.eventKey))
                    .as("each of the 1,000 nodes ran once").isEqualTo(1000);
        }, c -> finished(c.eventKey)));
        // Size: the producer of `onceflow publish` refuses 2 MB, naming the size and the setting.
        r.add(new RecordCase("two-megabytes-publisher-refuses", twoMegabytes("p"), null, false, c -> {
            Throwable t = catchThrowable(() -> c.sent.get());
            assertThat(t).isInstanceOf(ExecutionException.class).hasCauseInstanceOf(RecordTooLargeException.class);
            assertThat(t.getCause().getMessage()).contains("max.request.size").containsPattern("\\b20\\d{5}\\b");
        }, c -> c.sent.isDone()));
        // With the publisher's limit raised, the broker refuses it (message.max.bytes): nothing enters Onceflow.
        r.add(new RecordCase("two-megabytes-broker-refuses", twoMegabytes("b"), null, true, c -> {
            Throwable t = catchThrowable(() -> c.sent.get());
            assertThat(t).isInstanceOf(ExecutionException.class).hasCauseInstanceOf(RecordTooLargeException.class);
            assertThat(t.getCause().getMessage()).containsIgnoringCase("larger than the max message size");
        }, c -> c.sent.isDone()));
        // A few bytes under the broker's and the publisher's limit: accepted by Kafka, too large once wrapped.
        r.add(new RecordCase("just-under-the-broker-limit", nearLimit("n", 8), null, false, c -> {
            assertThat(c.sent.get().serializedValueSize()).as("the broker accepted it").isPositive();
            ConsumerRecord<byte[], byte[]> dead = c.dispatcherDeadLetter();
            assertThat(dead).isNotNull();
            assertThat(Fleet.header(dead, Topics.H_ERROR_CLASS)).isEqualTo("RECORD_TOO_LARGE");
            assertThat(Fleet.header(dead, Topics.H_ERROR_MESSAGE)).contains("over the limit of " + LIMIT + " bytes")
                    .contains("max.request.size");
            assertThat(dead.key()).isEqualTo(c.key().getBytes(StandardCharsets.UTF_8));
            assertThat(Fleet.header(dead, Topics.H_ERROR_MESSAGE)).as("too large to keep whole: the source position finds it")
                    .contains("(the value, " + c.value.length + " bytes, is left out");
            assertThat(fleet.count("SELECT count(*) FROM executions WHERE event_key = ?", textWf + "@0#bad-near-n")).isZero();
        }, c -> deadLetterOf(c) != null));
        // 1,000 bytes under: the envelope's few hundred bytes still fit, so it runs, stored whole.
        r.add(new RecordCase("fits-once-wrapped", nearLimit("f", 1000), textWf + "@0#bad-near-f", false, c -> {
            assertThat(status(c.eventKey)).isEqualTo("succeeded");
            assertThat(fleet.count("SELECT length(text) FROM corpus_texts WHERE event_key = ?", c.eventKey))
                    .isGreaterThan(LIMIT - 2000);
        }, c -> finished(c.eventKey)));
        return r;
    }

    private byte[] twoMegabytes(String tag) {
        return trigger(textWf, "bad-2mb-" + tag, null, text("2mb", "x".repeat(2 * 1024 * 1024))).getBytes(StandardCharsets.UTF_8);
    }

    /**
     * A trigger record for {@link #textWf} whose size as the publisher's producer counts it is
     * {@code under} bytes below {@link #LIMIT} (the key is the case key, as published).
     */
    private byte[] nearLimit(String tag, int under) {
        String name = tag.equals("n") ? "just-under-the-broker-limit" : "fits-once-wrapped";
        int key = ("corpus-" + u + "-" + name).getBytes(StandardCharsets.UTF_8).length;
        int empty = trigger(textWf, "bad-near-" + tag, null, text(name, "")).getBytes(StandardCharsets.UTF_8).length;
        // The producer's upper bound for one record alone in a batch: 61 (batch) + 21 (record framing)
        // + 5 + key + 5 + value + 5 (headers count): the arithmetic of RecordSizeLimit.sizeOf.
        int value = LIMIT - under - (61 + 21 + 5 + key + 5 + 5);
        return trigger(textWf, "bad-near-" + tag, null, text(name, "x".repeat(value - empty))).getBytes(StandardCharsets.UTF_8);
    }

    // ------------------------------------------------------------------------------------------
    // Workflow files (the validation `onceflow workflow deploy` runs: Workflows.parse)
    // ------------------------------------------------------------------------------------------

    private static Case definition(String name, String json, String... problemParts) {
        return new Simple("workflow file: " + name, () -> {
            Path file = Files.createTempFile("corpus-" + name, ".json");
            Files.writeString(file, json);
            java.io.ByteArrayOutputStream err = new java.io.ByteArrayOutputStream();
            // The CLI's own validation of files: every problem printed, nothing deployed.
            assertThat(WorkflowCommand.parse(List.of(file), new java.io.PrintStream(err, true, StandardCharsets.UTF_8)))
                    .as("refused").isNull();
            assertThat(err.toString(StandardCharsets.UTF_8)).contains(file.toString()).contains(problemParts);
            assertThatThrownBy(() -> Workflows.parse(name, json.getBytes(StandardCharsets.UTF_8)))
                    .isInstanceOf(DefinitionException.class).hasMessageContainingAll(problemParts);
            Files.delete(file);
        });
    }

    private static final String END = "[{\"type\": \"end\", \"id\": \"done\"}]";

    private static List<Case> workflowFileCases() {
        return List.of(
                definition("malformed JSON (a missing comma)", "{\"id\": \"w\"\n \"nodes\": []}", "malformed JSON",
                        "Unexpected character", "line 2"),
                definition("malformed JSON (cut short)", "{\"id\": \"w\", \"nodes\": [", "malformed JSON at line 1",
                        "Unexpected end-of-input", "line 1, column 22"),
                definition("not an object", "[1, 2]", "a workflow definition must be a JSON object, got an array"),
                definition("unknown node type", "{\"id\": \"w\", \"nodes\": [{\"type\": \"teleport\", \"id\": \"call\"}]}",
                        "node 'call': unknown node type 'teleport' (known types: sql, condition, calculation, delay, http,"
                                + " parallel, loop, end)"),
                definition("node type typo", "{\"id\": \"w\", \"nodes\": [{\"type\": \"conditon\", \"id\": \"check\", \"if\": \"true\"}]}",
                        "node 'check': unknown node type 'conditon'", "did you mean 'condition'?"),
                definition("unknown field", "{\"id\": \"w\", \"nodes\": [{\"type\": \"end\", \"id\": \"done\", \"mesage\": \"bye\"}]}",
                        "node 'done': unknown field 'mesage' of an end node", "did you mean 'message'?"),
                definition("field of the wrong JSON type", "{\"id\": \"w\", \"nodes\": [{\"type\": \"delay\", \"id\": \"wait\","
                        + " \"ms\": \"soon\"}]}", "node 'wait' field 'ms': expected a whole number, got the string \"soon\""),
                definition("expression cut short", "{\"id\": \"w\", \"nodes\": [{\"type\": \"condition\", \"id\": \"check\","
                        + " \"if\": \"vars.total >\"}]}",
                        "node 'check' field 'if': cannot parse expression 'vars.total >' at column 12: unexpected end after '>'"),
                definition("unknown trigger type", "{\"id\": \"w\", \"trigger\": {\"type\": \"webhook\"}, \"nodes\": " + END + "}",
                        "trigger: unknown trigger type 'webhook' (known types: kafka, schedule, api, table)"),
                definition("missing start node", "{\"id\": \"w\", \"start\": \"nope\", \"nodes\": " + END + "}",
                        "field 'start': no node 'nope'"),
                definition("next to a missing node", "{\"id\": \"w\", \"nodes\": [{\"type\": \"sql\", \"id\": \"a\", \"sql\": \"SELECT 1\","
                        + " \"next\": \"ghost\"}]}", "node 'a' field 'next': no node 'ghost'"),
                definition("cycle", "{\"id\": \"w\", \"nodes\": [{\"type\": \"sql\", \"id\": \"a\", \"sql\": \"SELECT 1\", \"next\": \"b\"},"
                        + " {\"type\": \"sql\", \"id\": \"b\", \"sql\": \"SELECT 1\", \"next\": \"a\"}]}", "cycle", "a -> b -> a"),
                definition("duplicate node ids", "{\"id\": \"w\", \"nodes\": [{\"type\": \"end\", \"id\": \"x\"}, {\"type\": \"end\", \"id\": \"x\"}]}",
                        "node 'x' field 'id': declared twice"),
                definition("invalid cron", "{\"id\": \"w\", \"trigger\": {\"type\": \"schedule\", \"cron\": \"61 25 * * *\"}, \"nodes\": "
                        + END + "}", "trigger field 'cron'", "61 25 * * *"),
                definition("no nodes", "{\"id\": \"w\", \"nodes\": []}", "at least one node"),
                definition("invalid workflow id", "{\"id\": \"no spaces allowed\", \"nodes\": " + END + "}",
                        "'no spaces allowed' is not a valid workflow id"),
                definition("placeholders and params differ", "{\"id\": \"w\", \"nodes\": [{\"type\": \"sql\", \"id\": \"a\","
                        + " \"sql\": \"SELECT ?, ?\", \"params\": [\"1\"]}]}", "2 '?' placeholders but 1 params"),
                definition("transaction control (COMMIT)", "{\"id\": \"w\", \"nodes\": [{\"type\": \"sql\", \"id\": \"a\","
                        + " \"sql\": \"COMMIT\"}]}", "node 'a'", "field 'sql'", "'COMMIT' would commit the transaction"),
                definition("two statements", "{\"id\": \"w\", \"nodes\": [{\"type\": \"sql\", \"id\": \"a\","
                        + " \"sql\": \"INSERT INTO it_effects (event_key, node) VALUES ('k', 'n'); DELETE FROM it_effects\"}]}",
                        "node 'a'", "field 'sql'", "holds 2 statements"),
                definition("loop in an expression", "{\"id\": \"w\", \"nodes\": [{\"type\": \"condition\", \"id\": \"c\","
                        + " \"if\": \"while (true) { 1 }\"}]}", "node 'c' field 'if'",
                        "cannot parse expression 'while (true) { 1 }' at column 1: 'while' is not allowed"),
                definition("lambda in an expression", "{\"id\": \"w\", \"nodes\": [{\"type\": \"condition\", \"id\": \"c\","
                        + " \"if\": \"(x -> x)(true)\"}]}", "node 'c' field 'if'", "cannot parse expression '(x -> x)(true)'",
                        "functions (x -> …) are not allowed"),
                definition("deeply nested expression", "{\"id\": \"w\", \"nodes\": [{\"type\": \"condition\", \"id\": \"c\","
                        + " \"if\": \"" + "(".repeat(20_000) + "true" + ")".repeat(20_000) + "\"}]}", "node 'c' field 'if'",
                        "nested too deeply"),
                definition("non-positive timeoutMs", "{\"id\": \"w\", \"nodes\": [{\"type\": \"sql\", \"id\": \"a\", \"sql\": \"SELECT 1\","
                        + " \"timeoutMs\": 0}]}", "node 'a' field 'timeoutMs': must be positive"));
    }

    /** Definitions that validation accepts but that fail later, where they can first be known to. */
    private List<Case> runtimeDeployCases() {
        return List.of(
                new Simple("workflow file: a table trigger on a missing table is reported by name", () -> {
                    await().atMost(Duration.ofSeconds(60)).until(() -> dispatcher.captureStatus() != null
                            && dispatcher.captureStatus().problem() != null
                            && dispatcher.captureStatus().problem().contains(missingTable));
                    assertThat(dispatcher.captureStatus().problem()).contains("table public." + missingTable + " does not exist")
                            .contains("'" + tableWf + "'");
                    stillRunning();
                }),
                new Simple("workflow file: 1,000 nodes are accepted (and run: see record thousand-nodes)", () -> {
                    assertThat(Workflows.parse("thousand", thousandNodes().getBytes(StandardCharsets.UTF_8)).nodes()).hasSize(1000);
                }));
    }

    private String thousandNodes() {
        StringBuilder nodes = new StringBuilder();
        for (int i = 0; i < 1000; i++) {
            nodes.append(i == 0 ? "" : ", ").append("{\"type\": \"condition\", \"id\": \"n").append(i)
                    .append("\", \"if\": \"true\"").append(i < 999 ? ", \"then\": \"n" + (i + 1) + "\"" : "").append('}');
        }
        return "{\"id\": \"" + thousandWf + "\", \"nodes\": [" + nodes + "]}";
    }

    // ------------------------------------------------------------------------------------------
    // API calls
    // ------------------------------------------------------------------------------------------

    private Case api(String name, Check check) {
        return new Simple("api: " + name, () -> {
            String before = "corpus-" + name.replaceAll("[^a-z0-9]+", "-") + "-before";
            String after = "corpus-" + name.replaceAll("[^a-z0-9]+", "-") + "-after";
            assertThat(call("POST", apiUrl(apiWf), "{\"n\": 1}", before).statusCode()).isEqualTo(202);
            check.run();
            assertThat(call("POST", apiUrl(apiWf), "{\"n\": 2}", after).statusCode()).isEqualTo(202);
            for (String key : List.of(before, after)) {
                await().atMost(Duration.ofSeconds(60)).until(() -> succeeded(apiWf + "@0#" + key));
            }
            stillRunning();
        });
    }

    private List<Case> apiCases() {
        return List.of(
                api("wrong method", () -> {
                    HttpResponse<String> r = call("GET", apiUrl(apiWf), null, null);
                    assertThat(r.statusCode()).isEqualTo(405);
                    assertThat(r.headers().firstValue("Allow")).hasValue("POST");
                    assertThat(r.body()).contains("use POST");
                }),
                api("empty body is an empty object", () -> {
                    HttpResponse<String> r = call("POST", apiUrl(apiWf), "", "corpus-empty-body");
                    assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
                    await().atMost(Duration.ofSeconds(60)).until(() -> succeeded(apiWf + "@0#corpus-empty-body"));
                    assertThat(fleet.count("SELECT count(*) FROM executions WHERE event_key = ? AND trigger = '{}'::jsonb",
                            apiWf + "@0#corpus-empty-body")).isEqualTo(1);
                }),
                api("body not an object", () -> {
                    HttpResponse<String> r = call("POST", apiUrl(apiWf), "[1, 2]", null);
                    assertThat(r.statusCode()).isEqualTo(400);
                    assertThat(r.body()).contains("must be a JSON object");
                }),
                api("malformed body", () -> {
                    HttpResponse<String> r = call("POST", apiUrl(apiWf), "{oops", null);
                    assertThat(r.statusCode()).isEqualTo(400);
                    assertThat(r.body()).contains("malformed JSON body");
                }),
                api("10 MB body", () -> {
                    HttpResponse<String> r = call("POST", apiUrl(apiWf), "{\"s\": \"" + "x".repeat(10 * 1024 * 1024) + "\"}", null);
                    assertThat(r.statusCode()).isEqualTo(413);
                    assertThat(r.body()).contains("body larger than 1048576 bytes");
                }),
                api("body that fits the API but not once wrapped", () -> {
                    HttpResponse<String> r = call("POST", apiUrl(apiWf), "{\"s\": \"" + "x".repeat(LIMIT - 100) + "\"}", null);
                    assertThat(r.statusCode()).isEqualTo(413);
                    assertThat(r.body()).contains("over the limit of " + LIMIT + " bytes");
                }),
                api("unknown workflow", () -> {
                    HttpResponse<String> r = call("POST", apiUrl("no-such-workflow-" + u), "{}", null);
                    assertThat(r.statusCode()).isEqualTo(404);
                    assertThat(r.body()).contains("unknown workflow 'no-such-workflow-" + u + "'");
                }),
                api("workflow without an api trigger", () -> {
                    HttpResponse<String> r = call("POST", apiUrl(textWf), "{}", null);
                    assertThat(r.statusCode()).isEqualTo(400);
                    assertThat(r.body()).contains("workflow '" + textWf + "' has no api trigger");
                }),
                api("10 KB Idempotency-Key", () -> {
                    HttpResponse<String> r = call("POST", apiUrl(apiWf), "{}", "k".repeat(10 * 1024));
                    assertThat(r.statusCode()).isEqualTo(400);
                    assertThat(r.body()).contains("Idempotency-Key must be 1 to 256 characters");
                }),
                api("no bearer token", () -> {
                    HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(apiUrl(apiWf)))
                            .POST(HttpRequest.BodyPublishers.ofString("{}")).build(), HttpResponse.BodyHandlers.ofString());
                    assertThat(r.statusCode()).isEqualTo(401);
                    assertThat(r.body()).contains("missing bearer token");
                }),
                api("unknown endpoint", () -> {
                    HttpResponse<String> r = call("POST", "http://localhost:" + dispatcher.httpPort() + "/api/workflows/" + apiWf + "/run",
                            "{}", null);
                    assertThat(r.statusCode()).isEqualTo(404);
                    assertThat(r.body()).contains("no such endpoint");
                }));
    }

    private String apiUrl(String workflow) {
        return "http://localhost:" + dispatcher.httpPort() + "/api/workflows/" + workflow + "/trigger";
    }

    private HttpResponse<String> call(String method, String url, String body, String idempotencyKey) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).header("Authorization", "Bearer " + TestInfra.TOKEN).timeout(Duration.ofSeconds(60))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body))
                .header("Content-Type", "application/json");
        if (idempotencyKey != null) {
            b.header("Idempotency-Key", idempotencyKey);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    // ------------------------------------------------------------------------------------------
    // Configuration
    // ------------------------------------------------------------------------------------------

    private List<Case> configCases() {
        return List.of(
                new Simple("config: a non-numeric number", () -> assertThatThrownBy(() -> OnceflowConfig.of(Map.of("engine.workers", "three")))
                        .isInstanceOf(IllegalArgumentException.class)
                        .hasMessageContaining("configuration key 'engine.workers' must be a whole number, got 'three'")),
                new Simple("config: a number out of range", () -> assertThatThrownBy(() -> OnceflowConfig.of(Map.of("engine.workers", "0")))
                        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'engine.workers' must be between 1")),
                new Simple("config: an unknown key", () -> assertThatThrownBy(() -> OnceflowConfig.of(Map.of("engine.wokers", "2")))
                        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("unknown configuration key 'engine.wokers'")),
                new Simple("config: a guarantee setting passed through", () -> assertThatThrownBy(() -> OnceflowConfig.of(
                        Map.of("kafka.consumer.isolation.level", "read_uncommitted")))
                        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("kafka.consumer.isolation.level")),
                new Simple("config: --set with commas inside a value", () -> {
                    Args args = Args.parse(RoleCommand.ENGINE, List.of("--set", "kafka.bootstrap.servers=a:1,b:2,engine.workers=4"));
                    OnceflowConfig config = Onceflow.config(args);
                    assertThat(config.get(OnceflowConfig.KAFKA_BOOTSTRAP)).isEqualTo("a:1,b:2");
                    assertThat(config.getInt(OnceflowConfig.ENGINE_WORKERS)).isEqualTo(4);
                }),
                new Simple("config: an unreachable broker", () -> {
                    String address = "127.0.0.1:" + closedPort();
                    OnceflowConfig config = fleet.infra.config(Map.of(OnceflowConfig.KAFKA_BOOTSTRAP.name(), address));
                    assertThatThrownBy(() -> RoleCommand.prepare(config, new StartupWait(1_500)))
                            .isInstanceOf(IllegalStateException.class)
                            .hasMessageContaining("gave up waiting for Kafka at " + address)
                            .hasMessageContaining("Connection refused");
                }),
                new Simple("config: an unreachable PostgreSQL", () -> {
                    String url = "jdbc:postgresql://127.0.0.1:" + closedPort() + "/postgres";
                    OnceflowConfig config = fleet.infra.config(Map.of(OnceflowConfig.DB_URL.name(), url));
                    assertThatThrownBy(() -> RoleCommand.prepareDatabase(config, new StartupWait(1_500)))
                            .isInstanceOf(IllegalStateException.class)
                            .hasMessageContaining("gave up waiting for PostgreSQL at " + url)
                            .hasMessageContaining("refused");
                }),
                new Simple("config: a wrong PostgreSQL password is refused at once", () -> {
                    OnceflowConfig config = fleet.infra.config(Map.of(OnceflowConfig.DB_USER.name(), passwordUser(),
                            OnceflowConfig.DB_PASSWORD.name(), "wrong"));
                    long start = System.nanoTime();
                    assertThatThrownBy(() -> RoleCommand.prepareDatabase(config, new StartupWait(60_000)))
                            .isInstanceOf(IllegalStateException.class)
                            .hasMessageContaining("password authentication failed for user \"" + passwordUser() + "\"");
                    assertThat(Duration.ofNanos(System.nanoTime() - start)).as("no waiting on a wrong password")
                            .isLessThan(Duration.ofSeconds(15));
                }));
    }

    private static int closedPort() throws java.io.IOException {
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    private String passwordUser() {
        return "corpus_pw_" + u.replace('-', '_');
    }

    /**
     * The embedded PostgreSQL trusts every local connection; this user alone is made to need its
     * password (scram-sha-256), by a pg_hba.conf line placed before the trust lines.
     */
    private void requirePasswordFor(String user) throws Exception {
        try (Connection c = fleet.ds.getConnection(); java.sql.Statement st = c.createStatement()) {
            st.execute("CREATE ROLE " + user + " LOGIN PASSWORD 'right'");
            String hba;
            try (ResultSet rs = st.executeQuery("SHOW hba_file")) {
                rs.next();
                hba = rs.getString(1);
            }
            Path file = Path.of(hba);
            String line = "host all " + user + " 127.0.0.1/32 scram-sha-256\nhost all " + user + " ::1/128 scram-sha-256\n"
                    + "local all " + user + " scram-sha-256\n";
            Files.writeString(file, line + Files.readString(file));
            st.execute("SELECT pg_reload_conf()");
        }
    }

    // ------------------------------------------------------------------------------------------
    // The fleet, the publishing and the waiting
    // ------------------------------------------------------------------------------------------

    @BeforeAll
    void publishEveryRecordCaseAndAwaitTheOutcomes() throws Exception {
        Scripts.run(fleet.ds, """
                CREATE TABLE IF NOT EXISTS corpus_texts (id bigserial PRIMARY KEY, event_key text NOT NULL,
                    case_name text NOT NULL, text text NOT NULL);
                CREATE TABLE IF NOT EXISTS corpus_checked (id bigserial PRIMARY KEY, n integer NOT NULL,
                    CONSTRAINT corpus_n_positive CHECK (n > 0));
                """);
        requirePasswordFor(passwordUser());
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, fleet.infra.bootstrap()))) {
            admin.createTopics(List.of(new NewTopic(userTopic, 1, (short) 1))).all().get();
        }
        deployWorkflows();
        engine = fleet.startEngine(2);
        dispatcher = fleet.startDispatcher();
        dispatcher.awaitRunning(Duration.ofSeconds(60));
        raisedProducer = new KafkaProducer<>(Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, fleet.infra.bootstrap(),
                ProducerConfig.MAX_REQUEST_SIZE_CONFIG, String.valueOf(3 * 1024 * 1024)), new ByteArraySerializer(), new ByteArraySerializer());
        try (KafkaProducer<byte[], byte[]> p = PublishCommand.producer(fleet.infra.config(Map.of()))) {
            partitions = p.partitionsFor(Topics.EVENTS).size();
        }
        for (RecordCase c : recordCases) {
            publish(c);
        }
        good("sentinel", "sentinel-" + u, null);
        sentinelKey = textWf + "@0#sentinel-" + u;
        fleet.flush();
        // Wait for all the outcomes at once; a case that never settles fails on its own row below.
        try {
            await().atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofSeconds(2)).until(() -> {
                dlq = fleet.dlq();
                List<String> waiting = new ArrayList<>();
                for (RecordCase c : recordCases) {
                    if (!c.settled.test(c) || !succeeded(c.before) || !succeeded(c.after)) {
                        waiting.add(c.name);
                    }
                }
                if (!succeeded(sentinelKey)) {
                    waiting.add("sentinel");
                }
                System.out.println("BadInputCorpusIT: waiting for " + waiting);
                return waiting.isEmpty();
            });
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            dlq = fleet.dlq();
        }
    }

    private void deployWorkflows() throws Exception {
        String sqlNode = "{\"type\": \"sql\", \"id\": \"%s\", \"sql\": \"%s\", \"params\": [%s]%s}";
        deploy(textWf, null, sqlNode.formatted("store", "INSERT INTO corpus_texts (event_key, case_name, text) VALUES (?, ?, ?)",
                "\"event.key\", \"trigger.case\", \"trigger.text\"", ""));
        deploy(checkWf, null, sqlNode.formatted("check", "INSERT INTO corpus_checked (n) VALUES (?)", "\"trigger.n\"", ""));
        deploy(slowWf, null, sqlNode.formatted("slow", "SELECT pg_sleep(5)", "", ", \"timeoutMs\": 500"));
        deploy(syntaxWf, null, sqlNode.formatted("typo", "SELEC 1", "", ""));
        deploy(undefinedWf, null, sqlNode.formatted("undefined", "SELECT ?", "\"nosuchname + 1\"", ""));
        deploy(classWf, null, sqlNode.formatted("klass", "SELECT ?", "\"''.getClass()\"", ""));
        deploy(exitWf, null, sqlNode.formatted("exit", "SELECT ?", "\"java.lang.System.exit(1)\"", ""));
        deploy(hugeWf, null, sqlNode.formatted("huge", "SELECT length(?)", "\"" + String.join(" + ",
                java.util.Collections.nCopies(64, "trigger.s")) + "\"", ""));
        deploy(repeatWf, null, sqlNode.formatted("repeat", "SELECT length(?)", "\"'x'.repeat(1000000000)\"", ""));
        fleet.deploy(thousandNodes());
        String effect = Fleet.effectNode("called");
        // Other tests share the database: deployed until the fleet closes, no table or schedule workflow of ours stays enabled.
        fleet.deployUntilClosed("{\"id\": \"" + apiWf + "\", \"trigger\": {\"type\": \"api\"}, \"nodes\": " + effect + "}");
        fleet.deployUntilClosed("{\"id\": \"" + scheduleWf + "\", \"trigger\": {\"type\": \"schedule\", \"cron\": \"0 0 1 1 *\","
                + " \"start\": \"2999-01-01T00:00:00Z\"}, \"nodes\": " + effect + "}");
        fleet.deployUntilClosed("{\"id\": \"" + tableWf + "\", \"trigger\": {\"type\": \"table\", \"table\": \"" + missingTable
                + "\"}, \"nodes\": " + effect + "}");
        fleet.deployUntilClosed("{\"id\": \"" + userTopicWf + "\", \"trigger\": {\"type\": \"kafka\", \"topic\": \"" + userTopic
                + "\"}, \"nodes\": " + effect + "}");
        fleet.deploy("{\"id\": \"" + disabledWf + "\", \"nodes\": " + effect + "}");
        new WorkflowStore(fleet.ds).setEnabled(disabledWf, false);
    }

    private void deploy(String id, String trigger, String node) throws Exception {
        fleet.deploy("{\"id\": \"" + id + "\"" + (trigger == null ? "" : ", \"trigger\": " + trigger) + ", \"nodes\": [" + node + "]}");
    }

    /** Good record, bad record, good record, all with the case's Kafka key: one partition, in this order. */
    private void publish(RecordCase c) throws Exception {
        c.before = goodIdOnPartitionOf(c, "before");
        c.after = goodIdOnPartitionOf(c, "after");
        if (c.raisedProducer) {
            good(c.name, c.before, c.key()).get(30, TimeUnit.SECONDS);
            c.sent = raisedProducer.send(new ProducerRecord<>(Topics.TRIGGERS, c.key().getBytes(StandardCharsets.UTF_8), c.value));
            catchThrowable(() -> c.sent.get(30, TimeUnit.SECONDS));
            good(c.name, c.after, c.key()).get(30, TimeUnit.SECONDS);
        } else {
            good(c.name, c.before, c.key());
            c.sent = fleet.publishRaw(Topics.TRIGGERS, c.key(), c.value);
            good(c.name, c.after, c.key());
        }
        c.before = textWf + "@0#" + c.before;
        c.after = textWf + "@0#" + c.after;
    }

    /** An id for a good record whose event lands on the bad record's partition of onceflow.events (when it has an event). */
    private String goodIdOnPartitionOf(RecordCase c, String which) {
        String base = "good-" + c.name + "-" + which;
        if (c.eventKey == null) {
            return base;
        }
        int target = partition(c.eventKey);
        for (int i = 0; ; i++) {
            String id = base + "-" + i;
            if (partition(textWf + "@0#" + id) == target) {
                return id;
            }
        }
    }

    /** The partition Kafka's default partitioner gives this key (events are keyed by event key). */
    private int partition(String key) {
        return Utils.toPositive(Utils.murmur2(key.getBytes(StandardCharsets.UTF_8))) % partitions;
    }

    private Future<RecordMetadata> good(String caseName, String id, String kafkaKey) {
        return fleet.publishRaw(Topics.TRIGGERS, kafkaKey == null ? id : kafkaKey,
                trigger(textWf, id, null, text(caseName, "good")).getBytes(StandardCharsets.UTF_8));
    }

    /** The processes still run: the dispatcher's streams, the engine without a reported problem, and a late good record ran. */
    private void stillRunning() throws Exception {
        assertThat(dispatcher.isRunning()).as("the dispatcher runs").isTrue();
        assertThat(engine.problems()).as("the engine reports no stalled partition").isEmpty();
        assertThat(succeeded(sentinelKey)).as("a good record published after every bad one ran").isTrue();
    }

    @AfterAll
    void closeRaisedProducer() {
        if (raisedProducer != null) {
            raisedProducer.close();
        }
    }

    // ------------------------------------------------------------------------------------------
    // Queries
    // ------------------------------------------------------------------------------------------

    private boolean succeeded(String eventKey) throws Exception {
        return eventKey != null && "succeeded".equals(status(eventKey));
    }

    private boolean finished(String eventKey) {
        try {
            return fleet.count("SELECT count(*) FROM executions WHERE event_key = ? AND finished_at IS NOT NULL", eventKey) == 1;
        } catch (Exception e) {
            return false;
        }
    }

    private String status(String eventKey) throws Exception {
        return column("SELECT status FROM executions WHERE event_key = ?", eventKey);
    }

    private String error(String eventKey) throws Exception {
        return column("SELECT error FROM executions WHERE event_key = ?", eventKey);
    }

    private String storedText(String eventKey) throws Exception {
        return column("SELECT text FROM corpus_texts WHERE event_key = ?", eventKey);
    }

    private String column(String sql, String arg) throws Exception {
        try (Connection c = fleet.ds.getConnection(); PreparedStatement q = c.prepareStatement(sql)) {
            q.setString(1, arg);
            try (ResultSet rs = q.executeQuery()) {
                return rs.next() ? rs.getString(1) : null;
            }
        }
    }
}
