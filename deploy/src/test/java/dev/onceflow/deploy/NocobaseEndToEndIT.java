package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpServer;
import dev.onceflow.common.Database;
import dev.onceflow.common.Json;
import dev.onceflow.common.Migrations;
import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.common.WorkflowStore;
import dev.onceflow.common.workflow.Workflows;
import dev.onceflow.deploy.proof.ChildProcess;
import dev.onceflow.dispatcher.Dispatcher;
import dev.onceflow.dispatcher.StoreCatalog;
import dev.onceflow.engine.Engine;
import dev.onceflow.engine.EngineHooks;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
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
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 20's "done means", end to end: one fresh PostgreSQL database shaped as a NocoBase
 * application's — its collections in {@code public} with quoted camelCase names ({@code "postLogs"},
 * {@code "orderLines"}, {@code "reviewScore"}, {@code "dueAt"}), NocoBase's own {@code workflows},
 * {@code flow_nodes} and {@code executions} tables, and ten workflows stored in them as NocoBase
 * stores them (linked lists of nodes, branches inside branches, a loop). Onceflow is migrated into
 * schema {@code onceflow} of that same database ({@code db.schema} for every role), {@code onceflow
 * import nocobase --from-db} reads the ten from it, every file written is deployed, and every trigger
 * is fired: collection create, update (changed + condition) and destroy by writing the application's
 * rows, three static schedules (repeat in ms with a limit, cron with an end, once) by waiting for
 * their ticks, a date-field schedule by a row whose {@code dueAt} comes, a custom action and a post
 * action through the dispatcher's API (each sent twice with one idempotency key), requests to a local
 * receiver. One engine process halts between its PostgreSQL and its Kafka commit while the
 * row-change workflows run; the two that call the receiver are fired after it (a call claimed by a
 * batch that dies between its commits fails its execution as "outcome unknown", by design).
 * Then each workflow's effects — rows in the application's tables, calls at the receiver — are
 * checked against what NocoBase's semantics say, once each.
 *
 * <p>The negative control for the same halt in the same kind of database (unsafe engines, no
 * processed keys: an effect happens twice) is {@link ApplicationDatabaseIT}'s
 * {@code negativeControlUnsafeEnginesRunAnEffectTwiceThroughTheSameHalt}; not repeated here to keep
 * the suite's time.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class NocobaseEndToEndIT {

    private static final String SCHEMA = "onceflow";
    /** The application's collections as NocoBase creates them, and NocoBase's own executions table beside Onceflow's. */
    private static final String APP_TABLES = """
            CREATE TABLE posts (id bigint PRIMARY KEY, title varchar(255), status varchar(255), score integer,
                "reviewScore" integer DEFAULT 0, featured boolean DEFAULT false,
                "createdAt" timestamptz NOT NULL DEFAULT now(), "updatedAt" timestamptz NOT NULL DEFAULT now());
            CREATE TABLE "postLogs" (id bigserial PRIMARY KEY, "postId" bigint, note text,
                "createdAt" timestamptz NOT NULL, "updatedAt" timestamptz NOT NULL);
            CREATE TABLE "orderLines" (id bigint PRIMARY KEY, "postId" bigint, "orderId" bigint, state varchar(255), position integer,
                "updatedAt" timestamptz);
            CREATE TABLE orders (id bigint PRIMARY KEY, status varchar(255), total numeric, discount numeric, gross numeric,
                "createdAt" timestamptz NOT NULL DEFAULT now(), "updatedAt" timestamptz NOT NULL DEFAULT now());
            CREATE TABLE tasks (id bigint PRIMARY KEY, title varchar(255), "dueAt" timestamptz,
                "createdAt" timestamptz NOT NULL DEFAULT now(), "updatedAt" timestamptz NOT NULL DEFAULT now());
            CREATE TABLE reminders (id bigserial PRIMARY KEY, "taskId" bigint, text text,
                "createdAt" timestamptz NOT NULL, "updatedAt" timestamptz NOT NULL);
            CREATE TABLE executions (id bigserial PRIMARY KEY, key varchar(255), "workflowId" bigint, "eventKey" varchar(255),
                context json, status integer, "createdAt" timestamptz NOT NULL DEFAULT now());
            INSERT INTO "orderLines" (id, "postId", "orderId", state) VALUES
                (1, 1, NULL, 'open'), (2, 1, NULL, 'open'), (3, 1, NULL, 'closed'), (4, 3, NULL, 'closed'),
                (10, NULL, 100, 'void'), (11, NULL, 100, 'open'), (12, NULL, 100, 'void');
            """;

    @RegisterExtension
    final Fleet fleet = new Fleet(TestInfra.embedded());
    private final List<AutoCloseable> running = new ArrayList<>();
    private ChildProcess child;
    private HttpServer receiver;
    private String database;
    private String slot;

    @AfterEach
    void dropTheDatabase() throws Exception {
        if (child != null) {
            child.kill9();
        }
        if (receiver != null) {
            receiver.stop(0);
        }
        for (int i = running.size() - 1; i >= 0; i--) {
            try {
                running.get(i).close();
            } catch (Exception e) {
                // keep closing the rest
            }
        }
        if (database != null) {
            // The slot holds WAL for the whole cluster, and a database with a slot cannot be dropped.
            await().atMost(Duration.ofSeconds(30)).until(() -> count(fleet.ds, "SELECT count(*) FROM pg_replication_slots "
                    + "WHERE slot_name = '" + slot + "' AND active") == 0);
            Scripts.run(fleet.ds, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '" + slot + "'");
            Scripts.run(fleet.ds, "DROP DATABASE IF EXISTS " + database + " WITH (FORCE)");
        }
    }

    @Test
    void tenNocoBaseWorkflowsImportedFromTheirDatabaseRunThereEachEffectOnceThroughAnEngineHalt(@TempDir Path out) throws Exception {
        String s = Fleet.uniqueId("n").substring(2).replace('-', '_');
        database = "nb_" + s;
        slot = "nb_" + s;
        Scripts.run(fleet.ds, "CREATE DATABASE " + database);
        OnceflowConfig base = fleet.config(2);
        String url = base.get(OnceflowConfig.DB_URL).replaceFirst("/[^/?]+(\\?.*)?$", "/" + database);
        String user = base.get(OnceflowConfig.DB_USER);
        String password = base.get(OnceflowConfig.DB_PASSWORD);
        DataSource app = Database.dataSource(url, user, password); // the application's own connections: default search path
        Scripts.run(app, nocobaseWorkflowTables() + APP_TABLES);

        // Requests go to a local receiver: /order/… answers 200, /hook 503 (the request node ignores failures).
        receiver = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 8);
        Map<String, AtomicInteger> calls = new ConcurrentHashMap<>();
        receiver.createContext("/", x -> {
            calls.computeIfAbsent(x.getRequestMethod() + " " + x.getRequestURI().getPath(), k -> new AtomicInteger()).incrementAndGet();
            boolean hook = x.getRequestURI().getPath().startsWith("/hook");
            byte[] body = (hook ? "{\"error\": \"maintenance\"}" : "{\"ok\": true}").getBytes(StandardCharsets.UTF_8);
            x.getResponseHeaders().add("Content-Type", "application/json");
            x.sendResponseHeaders(hook ? 503 : 200, body.length);
            x.getResponseBody().write(body);
            x.close();
        });
        receiver.start();
        String receiverUrl = "http://127.0.0.1:" + receiver.getAddress().getPort();
        // The schedules start together, far enough ahead for every role to be up (a missed tick is skipped, as in NocoBase).
        long t0 = Instant.now().plusSeconds(70).getEpochSecond(); // roles were up in about 15 s here; CI machines are slower
        Instant start = Instant.ofEpochSecond(t0 + (t0 % 2)); // an even second: a tick of */2
        NocoRows rows = workflows(s, receiverUrl, start);
        rows.insert(app);

        // Onceflow in schema onceflow of the same database, beside NocoBase's own workflows and executions.
        OnceflowConfig config = base.with(Map.of(OnceflowConfig.DB_URL.name(), url, OnceflowConfig.DB_SCHEMA.name(), SCHEMA,
                OnceflowConfig.TABLE_SLOT.name(), slot, OnceflowConfig.TABLE_PUBLICATION.name(), slot,
                OnceflowConfig.ENGINE_MAX_POLL.name(), "10"));
        DataSource onceflow = Database.dataSource(config);
        Migrations.apply(onceflow, config.schema());

        // onceflow import nocobase --from-db, as a user runs it, against that same database
        ByteArrayOutputStream stdout = new ByteArrayOutputStream();
        ByteArrayOutputStream stderr = new ByteArrayOutputStream();
        int code = AdminCli.run(List.of("import", "nocobase", "--from-db", url, "--user", user, "--out", out.toString()),
                new PrintStream(stdout, true, StandardCharsets.UTF_8), new PrintStream(stderr, true, StandardCharsets.UTF_8),
                Map.of("NOCOBASE_DB_PASSWORD", password));
        String report = Files.readString(out.resolve("import-report.md"));
        System.out.println(report);
        assertThat(code).as(stdout + "\n" + stderr).isZero();
        assertThat(report).contains("10 of 10 current workflows importable");
        List<Path> files;
        try (Stream<Path> list = Files.list(out)) {
            files = list.filter(p -> p.toString().endsWith(".json")).sorted().toList();
        }
        assertThat(files).hasSize(10);
        WorkflowStore store = new WorkflowStore(onceflow);
        for (Path f : files) {
            store.deploy(Workflows.parse(f.toString(), Files.readAllBytes(f))); // the validator and store 'workflow deploy' uses
        }
        // Not NocoBase's: a one-statement workflow whose events make sure the child has a batch to halt on (below).
        dev.onceflow.common.workflow.Workflow bait = store.deploy(Workflows.parse("halt-bait.json", ("{\"id\": \"halt-bait" + s
                + "\", \"trigger\": {\"type\": \"kafka\"}, \"order\": \"none\", \"nodes\": [{\"type\": \"sql\", \"id\": \"noop\", "
                + "\"sql\": \"SELECT 1\"}]}").getBytes(StandardCharsets.UTF_8)));

        Engine engine = new Engine(config, onceflow, EngineHooks.NONE, Clock.systemUTC(), false);
        engine.start();
        running.add(engine);
        Path dir = Files.createDirectories(Path.of("target", "nocobase-end-to-end-it"));
        Path haltTrigger = dir.resolve("halt-" + s);
        Files.deleteIfExists(haltTrigger);
        child = new ChildProcess("engine-" + s, ChildProcess.java("384m", Onceflow.class.getName(),
                List.of("engine", "--halt-between-commits", haltTrigger.toString())),
                config.with(Map.of(OnceflowConfig.ENGINE_WORKERS.name(), "1")).environment(), dir);
        child.start();
        StoreCatalog catalog = new StoreCatalog(store, config);
        running.add(catalog);
        Dispatcher dispatcher = new Dispatcher(config, catalog, onceflow);
        dispatcher.start();
        running.add(dispatcher);
        await().atMost(Duration.ofMinutes(2)).until(() -> Stream.of("public.posts", "public.\"orderLines\"", "public.orders",
                "public.tasks").allMatch(t -> dispatcher.captureStatus().capturing(t)));
        fleet.awaitStableGroup(3); // two in-process workers and the child's one
        assertThat(Instant.now()).as("every role up before the schedules' first tick").isBefore(start);

        // The child halts at its next commit with records, between PostgreSQL's commit and Kafka's, while the
        // row-change workflows run (sql, conditions, a loop, a delay). A bait event on every partition of
        // onceflow.events makes sure the child has a batch. The workflows that make http calls (worder, wcustom)
        // are fired after the halt: a call claimed by a batch that dies between its commits is never made, and
        // its execution fails as "outcome unknown" (onUnknownOutcome "fail", what the import writes), by design.
        Files.writeString(haltTrigger, "halt");
        long pid = child.pid();
        fireRowTriggers(app);
        try (org.apache.kafka.clients.producer.KafkaProducer<byte[], byte[]> p = new org.apache.kafka.clients.producer.KafkaProducer<>(
                Map.of(org.apache.kafka.clients.producer.ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, fleet.infra.bootstrap()),
                new org.apache.kafka.common.serialization.ByteArraySerializer(),
                new org.apache.kafka.common.serialization.ByteArraySerializer())) {
            int partitions = p.partitionsFor(dev.onceflow.common.Topics.EVENTS).size();
            for (int i = 0; i < partitions; i++) {
                dev.onceflow.common.EventEnvelope e = new dev.onceflow.common.EventEnvelope(bait.id() + "@1700000000000#" + i, bait.id(),
                        bait.version(), 1_700_000_000_000L, Json.MAPPER.createObjectNode(), "test", System.currentTimeMillis());
                p.send(new org.apache.kafka.clients.producer.ProducerRecord<>(dev.onceflow.common.Topics.EVENTS, i,
                        e.eventKey().getBytes(StandardCharsets.UTF_8), Json.bytes(e))).get();
            }
        }
        await().atMost(Duration.ofMinutes(2)).until(() -> !Files.exists(haltTrigger)
                && ProcessHandle.of(pid).map(p -> !p.isAlive()).orElse(true));
        fireCallingTriggers(app, dispatcher.httpPort(), s);
        Map<String, Long> expected = Map.of("wpost", 3L, "wscore", 2L, "wlinegone", 2L, "worder", 1L, "wcustom", 1L,
                "waction", 1L, "wtick", 3L, "wcron", 3L, "wonce", 1L, "wdue", 1L);
        String finished = "SELECT count(*) FROM executions WHERE workflow_id = ? AND finished_at IS NOT NULL";
        await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(500)).until(() -> {
            for (Map.Entry<String, Long> e : expected.entrySet()) {
                if (count(onceflow, finished, "nb-" + e.getKey() + s) < e.getValue()) {
                    return false;
                }
            }
            return true;
        });
        // Held for 3 s: an execution or effect repeated after the counts were reached would show up by then.
        long logs = count(app, "SELECT count(*) FROM \"postLogs\"");
        await().during(Duration.ofSeconds(3)).atMost(Duration.ofSeconds(30))
                .until(() -> count(app, "SELECT count(*) FROM \"postLogs\"") == logs);
        System.out.printf("nocobase end to end: duplicate events/node runs absorbed after the halt: %d/%d%n",
                engine.metrics().duplicateEvents(), engine.metrics().duplicateNodeRuns());

        for (Map.Entry<String, Long> e : expected.entrySet()) {
            assertThat(count(onceflow, "SELECT count(*) FROM executions WHERE workflow_id = ?", "nb-" + e.getKey() + s))
                    .as("executions of " + e.getKey()).isEqualTo(e.getValue());
        }
        // NocoBase's semantics, workflow by workflow.
        // wpost: the draft is rejected (rejectOnFalse fails the execution); P1 and P3 logged, P1's open lines done in order,
        // P1 (score >= 100) featured, P3 logged 'small'; after the condition's branches, the tally names the log row.
        assertThat(failed(onceflow, "nb-wpost" + s)).as("the draft, rejected").isEqualTo(1);
        assertThat(notes(app, 1)).containsExactlyInAnyOrder("created: Top story", "tally " + logId(app, 1, "created: Top story"),
                "top", "reviewed");
        assertThat(notes(app, 2)).isEmpty();
        assertThat(notes(app, 3)).containsExactlyInAnyOrder("created: P3", "small", "tally " + logId(app, 3, "created: P3"));
        assertThat(strings(app, "SELECT id || ':' || state || ':' || coalesce(position::text, '-') FROM \"orderLines\" ORDER BY id"))
                .containsExactly("1:done:0", "2:done:1", "3:closed:-", "4:closed:-", "11:open:-");
        assertThat(strings(app, "SELECT id::text FROM posts WHERE featured")).containsExactly("1");
        // wscore: only P1's and P3's review scores fire it (changed + condition status = published, not P2's draft nor
        // P3's retitling); P1 goes through the parallel's inner condition to 'top', P3's low score ends failed.
        assertThat(failed(onceflow, "nb-wscore" + s)).as("P3's low score ends failed").isEqualTo(1);
        // worder: its sql node marks the order seen, its request called once, then it destroys the void lines,
        // whose deletes fire wlinegone once each
        assertThat(strings(app, "SELECT status || ':' || gross::int FROM orders")).containsExactly("seen:90");
        assertThat(notes(app, null)).filteredOn(n -> n.startsWith("line ")).containsExactlyInAnyOrder("line 10 deleted",
                "line 12 deleted");
        assertThat(calls.get("GET /order/100")).as("worder's request").hasValue(1);
        // waction (post action, sent twice with one key): gross = (50 - 5) * 2 stored and logged once, with the title read
        // from NocoBase's own workflows table (public.workflows, not Onceflow's, first on the search path)
        assertThat(notes(app, null)).filteredOn(n -> n.startsWith("gross ")).singleElement().asString().startsWith("gross 90")
                .endsWith(" by After submit: gross");
        // wcustom (custom action, sent twice with one key): the hook answered 503, ignoreFail let the next node log it, once
        assertThat(notes(app, 42L)).containsExactly("status 503");
        assertThat(calls.get("POST /hook")).as("wcustom's request").hasValue(1);
        // schedules: 3 ticks of the 1 s repeat (limit 3), 3 cron ticks before endsOn, the one-shot after its delay
        assertThat(notes(app, null)).filteredOn(n -> n.startsWith("tick ")).hasSize(3).doesNotHaveDuplicates();
        assertThat(notes(app, null)).filteredOn(n -> n.equals("cron")).hasSize(3);
        assertThat(notes(app, null)).filteredOn(n -> n.equals("once")).hasSize(1);
        // wdue: the task's reminder once, not before its dueAt
        assertThat(strings(app, "SELECT \"taskId\" || ':' || text || ':' || (\"createdAt\" >= (SELECT \"dueAt\" FROM tasks WHERE id = 1)) "
                + "FROM reminders")).containsExactly("1:due: Pay:true");
        assertThat(count(onceflow, "SELECT count(*) FROM executions WHERE status = 'failed' AND workflow_id NOT IN (?, ?)",
                "nb-wpost" + s, "nb-wscore" + s)).as("no other execution failed").isZero();

        // Through the halt: the child died between its commits, and its batch was delivered again and absorbed.
        assertThat(engine.metrics().duplicateEvents() + engine.metrics().duplicateNodeRuns())
                .as("the halted engine's batch was delivered again and absorbed").isPositive();
        // NocoBase's own tables are untouched; Onceflow's are in its schema.
        assertThat(count(app, "SELECT count(*) FROM public.executions")).as("NocoBase's own executions").isZero();
        assertThat(count(app, "SELECT count(*) FROM public.workflows")).as("NocoBase's own workflows").isEqualTo(10);
        assertThat(count(app, "SELECT count(*) FROM " + SCHEMA + ".workflows")).as("Onceflow's: the ten imported and the bait").isEqualTo(11);
    }

    /** Every trigger, as the application would fire it. Schedules fire on their own. */
    /** The row changes of the workflows without http calls. */
    private void fireRowTriggers(DataSource app) throws Exception {
        Scripts.run(app, """
                INSERT INTO posts (id, title, status, score) VALUES (1, 'Top story', 'published', 150), (2, 'P2', 'draft', 50);
                INSERT INTO posts (id, title, status, score) VALUES (3, 'P3', 'published', 20);
                INSERT INTO tasks (id, title, "dueAt") VALUES (1, 'Pay', now() + interval '3 seconds');
                """);
        Scripts.run(app, """
                UPDATE posts SET "reviewScore" = 8 WHERE id = 1;
                UPDATE posts SET "reviewScore" = 9 WHERE id = 2;
                UPDATE posts SET "reviewScore" = 2 WHERE id = 3;
                UPDATE posts SET title = 'P3 (edited)' WHERE id = 3;
                """);
    }

    /** The triggers of the workflows that call the receiver: an order row, and the two api calls. */
    private void fireCallingTriggers(DataSource app, int apiPort, String s) throws Exception {
        Scripts.run(app, "INSERT INTO orders (id, status, total, discount) VALUES (100, 'new', 50, 5);");
        HttpClient http = HttpClient.newHttpClient();
        post(http, apiPort, "nb-wcustom" + s, "act-1", "{\"data\": {\"id\": 42}, \"user\": {\"id\": 1, \"nickname\": \"ann\"}}");
        post(http, apiPort, "nb-waction" + s, "submit-100", "{\"data\": {\"id\": 100, \"total\": 50, \"discount\": 5}, \"user\": {\"id\": 1}}");
    }

    /** Sends an api trigger twice with one idempotency key (a client's retry); the second is absorbed. */
    private static void post(HttpClient http, int port, String workflow, String key, String body) throws Exception {
        HttpRequest request = HttpRequest.newBuilder(URI.create("http://localhost:" + port + "/api/workflows/" + workflow + "/trigger"))
                .header("Authorization", "Bearer " + TestInfra.TOKEN).header("Idempotency-Key", key)
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build();
        for (int i = 0; i < 2; i++) {
            HttpResponse<String> r = http.send(request, HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).as(workflow + ": " + r.body()).isEqualTo(202);
        }
    }

    /**
     * The ten workflows as NocoBase stores them (gen.py's shapes): each trigger type, each node type
     * the import translates, branches inside branches (wscore), a loop (wpost); keys end in {@code s}.
     */
    private static NocoRows workflows(String s, String receiver, Instant start) {
        NocoRows r = new NocoRows();
        // 1. collection create on posts: condition (basic, rejectOnFalse), create, query (multiple), loop of updates,
        //    condition (math.js) with branches, and a node after it
        long w = r.workflow("wpost" + s, "Post created", "collection", "{\"mode\": 1, \"collection\": \"posts\"}");
        ObjectNode chk = r.node(w, "chk", "condition", """
                {"rejectOnFalse": true, "engine": "basic", "calculation": {"group": {"type": "and", "calculations": [
                  {"calculator": "notEqual", "operands": ["{{$context.data.status}}", "draft"]},
                  {"calculator": "gte", "operands": ["{{$context.data.score}}", 10]}]}}}""", null, null);
        ObjectNode log = r.node(w, "log", "create", """
                {"collection": "postLogs", "params": {"values": {"postId": "{{$context.data.id}}", "note": "created: {{$context.data.title}}"}}}""",
                null, null);
        ObjectNode lines = r.node(w, "lines", "query", """
                {"collection": "main:orderLines", "multiple": true, "params": {"filter": {"$and": [
                  {"postId": {"$eq": "{{$context.data.id}}"}}, {"state": {"$in": ["open"]}}]}, "sort": [{"field": "id", "direction": "asc"}]}}""",
                null, null);
        ObjectNode each = r.node(w, "each", "loop", "{\"target\": \"{{$jobsMapByNodeKey.lines}}\"}", null, null);
        r.node(w, "upd", "update", """
                {"collection": "orderLines", "params": {"filter": {"id": {"$eq": "{{$scopes.each.item.id}}"}},
                  "values": {"state": "done", "position": "{{$scopes.each.index}}"}}}""", each, 0);
        ObjectNode big = r.node(w, "big", "condition",
                "{\"rejectOnFalse\": false, \"engine\": \"math.js\", \"expression\": \"{{$context.data.score}} >= 100\"}", null, null);
        r.node(w, "feat", "update", """
                {"collection": "posts", "params": {"filter": {"id": "{{$context.data.id}}"}, "values": {"featured": true}}}""", big, 1);
        r.node(w, "small", "create", """
                {"collection": "postLogs", "params": {"values": {"postId": "{{$context.data.id}}", "note": "small"}}}""", big, 0);
        ObjectNode tally = r.node(w, "tally", "create", """
                {"collection": "postLogs", "params": {"values": {"postId": "{{$context.data.id}}", "note": "tally {{$jobsMapByNodeKey.log.id}}"}}}""",
                null, null);
        NocoRows.link(chk, log, lines, each, big, tally);

        // 2. collection update on posts, changed a camelCase field, condition: condition → true: parallel (all)
        //    [branch 0: condition with both branches; branch 1: calculation], false: end failed; then a create
        w = r.workflow("wscore" + s, "Post reviewed", "collection", """
                {"mode": 2, "collection": "posts", "changed": ["reviewScore"], "condition": {"status": {"$eq": "published"}}}""");
        ObjectNode good = r.node(w, "good", "condition",
                "{\"rejectOnFalse\": false, \"engine\": \"math.js\", \"expression\": \"{{$context.data.reviewScore}} >= 5\"}", null, null);
        ObjectNode fan = r.node(w, "fan", "parallel", "{\"mode\": \"all\"}", good, 1);
        ObjectNode top = r.node(w, "top", "condition", """
                {"rejectOnFalse": false, "engine": "basic", "calculation": {"group": {"type": "or", "calculations": [
                  {"calculator": "startsWith", "operands": ["{{$context.data.title}}", "Top"]}]}}}""", fan, 0);
        r.node(w, "istop", "create", """
                {"collection": "postLogs", "params": {"values": {"postId": "{{$context.data.id}}", "note": "top"}}}""", top, 1);
        r.node(w, "nottop", "create", """
                {"collection": "postLogs", "params": {"values": {"postId": "{{$context.data.id}}", "note": "not top"}}}""", top, 0);
        r.node(w, "twice", "calculation", "{\"engine\": \"math.js\", \"expression\": \"{{$context.data.score}} * 2\"}", fan, 1);
        r.node(w, "low", "end", "{\"endStatus\": -1}", good, 0);
        ObjectNode reviewed = r.node(w, "reviewed", "create", """
                {"collection": "postLogs", "params": {"values": {"postId": "{{$context.data.id}}", "note": "reviewed"}}}""", null, null);
        NocoRows.link(good, reviewed);

        // 3. collection destroy on a camelCase collection
        w = r.workflow("wlinegone" + s, "Line deleted", "collection", "{\"mode\": 4, \"collection\": \"orderLines\"}");
        r.node(w, "gone", "create", """
                {"collection": "postLogs", "params": {"values": {"note": "line {{$context.data.id}} deleted"}}}""", null, null);

        // 4. collection create on orders: sql with a replacement, request, parallel (any), destroy
        w = r.workflow("worder" + s, "Order placed", "collection", "{\"mode\": 1, \"collection\": \"orders\"}");
        ObjectNode seen = r.node(w, "seen", "sql", """
                {"dataSource": "main", "sql": "UPDATE public.orders SET status = 'seen' WHERE id = :id",
                 "variables": [{"name": "id", "value": "{{$context.data.id}}"}]}""", null, null);
        ObjectNode tell = r.node(w, "tell", "request", """
                {"method": "GET", "url": "%s/order/{{$context.data.id}}", "timeout": 5000}""".formatted(receiver), null, null);
        ObjectNode race = r.node(w, "first", "parallel", "{\"mode\": \"any\"}", null, null);
        r.node(w, "a", "calculation", "{\"engine\": \"math.js\", \"expression\": \"{{$context.data.total}} + 1\"}", race, 0);
        r.node(w, "b", "calculation", "{\"engine\": \"math.js\", \"expression\": \"{{$context.data.total}} + 2\"}", race, 1);
        ObjectNode purge = r.node(w, "purge", "destroy", """
                {"collection": "orderLines", "params": {"filter": {"$and": [{"orderId": {"$eq": "{{$context.data.id}}"}},
                  {"state": "void"}]}}}""", null, null);
        NocoRows.link(seen, tell, race, purge);

        // 5. custom action: a request whose 503 is ignored, then a create reading its status
        w = r.workflow("wcustom" + s, "Custom action: notify", "custom-action", "{\"type\": 0}");
        ObjectNode hook = r.node(w, "hook", "request", """
                {"method": "POST", "url": "%s/hook", "data": {"id": "{{$context.data.id}}", "by": "{{$context.user.nickname}}"},
                 "ignoreFail": true, "timeout": 5000}""".formatted(receiver), null, null);
        ObjectNode status = r.node(w, "status", "create", """
                {"collection": "postLogs", "params": {"values": {"postId": "{{$context.data.id}}",
                  "note": "status {{$jobsMapByNodeKey.hook.status}}"}}}""", null, null);
        NocoRows.link(hook, status);

        // 6. post action on orders: formula.js calculation, update, a single query on NocoBase's own workflows collection
        //    (the name Onceflow's table has too: the import qualifies it public.), create
        w = r.workflow("waction" + s, "After submit: gross", "action", "{\"collection\": \"orders\", \"global\": true}");
        ObjectNode net = r.node(w, "net", "calculation",
                "{\"engine\": \"formula.js\", \"expression\": \"({{$context.data.total}} - {{$context.data.discount}}) * 2\"}", null, null);
        ObjectNode gross = r.node(w, "gross", "update", """
                {"collection": "orders", "params": {"filter": {"$and": [{"id": {"$eq": "{{$context.data.id}}"}}, {"status": {"$ne": "void"}}]},
                  "values": {"gross": "{{$jobsMapByNodeKey.net}}"}}}""", null, null);
        ObjectNode self = r.node(w, "self", "query", """
                {"collection": "workflows", "multiple": false, "params": {"filter": {"key": {"$eq": "waction%s"}}}}""".formatted(s), null, null);
        ObjectNode noted = r.node(w, "noted", "create", """
                {"collection": "postLogs", "params": {"values": {"note": "gross {{$jobsMapByNodeKey.net}} by {{$jobsMapByNodeKey.self.title}}"}}}""",
                null, null);
        NocoRows.link(net, gross, self, noted);

        // 7. static schedule, repeat every second from startsOn, limit 3
        w = r.workflow("wtick" + s, "Tick", "schedule", """
                {"mode": 0, "startsOn": "%s", "repeat": 1000, "limit": 3}""".formatted(start));
        r.node(w, "tick", "create", """
                {"collection": "postLogs", "params": {"values": {"note": "tick {{$context.date}}"}}}""", null, null);

        // 8. static schedule, cron every 2 s (seconds field), ending 5 s after startsOn; an sql node with a replacement
        w = r.workflow("wcron" + s, "Cron", "schedule", """
                {"mode": 0, "startsOn": "%s", "endsOn": "%s", "repeat": "*/2 * * * * *"}""".formatted(start, start.plusSeconds(5)));
        r.node(w, "ins", "sql", """
                {"sql": "INSERT INTO public.\\"postLogs\\" (note, \\"createdAt\\", \\"updatedAt\\") VALUES (:note, now(), now())",
                 "variables": [{"name": "note", "value": "cron"}]}""", null, null);

        // 9. static schedule once (no repeat): a delay, a create, an end
        w = r.workflow("wonce" + s, "Once", "schedule", "{\"mode\": 0, \"startsOn\": \"%s\"}".formatted(start.plusSeconds(1)));
        ObjectNode wait = r.node(w, "wait", "delay", "{\"duration\": 1, \"unit\": 1000, \"endStatus\": 1}", null, null);
        ObjectNode once = r.node(w, "once", "create", """
                {"collection": "postLogs", "params": {"values": {"note": "once"}}}""", null, null);
        ObjectNode done = r.node(w, "done", "end", "{\"endStatus\": 1}", null, null);
        NocoRows.link(wait, once, done);

        // 10. schedule on a camelCase date field
        w = r.workflow("wdue" + s, "Task due", "schedule", """
                {"mode": 1, "collection": "tasks", "startsOn": {"field": "dueAt", "offset": 0}}""");
        r.node(w, "remind", "create", """
                {"collection": "reminders", "params": {"values": {"taskId": "{{$context.data.id}}", "text": "due: {{$context.data.title}}"}}}""",
                null, null);
        return r;
    }

    /** NocoBase's workflows and flow_nodes tables, as the import fixture creates them (the CREATE statements of nocobase-workflows.sql). */
    private static String nocobaseWorkflowTables() throws Exception {
        String fixture = new String(NocobaseEndToEndIT.class.getResourceAsStream("/nocobase/nocobase-workflows.sql").readAllBytes(),
                StandardCharsets.UTF_8);
        return fixture.substring(0, fixture.indexOf("INSERT INTO"));
    }

    /**
     * Rows of NocoBase's workflows and flow_nodes tables, built as NocoBase's {@code WorkflowModel}
     * links them: a chain's nodes by upstreamId/downstreamId, a branch's first node by its owner's id
     * as upstreamId and a branchIndex. Snowflake-sized ids.
     */
    private static final class NocoRows {
        private final ArrayNode workflows = Json.MAPPER.createArrayNode();
        private final ArrayNode nodes = Json.MAPPER.createArrayNode();
        private long nextWorkflow = 2_000;
        private long nextNode = 300_000_000_001_000L;

        long workflow(String key, String title, String type, String config) {
            long id = nextWorkflow++;
            workflows.addObject().put("id", id).put("key", key).put("title", title).put("type", type).put("enabled", true)
                    .put("current", true).put("sync", false).put("config", Json.text(Json.tree(config)));
            return id;
        }

        ObjectNode node(long workflow, String key, String type, String config, ObjectNode branchOf, Integer branchIndex) {
            ObjectNode n = nodes.addObject().put("id", nextNode++).put("key", key).put("title", key).put("workflowId", workflow)
                    .put("type", type).put("config", Json.text(Json.tree(config)));
            n.putNull("upstreamId").putNull("branchIndex").putNull("downstreamId");
            if (branchOf != null) {
                n.put("upstreamId", branchOf.get("id").asLong()).put("branchIndex", branchIndex);
            }
            return n;
        }

        /** a → b → c: b's upstreamId is a, a's downstreamId is b; a chain continues the first node's branch. */
        static void link(ObjectNode... chain) {
            for (int i = 1; i < chain.length; i++) {
                chain[i - 1].put("downstreamId", chain[i].get("id").asLong());
                chain[i].put("upstreamId", chain[i - 1].get("id").asLong()).putNull("branchIndex");
            }
        }

        void insert(DataSource ds) throws Exception {
            try (Connection c = ds.getConnection()) {
                try (PreparedStatement q = c.prepareStatement("INSERT INTO workflows (id, key, title, enabled, type, config, current, sync, "
                        + "options) VALUES (?, ?, ?, ?, ?, CAST(? AS jsonb), ?, ?, '{}')")) {
                    for (var w : workflows) {
                        q.setLong(1, w.get("id").asLong());
                        q.setString(2, w.get("key").asText());
                        q.setString(3, w.get("title").asText());
                        q.setBoolean(4, w.get("enabled").asBoolean());
                        q.setString(5, w.get("type").asText());
                        q.setString(6, w.get("config").asText());
                        q.setBoolean(7, w.get("current").asBoolean());
                        q.setBoolean(8, w.get("sync").asBoolean());
                        q.addBatch();
                    }
                    q.executeBatch();
                }
                try (PreparedStatement q = c.prepareStatement("INSERT INTO flow_nodes (id, key, title, \"workflowId\", \"upstreamId\", "
                        + "\"branchIndex\", \"downstreamId\", type, config) VALUES (?, ?, ?, ?, ?, ?, ?, ?, CAST(? AS json))")) {
                    for (var n : nodes) {
                        q.setLong(1, n.get("id").asLong());
                        q.setString(2, n.get("key").asText());
                        q.setString(3, n.get("title").asText());
                        q.setLong(4, n.get("workflowId").asLong());
                        q.setObject(5, n.get("upstreamId").isNull() ? null : n.get("upstreamId").asLong(), java.sql.Types.BIGINT);
                        q.setObject(6, n.get("branchIndex").isNull() ? null : n.get("branchIndex").asInt(), java.sql.Types.INTEGER);
                        q.setObject(7, n.get("downstreamId").isNull() ? null : n.get("downstreamId").asLong(), java.sql.Types.BIGINT);
                        q.setString(8, n.get("type").asText());
                        q.setString(9, n.get("config").asText());
                        q.addBatch();
                    }
                    q.executeBatch();
                }
            }
        }
    }

    private static long failed(DataSource onceflow, String workflow) throws Exception {
        return count(onceflow, "SELECT count(*) FROM executions WHERE workflow_id = ? AND status = 'failed'", workflow);
    }

    /** The notes logged for a post ({@code null}: those without one), in insertion order. */
    private static List<String> notes(DataSource app, Long postId) throws Exception {
        return postId == null ? strings(app, "SELECT note FROM \"postLogs\" WHERE \"postId\" IS NULL ORDER BY id")
                : strings(app, "SELECT note FROM \"postLogs\" WHERE \"postId\" = " + postId + " ORDER BY id");
    }

    private static List<String> notes(DataSource app, long postId) throws Exception {
        return notes(app, Long.valueOf(postId));
    }

    private static long logId(DataSource app, long postId, String note) throws Exception {
        return count(app, "SELECT id FROM \"postLogs\" WHERE \"postId\" = ? AND note = ?", postId, note);
    }

    private static List<String> strings(DataSource ds, String sql) throws Exception {
        List<String> out = new ArrayList<>();
        try (Connection c = ds.getConnection(); PreparedStatement q = c.prepareStatement(sql); ResultSet rs = q.executeQuery()) {
            while (rs.next()) {
                out.add(rs.getString(1));
            }
        }
        return out;
    }

    private static long count(DataSource ds, String sql, Object... args) throws Exception {
        try (Connection c = ds.getConnection(); PreparedStatement q = c.prepareStatement(sql)) {
            for (int i = 0; i < args.length; i++) {
                q.setObject(i + 1, args[i]);
            }
            try (ResultSet rs = q.executeQuery()) {
                assertThat(rs.next()).as(sql).isTrue();
                return rs.getLong(1);
            }
        }
    }
}
