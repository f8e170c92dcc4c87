package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.onceflow.common.Json;
import dev.onceflow.common.Topics;
import dev.onceflow.common.TriggerRecord;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.dispatcher.Dispatcher;
import dev.onceflow.dispatcher.RecordLag;
import dev.onceflow.engine.Engine;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The admin API and the operator commands against a real dispatcher and engine (broker and
 * PostgreSQL real): a retry after a fixed failure, a cancel while a node runs, a redrive after a
 * fix, deploy/disable/rollback, the fleet and its lag in records, health and metrics, the token, and
 * executions as an operator reads them (waiting filterable, run order, whole keys, cancelled nodes, counts).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 6, unit = TimeUnit.MINUTES)
class AdminApiIT {

    @RegisterExtension
    final Fleet fleet = new Fleet(TestInfra.embedded());
    private final HttpClient http = HttpClient.newHttpClient();
    private Dispatcher dispatcher;
    private Engine engine;
    private String base;

    @BeforeAll
    void start() {
        // aCancelWhileANodeRunsLetsThatNodeFinishAndNothingAfterItRun runs a 3 s statement inline, in
        // its batch's transaction: past the default inline limit (1 s) it would be handed off (ADR 0021).
        engine = fleet.startEngine(2, java.util.Map.of(dev.onceflow.common.OnceflowConfig.ENGINE_SQL_INLINE.name(), "10000"));
        dispatcher = fleet.startDispatcher();
        dispatcher.awaitRunning(Duration.ofSeconds(60));
        base = "http://localhost:" + dispatcher.httpPort();
    }

    private HttpResponse<String> call(String method, String path, String body, String token) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(60))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (token != null) {
            b.header("Authorization", "Bearer " + token);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private JsonNode ok(String method, String path, String body) throws Exception {
        HttpResponse<String> r = call(method, path, body, TestInfra.TOKEN);
        assertThat(r.statusCode()).as(method + " " + path + ": " + r.body()).isBetween(200, 299);
        return Json.tree(r.body());
    }

    /** Runs an operator command as {@code onceflow ...} would, with the token in the environment. */
    private record Cli(int code, String out, String err) {
    }

    private Cli cli(String token, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        List<String> argv = new ArrayList<>(List.of(args));
        argv.add("--url");
        argv.add(base);
        int code = AdminCli.run(argv, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8),
                token == null ? Map.of() : Map.of("ONCEFLOW_API_TOKEN", token));
        return new Cli(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    /** An event key in a path: its '#' is not a fragment. */
    private static String enc(String key) {
        return java.net.URLEncoder.encode(key, StandardCharsets.UTF_8);
    }

    private String eventKey(Workflow wf, String id) {
        return wf.id() + "@1700000000000#" + id;
    }

    @Test
    void withoutTheTokenEveryEndpointIs401AndHealthAndMetricsAnswer() throws Exception {
        for (String path : List.of("/api/executions", "/api/dlq", "/api/workflows", "/api/fleet")) {
            HttpResponse<String> r = call("GET", path, null, null);
            assertThat(r.statusCode()).as(path).isEqualTo(401);
            assertThat(Json.tree(r.body()).get("error").asText()).contains("bearer token");
            assertThat(call("GET", path, null, "wrong").statusCode()).as(path).isEqualTo(401);
        }
        assertThat(cli("wrong", "executions", "list").code()).isEqualTo(AdminCli.UNAUTHORIZED);
        assertThat(cli(null, "fleet").code()).isEqualTo(AdminCli.UNAUTHORIZED);

        await().atMost(Duration.ofSeconds(60)).until(() -> call("GET", "/health/ready", null, null).statusCode() == 200);
        assertThat(Json.tree(call("GET", "/health/ready", null, null).body()).path("broker").asText()).isEqualTo("UP");
        assertThat(call("GET", "/health/live", null, null).statusCode()).isEqualTo(200);
        assertThat(call("GET", "/metrics", null, null).body()).contains("onceflow_");
        String engineBase = "http://localhost:" + engine.httpPort();
        await().atMost(Duration.ofSeconds(60)).until(() -> http.send(HttpRequest.newBuilder(URI.create(engineBase + "/health/ready")).build(),
                HttpResponse.BodyHandlers.ofString()).statusCode() == 200);
        assertThat(Json.tree(http.send(HttpRequest.newBuilder(URI.create(engineBase + "/health/ready")).build(),
                HttpResponse.BodyHandlers.ofString()).body()).path("broker").asText()).isEqualTo("UP");
        assertThat(http.send(HttpRequest.newBuilder(URI.create(engineBase + "/metrics")).build(), HttpResponse.BodyHandlers.ofString()).body())
                .contains("onceflow_partitions_revoked_total");
        assertThat(call("GET", "/api/executions/no-such-key", null, TestInfra.TOKEN).statusCode()).isEqualTo(404);
        assertThat(cli(TestInfra.TOKEN, "executions", "show", "no-such-key").code()).isEqualTo(AdminCli.NOT_FOUND);
    }

    @Test
    void aFailedExecutionIsRetriedFromItsFailedNodeAfterTheFixAndWhatSucceededDoesNotRunAgain() throws Exception {
        String table = "admin_fix_" + Fleet.uniqueId("t").replace('-', '_');
        Workflow wf = fleet.deploy("""
                {"id": "%s", "trigger": {"type": "kafka"}, "nodes": [
                  {"type": "sql", "id": "before", "sql": "INSERT INTO it_effects (event_key, node) VALUES (?, 'before')",
                   "params": ["event.key"], "next": "write"},
                  {"type": "sql", "id": "write", "sql": "INSERT INTO %s (event_key) VALUES (?)", "params": ["event.key"], "next": "after"},
                  {"type": "sql", "id": "after", "sql": "INSERT INTO it_effects (event_key, node) VALUES (?, 'after')",
                   "params": ["event.key"]}
                ]}""".formatted(Fleet.uniqueId("retry"), table));
        fleet.publish(wf.id(), "r-1", Fleet.data(1));
        fleet.flush();
        String key = eventKey(wf, "r-1");
        await().atMost(Duration.ofMinutes(1)).until(() -> fleet.finished(wf.id()) == 1);
        JsonNode failed = ok("GET", "/api/executions/" + enc(key), null);
        assertThat(failed.get("status").asText()).isEqualTo("failed");
        assertThat(failed.get("error").asText()).contains("node 'write' failed").contains(table);
        assertThat(cli(TestInfra.TOKEN, "executions", "list", "--workflow", wf.id(), "--status", "failed").out()).contains(key);
        // The fix.
        try (var c = fleet.ds.getConnection(); var s = c.createStatement()) {
            s.execute("CREATE TABLE " + table + " (event_key text PRIMARY KEY)");
        }

        Cli retried = cli(TestInfra.TOKEN, "executions", "retry", key);
        assertThat(retried.code()).as(retried.err()).isEqualTo(AdminCli.OK);
        assertThat(retried.out()).contains("attempt: 2");
        await().atMost(Duration.ofMinutes(1)).until(() -> fleet.succeeded(wf.id()) == 1);

        JsonNode done = ok("GET", "/api/executions/" + enc(key), null);
        assertThat(done.get("status").asText()).isEqualTo("succeeded");
        List<String> timeline = new ArrayList<>();
        done.get("nodes").forEach(n -> timeline.add(n.get("node").asText() + "#" + n.get("attempt").asInt() + ":" + n.get("status").asText()));
        assertThat(timeline).containsExactlyInAnyOrder("before#1:succeeded", "write#1:failed", "write#2:succeeded", "after#1:succeeded");
        assertThat(fleet.count("SELECT count(*) FROM it_effects WHERE event_key = ? AND node = 'before'", key))
                .as("the node that succeeded before the failure did not run again").isEqualTo(1);
        assertThat(fleet.count("SELECT count(*) FROM " + table)).isEqualTo(1);
        assertThat(fleet.count("SELECT count(*) FROM it_effects WHERE event_key = ? AND node = 'after'", key)).isEqualTo(1);
        HttpResponse<String> again = call("POST", "/api/executions/" + enc(key) + "/retry", null, TestInfra.TOKEN);
        assertThat(again.statusCode()).as("only a failed execution is retried").isEqualTo(409);
        assertThat(cli(TestInfra.TOKEN, "executions", "retry", key).code()).isEqualTo(AdminCli.FAILED);
    }

    @Test
    void aCancelWhileANodeRunsLetsThatNodeFinishAndNothingAfterItRun() throws Exception {
        Workflow wf = fleet.deploy("""
                {"id": "%s", "trigger": {"type": "kafka"}, "nodes": [
                  {"type": "delay", "id": "first", "ms": 200, "next": "slow"},
                  {"type": "sql", "id": "slow", "sql": "SELECT pg_sleep(3)", "next": "wait"},
                  {"type": "delay", "id": "wait", "ms": 1000, "next": "after"},
                  {"type": "sql", "id": "after", "sql": "INSERT INTO it_effects (event_key, node) VALUES (?, 'after')",
                   "params": ["event.key"]}
                ]}""".formatted(Fleet.uniqueId("cancel")));
        fleet.publish(wf.id(), "c-1", Fleet.data(1));
        fleet.flush();
        String key = eventKey(wf, "c-1");
        await().atMost(Duration.ofMinutes(1)).pollInterval(Duration.ofMillis(50)).until(() -> fleet.count(
                "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(3)' AND state = 'active'") == 1);

        Cli cancelled = cli(TestInfra.TOKEN, "executions", "cancel", key);

        assertThat(cancelled.code()).as(cancelled.err()).isEqualTo(AdminCli.OK);
        assertThat(cancelled.out()).contains("status: cancelled");
        // The delay's timer comes due and fires; the node after it must not run.
        await().atMost(Duration.ofMinutes(1)).until(() -> fleet.count("SELECT count(*) FROM timers WHERE key = ? AND fired_at IS NOT NULL",
                key + "/wait") == 1);
        await().pollDelay(Duration.ofSeconds(2)).atMost(Duration.ofSeconds(3)).until(() -> true);
        JsonNode e = ok("GET", "/api/executions/" + enc(key), null);
        assertThat(e.get("status").asText()).isEqualTo("cancelled");
        List<String> ran = new ArrayList<>();
        e.get("nodes").forEach(n -> ran.add(n.get("node").asText()));
        assertThat(ran).as("the running node finished; nothing after the cancel ran").contains("slow").doesNotContain("after");
        assertThat(fleet.count("SELECT count(*) FROM it_effects WHERE event_key = ?", key)).isZero();
        assertThat(e.get("error").asText()).as("the error names the command that cancelled it")
                .startsWith("cancelled by operator (command ");
        HttpResponse<String> again = call("POST", "/api/executions/" + enc(key) + "/cancel", null, TestInfra.TOKEN);
        assertThat(again.statusCode()).isEqualTo(409);
        assertThat(again.body()).contains("is already cancelled");
        String engineMetrics = "http://localhost:" + engine.httpPort() + "/metrics";
        assertThat(http.send(HttpRequest.newBuilder(URI.create(engineMetrics)).build(), HttpResponse.BodyHandlers.ofString()).body())
                .as("the engine counts the cancel as a finish with status cancelled")
                .containsPattern("onceflow_executions_finished_total\\{[^}]*status=\"cancelled\"[^}]*workflow=\"" + wf.id() + "\"[^}]*} 1\\.0");
        List<String> outcomes = new ArrayList<>();
        for (var r : fleet.readCommitted(dev.onceflow.common.Topics.OUTCOMES)) {
            dev.onceflow.common.Outcome o = Json.read(r.value(), dev.onceflow.common.Outcome.class);
            if (o.eventKey().equals(key)) {
                outcomes.add(o.status() + " " + o.error());
            }
        }
        assertThat(outcomes).as("the cancel published the execution's outcome, once (ADR 0025)")
                .containsExactly("cancelled " + e.get("error").asText());
    }

    @Test
    void aCancelIsRefusedWithTheReasonAndAnswered202WithItsCommandWhenAccepted() throws Exception {
        Workflow wf = fleet.deploy("""
                {"id": "%s", "trigger": {"type": "kafka"}, "nodes": [
                  {"type": "delay", "id": "wait", "ms": 600000}
                ]}""".formatted(Fleet.uniqueId("cancel202")));
        fleet.publish(wf.id(), "n-1", Fleet.data(1));
        fleet.flush();
        String key = eventKey(wf, "n-1");
        await().atMost(Duration.ofMinutes(1)).until(() -> fleet.count("SELECT count(*) FROM timers WHERE key = ?", key + "/wait") == 1);
        assertThat(call("POST", "/api/executions/" + enc(wf.id() + "@no-such") + "/cancel", null, TestInfra.TOKEN).statusCode())
                .isEqualTo(404);
        assertThat(call("POST", "/api/executions/" + enc(key) + "/cancel", "{not json", TestInfra.TOKEN).statusCode()).isEqualTo(400);

        HttpResponse<String> accepted = call("POST", "/api/executions/" + enc(key) + "/cancel", "{\"reason\": \"bad data\"}",
                TestInfra.TOKEN);

        assertThat(accepted.statusCode()).as(accepted.body()).isEqualTo(202);
        JsonNode answer = Json.tree(accepted.body());
        assertThat(answer.get("command").asText()).isEqualTo("cancel");
        String commandId = answer.get("commandId").asText();
        await().atMost(Duration.ofSeconds(30)).until(() -> ok("GET", "/api/executions/" + enc(key), null).get("status").asText()
                .equals("cancelled"));
        assertThat(ok("GET", "/api/executions/" + enc(key), null).get("error").asText())
                .isEqualTo("cancelled by operator (command " + commandId + "): bad data");
        Cli late = cli(TestInfra.TOKEN, "executions", "cancel", key);
        assertThat(late.code()).isEqualTo(AdminCli.FAILED);
        assertThat(late.err()).contains("is already cancelled");
    }

    @Test
    void executionsReadAsAnOperatorReadsThemWaitingFilterableRunOrderFullKeysAndCancelledNodes() throws Exception {
        // Run order: the three nodes run inline in one transaction (the same times); alphabetical would be check, done, even, record.
        Workflow three = fleet.deployThreeNode(Fleet.uniqueId("order"));
        String longId = "order-" + "x".repeat(70);
        fleet.publish(three.id(), longId, Fleet.data(2));
        Workflow waits = fleet.deploy("""
                {"id": "%s", "trigger": {"type": "kafka"}, "nodes": [
                  {"type": "sql", "id": "first", "sql": "SELECT 1 AS one", "next": "wait"},
                  {"type": "delay", "id": "wait", "ms": 600000, "next": "after"},
                  {"type": "sql", "id": "after", "sql": "INSERT INTO it_effects (event_key, node) VALUES (?, 'after')",
                   "params": ["event.key"]}
                ]}""".formatted(Fleet.uniqueId("waits")));
        fleet.publish(waits.id(), "w-1", Fleet.data(1));
        fleet.flush();
        String threeKey = eventKey(three, longId);
        String waitKey = eventKey(waits, "w-1");
        await().atMost(Duration.ofMinutes(1)).until(() -> fleet.succeeded(three.id()) == 1
                && fleet.count("SELECT count(*) FROM timers WHERE key = ? AND fired_at IS NULL", waitKey + "/wait") == 1);

        List<String> ran = new ArrayList<>();
        ok("GET", "/api/executions/" + enc(threeKey), null).get("nodes").forEach(n -> ran.add(n.get("node").asText()));
        assertThat(ran).as("in the order they ran").containsExactly("record", "check", "even", "done");
        Cli listed = cli(TestInfra.TOKEN, "executions", "list", "--workflow", three.id());
        assertThat(listed.out()).as("the whole key, pasteable into show").contains(threeKey);
        assertThat(cli(TestInfra.TOKEN, "executions", "show", threeKey).out()).containsPattern("record +1 +succeeded[^\\n]*\\n.*check")
                .contains("{\"rowCount\":1}").doesNotContain("…");

        assertThat(ok("GET", "/api/executions?workflow=" + waits.id() + "&status=waiting", null).get("items"))
                .extracting(i -> i.get("eventKey").asText()).containsExactly(waitKey);
        assertThat(ok("GET", "/api/executions?workflow=" + waits.id() + "&status=running", null).get("items")).isEmpty();
        assertThat(call("GET", "/api/executions?status=started", null, TestInfra.TOKEN).body()).contains("running, waiting, succeeded");
        Cli waiting = cli(TestInfra.TOKEN, "executions", "list", "--status", "waiting", "--workflow", waits.id());
        assertThat(waiting.code()).as(waiting.err()).isEqualTo(AdminCli.OK);
        assertThat(waiting.out()).contains("waiting").contains(waitKey);
        assertThat(cli(TestInfra.TOKEN, "executions", "list", "--status", "paused").code()).isEqualTo(AdminCli.USAGE);
        assertThat(counts(waits.id()).get("waiting").asInt()).isEqualTo(1);

        assertThat(cli(TestInfra.TOKEN, "executions", "cancel", waitKey).code()).isEqualTo(AdminCli.OK);

        JsonNode cancelled = ok("GET", "/api/executions/" + enc(waitKey), null);
        assertThat(cancelled.get("status").asText()).isEqualTo("cancelled");
        List<String> nodes = new ArrayList<>();
        cancelled.get("nodes").forEach(n -> nodes.add(n.get("node").asText() + ":" + n.get("status").asText()));
        assertThat(nodes).containsExactly("first:succeeded", "wait:cancelled");
        assertThat(cli(TestInfra.TOKEN, "executions", "show", waitKey).out()).containsPattern("wait +1 +cancelled");
        assertThat(fleet.count("SELECT count(*) FROM processed_keys WHERE key = ? AND status = 'waiting'", waitKey + "/wait"))
                .as("the engine's row keeps what the engine wrote").isEqualTo(1);
        JsonNode after = counts(waits.id());
        assertThat(after.get("waiting").asInt()).isZero();
        assertThat(after.get("cancelled").asInt()).isEqualTo(1);
        assertThat(counts(three.id()).get("succeeded").asInt()).isEqualTo(1);
    }

    /** The executions of a workflow by status, as {@code GET /api/workflows} counts them. */
    private JsonNode counts(String workflow) throws Exception {
        for (JsonNode w : ok("GET", "/api/workflows", null).get("items")) {
            if (w.get("id").asText().equals(workflow)) {
                return w.get("executions");
            }
        }
        throw new AssertionError("no workflow " + workflow);
    }

    @Test
    void lagCountsRecordsNotTransactionMarkers() throws Exception {
        // "onceflow." keeps it out of the dispatcher's user-topic pattern (TriggerTopology.USER_TOPICS).
        String topic = Fleet.uniqueId("onceflow.it-lag-probe");
        String group = Fleet.uniqueId("lag-group");
        TopicPartition p0 = new TopicPartition(topic, 0);
        TopicPartition p1 = new TopicPartition(topic, 1);
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, fleet.infra.bootstrap()));
             KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, fleet.infra.bootstrap(),
                     ProducerConfig.TRANSACTIONAL_ID_CONFIG, topic), new ByteArraySerializer(), new ByteArraySerializer())) {
            admin.createTopics(List.of(new NewTopic(topic, 2, (short) 1))).all().get();
            producer.initTransactions();
            long last0 = transaction(producer, p0, 3);
            last0 = transaction(producer, p0, 2);
            producer.beginTransaction();
            producer.send(new ProducerRecord<>(topic, 0, null, new byte[1])).get();
            producer.abortTransaction(); // aborted: never read, never lag
            long last1 = transaction(producer, p1, 1);
            // What the engine commits: the offset after the last record it read, below its transaction's marker.
            admin.alterConsumerGroupOffsets(group, Map.of(p0, new OffsetAndMetadata(last0 + 1), p1, new OffsetAndMetadata(last1 + 1))).all().get();
            var committed = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
            long offsetsBehind = admin.listOffsets(Map.of(p0, org.apache.kafka.clients.admin.OffsetSpec.latest())).all().get().get(p0).offset()
                    - committed.get(p0).offset();
            assertThat(offsetsBehind).as("negative control: the offsets' difference counts the markers").isPositive();

            RecordLag.Lag idle = RecordLag.of(fleet.infra.bootstrap(), List.of(p0, p1), committed, Duration.ofSeconds(5));

            assertThat(idle.records()).containsEntry(p0.toString(), 0L).containsEntry(p1.toString(), 0L);
            assertThat(idle.exact()).isTrue();

            transaction(producer, p0, 2);
            transaction(producer, p0, 2);
            RecordLag.Lag behind = RecordLag.of(fleet.infra.bootstrap(), List.of(p0, p1), committed, Duration.ofSeconds(5));

            assertThat(behind.records()).as("four records in two transactions wait").containsEntry(p0.toString(), 4L)
                    .containsEntry(p1.toString(), 0L);
            assertThat(behind.total()).isEqualTo(4);
            assertThat(RecordLag.of(fleet.infra.bootstrap(), List.of(p1), Map.of(), Duration.ofSeconds(5)).records())
                    .as("never committed: from the log start").containsEntry(p1.toString(), 1L);
        }

        // The engines' group, after transactional events and tasks are all consumed: 0 on every partition, in the API and in /metrics.
        Workflow wf = fleet.deployThreeNode(Fleet.uniqueId("idle-lag"));
        for (int i = 0; i < 4; i++) {
            fleet.publish(wf.id(), "l-" + i, Fleet.data(i));
        }
        fleet.flush();
        await().atMost(Duration.ofMinutes(1)).until(() -> fleet.succeeded(wf.id()) == 4);
        JsonNode engines = await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(500))
                .until(() -> ok("GET", "/api/fleet", null).get("engines"), e -> e.get("totalLag").asLong() == 0);
        assertThat(engines.get("lagExact").asBoolean()).isTrue();
        engines.get("lag").fields().forEachRemaining(e -> assertThat(e.getValue().asLong()).as(e.getKey()).isZero());
        assertThat(engines.get("lag").size()).isGreaterThanOrEqualTo(2);
        String metrics = http.send(HttpRequest.newBuilder(URI.create("http://localhost:" + engine.httpPort() + "/metrics")).build(),
                HttpResponse.BodyHandlers.ofString()).body();
        List<String> lagLines = metrics.lines().filter(l -> l.startsWith("onceflow_consumer_lag_records{")).toList();
        assertThat(lagLines).isNotEmpty().allMatch(l -> l.endsWith(" 0.0"), "/metrics agrees: 0");
        assertThat(cli(TestInfra.TOKEN, "fleet").out()).contains("totalLag: 0");
    }

    /** {@code n} records to {@code tp} in one committed transaction; the offset of the last. */
    private static long transaction(KafkaProducer<byte[], byte[]> producer, TopicPartition tp, int n) throws Exception {
        producer.beginTransaction();
        long last = -1;
        for (int i = 0; i < n; i++) {
            last = producer.send(new ProducerRecord<>(tp.topic(), tp.partition(), null, new byte[1])).get().offset();
        }
        producer.commitTransaction();
        return last;
    }

    @Test
    void aDeadLetterIsRedrivenAfterTheFixAndRunsOnceHoweverOftenItIsRedriven() throws Exception {
        String id = Fleet.uniqueId("late");
        String recordId = "d-" + id;
        fleet.publishRaw(Topics.TRIGGERS, recordId, new TriggerRecord(id, recordId, Instant.ofEpochMilli(1_700_000_000_000L),
                Fleet.data(1)).toBytes()).get();
        JsonNode dead = await().atMost(Duration.ofMinutes(1)).until(() -> {
            for (JsonNode d : ok("GET", "/api/dlq?reason=UNKNOWN_WORKFLOW&limit=1000", null).get("items")) {
                if (recordId.equals(d.get("key").asText())) {
                    return d;
                }
            }
            return null;
        }, java.util.Objects::nonNull);
        assertThat(dead.get("message").asText()).contains(id);
        assertThat(cli(TestInfra.TOKEN, "dlq", "list", "--reason", "UNKNOWN_WORKFLOW", "--limit", "1000").out()).contains(recordId);

        // The fix: the workflow is deployed (through the API), then the dead letter is redriven, twice.
        HttpResponse<String> invalid = call("POST", "/api/workflows", "{\"id\": \"" + id + "\", \"trigger\": {\"type\": \"kafka\"}, "
                + "\"nodes\": [{\"type\": \"sql\", \"id\": \"x\"}]}", TestInfra.TOKEN);
        assertThat(invalid.statusCode()).isEqualTo(400);
        assertThat(Json.tree(invalid.body()).get("error").asText()).contains("'x'").contains("sql");
        ok("POST", "/api/workflows", "{\"id\": \"" + id + "\", \"trigger\": {\"type\": \"kafka\"}, \"nodes\": " + Fleet.effectNode("effect") + "}");
        await().pollDelay(Duration.ofSeconds(1)).atMost(Duration.ofSeconds(5)).until(() -> true); // the catalog refreshes every 500 ms
        String where = "--partition=" + dead.get("partition").asInt();
        Cli first = cli(TestInfra.TOKEN, "dlq", "redrive", where, "--offset=" + dead.get("offset").asLong());
        assertThat(first.code()).as(first.err()).isEqualTo(AdminCli.OK);
        assertThat(first.out()).contains(Topics.TRIGGERS);
        await().atMost(Duration.ofMinutes(1)).until(() -> fleet.succeeded(id) == 1);
        ok("POST", "/api/dlq/redrive", "{\"partition\": " + dead.get("partition").asInt() + ", \"offset\": " + dead.get("offset").asLong() + "}");
        fleet.publish(id, recordId, Fleet.data(1)).get(); // and the original record once more, as a publisher retrying would
        fleet.flush();
        await().pollDelay(Duration.ofSeconds(3)).atMost(Duration.ofSeconds(4)).until(() -> true);

        assertThat(fleet.executions(id)).as("one execution however often it is redriven").isEqualTo(1);
        assertThat(fleet.effects(id)).isEqualTo(1);
        assertThat(cli(TestInfra.TOKEN, "dlq", "redrive", "--reason").code()).isEqualTo(AdminCli.USAGE);
    }

    @Test
    void workflowsAreDisabledEnabledAndRolledBackAndTheFleetIsShown() throws Exception {
        String id = Fleet.uniqueId("versions");
        ok("POST", "/api/workflows", "{\"id\": \"" + id + "\", \"trigger\": {\"type\": \"kafka\"}, \"nodes\": " + Fleet.effectNode("v1") + "}");
        ok("POST", "/api/workflows", "{\"id\": \"" + id + "\", \"trigger\": {\"type\": \"kafka\"}, \"nodes\": " + Fleet.effectNode("v2") + "}");

        Cli disabled = cli(TestInfra.TOKEN, "workflow", "disable", id);
        assertThat(disabled.code()).as(disabled.err()).isEqualTo(AdminCli.OK);
        JsonNode listed = null;
        for (JsonNode w : ok("GET", "/api/workflows", null).get("items")) {
            if (w.get("id").asText().equals(id)) {
                listed = w;
            }
        }
        assertThat(listed).isNotNull();
        assertThat(listed.get("enabled").asBoolean()).isFalse();
        assertThat(listed.get("latest").asInt()).isEqualTo(2);
        assertThat(cli(TestInfra.TOKEN, "workflow", "enable", id).code()).isEqualTo(AdminCli.OK);
        Cli rolled = cli(TestInfra.TOKEN, "workflow", "rollback", id, "--to", "1", "-o", "json");
        assertThat(rolled.code()).as(rolled.err()).isEqualTo(AdminCli.OK);
        assertThat(Json.tree(rolled.out()).get("version").asInt()).isEqualTo(3);
        assertThat(fleet.count("SELECT count(*) FROM workflows WHERE id = ? AND version = 3 AND definition->'nodes'->0->>'id' = 'v1'", id))
                .as("version 3 is version 1's definition").isEqualTo(1);
        assertThat(cli(TestInfra.TOKEN, "workflow", "rollback", id, "--to", "9").code()).isEqualTo(AdminCli.NOT_FOUND);
        assertThat(cli(TestInfra.TOKEN, "workflow", "disable", "no-such-" + id).code()).isEqualTo(AdminCli.NOT_FOUND);

        JsonNode f = ok("GET", "/api/fleet", null);
        assertThat(f.get("engines").get("group").asText()).isEqualTo(fleet.group);
        assertThat(f.get("engines").get("members")).isNotEmpty();
        assertThat(f.get("engines").get("lag").size()).as("a lag per partition of events and tasks").isGreaterThanOrEqualTo(2);
        assertThat(f.get("capture").get("slot").asText()).as("the capture's slot, and its retained WAL when it exists").isNotEmpty();
        Cli shown = cli(TestInfra.TOKEN, "fleet");
        assertThat(shown.code()).as(shown.err()).isEqualTo(AdminCli.OK);
        assertThat(shown.out()).contains("engines:").contains("totalLag");
        assertThat(cli(TestInfra.TOKEN, "executions", "list", "-o", "yaml").code()).isEqualTo(AdminCli.USAGE);
    }

    /** Runs {@code onceflow ARGS} with no --url and no token: only the CLI file {@code dev} would write says where. */
    private Cli cliFromFile(java.nio.file.Path file, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = AdminCli.run(List.of(args), new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8),
                Map.of(CliTarget.FILE_ENV, file.toString()));
        return new Cli(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void aFirstOwnWorkflowIsDeployedAndPublishedThroughTheApiAndMistakesAreRefusedAtOnce(@org.junit.jupiter.api.io.TempDir
                                                                                        java.nio.file.Path dir) throws Exception {
        java.nio.file.Path cliFile = dir.resolve("cli.properties");
        CliTarget.write(cliFile, base, TestInfra.TOKEN);
        String id = Fleet.uniqueId("first");
        java.nio.file.Path good = dir.resolve("first.json");
        java.nio.file.Files.writeString(good, """
                {"id": "%s", "trigger": {"type": "kafka"}, "nodes": [
                  {"type": "calculation", "id": "total", "set": {"total": "trigger.amount * 2"}}
                ]}""".formatted(id));
        java.nio.file.Path typo = dir.resolve("typo.json");
        java.nio.file.Files.writeString(typo, """
                {"id": "%s-typo", "nodes": [{"type": "calculation", "id": "total", "st": {}}]}""".formatted(id));

        Cli refused = cliFromFile(cliFile, "workflow", "deploy", good.toString(), typo.toString());
        assertThat(refused.code()).isEqualTo(AdminCli.FAILED);
        assertThat(refused.err()).contains(typo.toString()).containsPattern("[.'\" ]st['\" ]");
        assertThat(fleet.count("SELECT count(*) FROM workflows WHERE id = ?", id)).as("a typo in one file deploys nothing").isZero();

        Cli deployed = cliFromFile(cliFile, "workflow", "deploy", good.toString());
        assertThat(deployed.code()).as(deployed.err()).isEqualTo(AdminCli.OK);
        assertThat(deployed.out()).isEqualTo("deployed " + id + " version 1\n");
        assertThat(cliFromFile(cliFile, "workflow", "list").out()).containsPattern(id + " +version 1 +enabled");

        // The dispatcher's catalog learns of the workflow within its refresh; until then publish answers 404 at once.
        java.util.concurrent.atomic.AtomicReference<Cli> published = new java.util.concurrent.atomic.AtomicReference<>();
        await().atMost(Duration.ofSeconds(30)).until(() -> {
            published.set(cliFromFile(cliFile, "publish", "--workflow", id, "--id", "p-1", "--data", "{\"amount\": 21}", "--wait",
                    "--timeout", "60"));
            return published.get().code() != AdminCli.NOT_FOUND;
        });
        Cli run = published.get();
        assertThat(run.code()).as(run.out() + run.err()).isEqualTo(AdminCli.OK);
        assertThat(run.out()).startsWith("event key " + id + "@0#p-1\n").contains("succeeded").contains("total");

        long start = System.nanoTime();
        Cli unknown = cliFromFile(cliFile, "publish", "--workflow", "no-such-" + id, "{}");
        assertThat(unknown.code()).isEqualTo(AdminCli.NOT_FOUND);
        assertThat(unknown.err()).contains("unknown workflow 'no-such-" + id + "'");
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(5));

        Workflow nightly = fleet.deploy("""
                {"id": "%s", "trigger": {"type": "schedule", "cron": "0 0 1 1 *", "start": "2999-01-01T00:00:00Z"}, "nodes": [
                  {"type": "calculation", "id": "noop", "set": {"x": "1"}}
                ]}""".formatted(Fleet.uniqueId("nightly")));
        java.util.concurrent.atomic.AtomicReference<Cli> schedule = new java.util.concurrent.atomic.AtomicReference<>();
        await().atMost(Duration.ofSeconds(30)).until(() -> {
            schedule.set(cliFromFile(cliFile, "publish", "--workflow", nightly.id()));
            return schedule.get().code() != AdminCli.NOT_FOUND;
        });
        assertThat(schedule.get().code()).isEqualTo(AdminCli.FAILED);
        assertThat(schedule.get().err()).contains("workflow '" + nightly.id() + "' has a schedule trigger; it starts from its schedule,"
                + " not from publish");
        assertThat(fleet.count("SELECT count(*) FROM executions WHERE workflow_id = ?", nightly.id())).isZero();
    }
}
