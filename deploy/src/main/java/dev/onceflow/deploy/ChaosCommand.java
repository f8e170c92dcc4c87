package dev.onceflow.deploy;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.common.EventEnvelope;
import dev.onceflow.common.Json;
import dev.onceflow.common.Migrations;
import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.common.Topics;
import dev.onceflow.common.TriggerRecord;
import dev.onceflow.common.WorkflowStore;
import dev.onceflow.common.local.LocalKafka;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.common.workflow.Workflows;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import javax.sql.DataSource;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * {@code onceflow chaos}: the real roles as separate processes — a Kafka broker ({@code kafka.Kafka}),
 * PostgreSQL (embedded binaries, durable), dispatchers and engines ({@code onceflow dispatcher},
 * {@code onceflow engine}) — under duplicated traffic, while a seeded schedule kills and restarts
 * them. The workload has every kind of trigger that can be duplicated: trigger records published
 * 1–3 times, a schedule that every dispatcher replica fires every second, and a table trigger on
 * rows a writer inserts meanwhile (captured by whichever dispatcher holds the capture lock, which
 * the faults kill too). Then it waits for quiet and checks the invariants in PostgreSQL.
 * {@code --unsafe} runs the engines without the processed-key check: the negative control, which
 * must report duplicates.
 */
final class ChaosCommand {

    static final String ORDERS = "chaos-orders";
    static final String HEAVY = "chaos-heavy";
    static final String TICKS = "chaos-ticks";
    static final String ROWS = "chaos-rows";

    private final Path dir;
    private final Path logs;
    private final long seed;
    private final int durationS;
    private final int rate;
    private final int engines;
    private final int dispatchers;
    private final int bigRows;
    private final int rowRate;
    private final boolean unsafe;
    private final PrintStream out;
    private final Random random;
    private final List<Map<String, Object>> faults = Collections.synchronizedList(new ArrayList<>());
    private final Set<String> accepted = ConcurrentHashMap.newKeySet();
    private final AtomicLong published = new AtomicLong();
    private final AtomicBoolean publishing = new AtomicBoolean(true);
    private long startedAt;
    private long addedAt;
    private long ticksStart;
    private long ticksEnd;
    private ChaosRowWriter rowWriter;
    /** Spans with no dispatcher up (a kill of the last one up; with 2 or more the faults avoid it): ticks may be missed then. */
    private final List<ChaosTriggerCheck.Outage> outages = Collections.synchronizedList(new ArrayList<>());
    private long outageFrom = -1;

    private RestartablePostgres postgres;
    private ChildProcess broker;
    private final List<ChildProcess> engineProcs = new ArrayList<>();
    private final List<ChildProcess> dispatcherProcs = new ArrayList<>();
    private ChildProcess extraEngine;
    private String bootstrap;
    private DataSource ds;

    private ChaosCommand(Path dir, long seed, int durationS, int rate, int engines, int dispatchers, int bigRows, int rowRate,
                         boolean unsafe, PrintStream out) throws IOException {
        this.dir = dir;
        this.logs = Files.createDirectories(dir.resolve("logs"));
        this.seed = seed;
        this.durationS = durationS;
        this.rate = rate;
        this.engines = engines;
        this.dispatchers = dispatchers;
        this.bigRows = bigRows;
        this.rowRate = rowRate;
        this.unsafe = unsafe;
        this.out = out;
        this.random = new Random(seed);
    }

    static int run(List<String> argv, PrintStream out, PrintStream err) throws Exception {
        Args args = Args.parse("chaos", argv, Set.of("duration", "seed", "rate", "engines", "dispatchers", "big-rows", "row-rate",
                "json", "dir"), Set.of("unsafe"));
        Path dir = args.get("dir", null) == null ? Files.createTempDirectory("onceflow-chaos-") : Path.of(args.get("dir", null));
        ChaosCommand chaos = new ChaosCommand(dir,
                args.intValue("seed", 42, 0, Integer.MAX_VALUE),
                args.intValue("duration", 120, 20, 86_400),
                args.intValue("rate", 100, 1, 100_000),
                args.intValue("engines", 3, 1, 32),
                args.intValue("dispatchers", 2, 1, 16),
                args.intValue("big-rows", 1_000_000, 1000, 1_000_000_000),
                args.intValue("row-rate", 20, 1, 10_000),
                args.flag("unsafe"), out);
        Map<String, Object> report = chaos.execute();
        String json = args.get("json", null);
        if (json != null) {
            Files.write(Path.of(json), Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsBytes(report));
            out.println("Summary written to " + json);
        }
        boolean ok = ((Number) report.get("duplicates")).longValue() == 0 && ((Number) report.get("lost")).longValue() == 0
                && ((Number) report.get("stuck")).longValue() == 0;
        return ok ? 0 : 1;
    }

    private Map<String, Object> execute() throws Exception {
        Thread cleanup = new Thread(this::shutdownAll, "onceflow-chaos-cleanup");
        Runtime.getRuntime().addShutdownHook(cleanup);
        try {
            setUp();
            startedAt = System.currentTimeMillis();
            out.printf("Chaos run: %d s, seed %d, %d engines, %d dispatchers, %,d big rows, %d table rows/s%s; logs in %s%n",
                    durationS, seed, engines, dispatchers, bigRows, rowRate, unsafe ? ", UNSAFE engines (negative control)" : "", logs);
            deploySchedule();
            rowWriter = new ChaosRowWriter(ds, config().get(OnceflowConfig.TABLE_SLOT), rowRate, seed * 17 + 3);
            rowWriter.start();
            Thread publisher = new Thread(this::publishLoop, "onceflow-chaos-publisher");
            publisher.start();
            injectFaults();
            publishing.set(false);
            rowWriter.close();
            publisher.join();
            out.printf("Table writer: %,d rows acknowledged in %,d transactions, %,d in doubt, %,d failed before commit; capture ready at %s%s%n",
                    rowWriter.acknowledged().size(), rowWriter.transactions(), rowWriter.inDoubt().size(), rowWriter.failedRows(),
                    rowWriter.captureReadyAt() < 0 ? "never" : String.format("%.1f s", (rowWriter.captureReadyAt() - startedAt) / 1000.0),
                    rowWriter.lastError() == null ? "" : "; last error: " + rowWriter.lastError());
            waitForQuiet();
            Map<String, Object> report = ChaosCheck.check(ds, accepted, ORDERS, HEAVY,
                    new ChaosTriggerCheck.Ticks(TICKS, ticksStart, ticksEnd, List.copyOf(outages)),
                    new ChaosTriggerCheck.Rows(ROWS, Set.copyOf(rowWriter.acknowledged()), Set.copyOf(rowWriter.inDoubt()),
                            rowWriter.failedRows()));
            Map<String, Object> full = new LinkedHashMap<>();
            full.put("seed", seed);
            full.put("duration_s", durationS);
            full.put("unsafe", unsafe);
            full.put("events_published", published.get());
            full.put("schedule_window", Map.of("start", Instant.ofEpochMilli(ticksStart).toString(),
                    "end", Instant.ofEpochMilli(ticksEnd).toString()));
            Map<String, Object> writer = new LinkedHashMap<>();
            writer.put("transactions", rowWriter.transactions());
            writer.put("capture_ready_s", rowWriter.captureReadyAt() < 0 ? null : (rowWriter.captureReadyAt() - startedAt) / 1000.0);
            writer.put("died", rowWriter.died());
            writer.put("last_error", rowWriter.lastError());
            full.put("table_writer", writer);
            full.putAll(report);
            full.put("faults", new ArrayList<>(faults));
            out.print(ChaosCheck.human(full));
            return full;
        } finally {
            shutdownAll();
            try {
                Runtime.getRuntime().removeShutdownHook(cleanup);
            } catch (IllegalStateException e) {
                // already shutting down
            }
        }
    }

    // ---- set-up ------------------------------------------------------------------------------

    private void setUp() throws Exception {
        out.println("Starting PostgreSQL (durable) and generating " + bigRows + " rows ...");
        postgres = new RestartablePostgres(dir.resolve("postgres"), logs);
        ds = dev.onceflow.common.Database.dataSource("jdbc:postgresql://localhost:" + postgres.port() + "/postgres", "postgres", "");
        Migrations.apply(ds);
        DevCommand.runScript(ds, """
                CREATE TABLE IF NOT EXISTS chaos_effects (id bigserial PRIMARY KEY, event_key text NOT NULL, node text NOT NULL,
                    row_id bigint, created_at timestamptz NOT NULL DEFAULT now());
                CREATE INDEX IF NOT EXISTS chaos_effects_key ON chaos_effects (event_key, node);
                CREATE TABLE IF NOT EXISTS chaos_big (id bigint PRIMARY KEY, v integer NOT NULL, pad text);
                """);
        DevCommand.runScript(ds, ChaosRowWriter.createTable());
        DevCommand.runScript(ds, "INSERT INTO chaos_big SELECT g, ((g::bigint * 7919) % 100000)::int, md5(g::text) FROM generate_series(1, "
                + bigRows + ") g ON CONFLICT DO NOTHING; ANALYZE chaos_big");

        out.println("Starting the Kafka broker as its own process ...");
        int port = LocalKafka.freePort();
        int controllerPort = LocalKafka.freePort();
        Path kafkaDir = Files.createDirectories(dir.resolve("kafka"));
        Properties props = new Properties();
        props.putAll(LocalKafka.brokerProperties(kafkaDir.resolve("logs"), port, controllerPort));
        Path serverProps = kafkaDir.resolve("server.properties");
        try (OutputStream o = Files.newOutputStream(serverProps)) {
            props.store(o, "onceflow chaos broker");
        }
        LocalKafka.format(serverProps);
        bootstrap = "localhost:" + port;
        broker = new ChildProcess("broker", ChildProcess.java("768m", "kafka.Kafka", List.of(serverProps.toString())), Map.of(), logs);
        broker.start();
        awaitBroker();
        LocalInfra.createTopics(config());

        WorkflowStore store = new WorkflowStore(ds);
        // The table workflow goes in before the dispatchers start, so the capture (and its slot) is
        // set up while they boot; the schedule is deployed when the run starts (deploySchedule).
        for (String name : List.of(ORDERS, HEAVY, ROWS)) {
            Workflow wf = Workflows.parse(name, DevCommand.resource("chaos/" + name + ".json").getBytes(StandardCharsets.UTF_8));
            store.deploy(wf);
        }
        for (int i = 1; i <= dispatchers; i++) {
            ChildProcess d = role("dispatcher-" + i, "dispatcher", Map.of(OnceflowConfig.DISPATCHER_STATE_DIR.name(),
                    dir.resolve("streams-" + i).toString()));
            dispatcherProcs.add(d);
            d.start();
        }
        for (int i = 1; i <= engines; i++) {
            ChildProcess e = role("engine-" + i, "engine", Map.of());
            engineProcs.add(e);
            e.start();
        }
        extraEngine = role("engine-extra", "engine", Map.of());
    }

    /**
     * Deploys the schedule with the run's window: ticks every second from the next whole second to
     * the end of the run, so its ticks stop with the rest of the workload and the checker knows
     * exactly which ticks must exist.
     */
    private void deploySchedule() throws Exception {
        ticksStart = (startedAt / 1000 + 1) * 1000;
        ticksEnd = (startedAt + durationS * 1000L) / 1000 * 1000;
        ObjectNode def = (ObjectNode) Json.MAPPER.readTree(DevCommand.resource("chaos/" + TICKS + ".json"));
        ((ObjectNode) def.get("trigger")).put("start", Instant.ofEpochMilli(ticksStart).toString())
                .put("end", Instant.ofEpochMilli(ticksEnd).toString());
        new WorkflowStore(ds).deploy(Workflows.parse(TICKS, Json.MAPPER.writeValueAsBytes(def)));
    }

    private OnceflowConfig config() {
        return OnceflowConfig.of(Map.of(OnceflowConfig.KAFKA_BOOTSTRAP.name(), bootstrap,
                OnceflowConfig.DB_URL.name(), "jdbc:postgresql://localhost:" + postgres.port() + "/postgres",
                OnceflowConfig.DB_USER.name(), "postgres",
                OnceflowConfig.ENGINE_GROUP.name(), "onceflow-chaos",
                OnceflowConfig.ENGINE_WORKERS.name(), "2",
                OnceflowConfig.DISPATCHER_APP_ID.name(), "onceflow-chaos-dispatcher",
                OnceflowConfig.DISPATCHER_HTTP_PORT.name(), "0"));
    }

    private ChildProcess role(String name, String role, Map<String, String> extra) {
        Map<String, String> settings = new LinkedHashMap<>(config().asMap());
        settings.putAll(extra);
        settings.remove(OnceflowConfig.DB_PASSWORD.name());
        Map<String, String> env = new LinkedHashMap<>();
        settings.forEach((k, v) -> {
            if (!v.isEmpty()) {
                env.put("ONCEFLOW_" + k.toUpperCase().replace('.', '_'), v);
            }
        });
        List<String> args = new ArrayList<>(List.of(role));
        if (unsafe && role.equals("engine")) {
            args.add("--unsafe");
        }
        return new ChildProcess(name, ChildProcess.java("384m", Onceflow.class.getName(), args), env, logs);
    }

    private void awaitBroker() throws InterruptedException {
        long deadline = System.currentTimeMillis() + 90_000;
        while (true) {
            try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
                    AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 3000, AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 5000))) {
                admin.describeCluster().nodes().get();
                return;
            } catch (Exception e) {
                if (System.currentTimeMillis() > deadline) {
                    throw new IllegalStateException("the Kafka broker did not start within 90 s; see " + logs.resolve("broker-1.log"));
                }
                Thread.sleep(300);
            }
        }
    }

    // ---- workload ----------------------------------------------------------------------------

    /**
     * {@code rate} order events per second plus one heavy event every two seconds. Each key is
     * delivered 1–3 times: by publisher A, by publisher B later (a retry, out of order), and
     * sometimes straight to the events topic (a dispatcher replica without dedupe state).
     */
    private void publishLoop() {
        Random r = new Random(seed * 31 + 7);
        try (KafkaProducer<byte[], byte[]> a = producer("a"); KafkaProducer<byte[], byte[]> b = producer("b")) {
            List<ProducerRecord<byte[], byte[]>> delayed = new ArrayList<>();
            long i = 0;
            long tick = System.currentTimeMillis();
            while (publishing.get()) {
                for (int k = 0; k < Math.max(1, rate / 10); k++, i++) {
                    String wf = i % Math.max(1, rate * 2L) == 0 ? HEAVY : ORDERS;
                    String id = "e" + i;
                    Instant time = Instant.ofEpochMilli(startedAt + i);
                    ObjectNode data = Json.MAPPER.createObjectNode().put("n", i);
                    String key = wf + "@" + time.toEpochMilli() + "#" + id;
                    byte[] trigger = new TriggerRecord(wf, id, time, data).toBytes();
                    byte[] recordKey = id.getBytes(StandardCharsets.UTF_8);
                    send(a, new ProducerRecord<>(Topics.TRIGGERS, recordKey, trigger), key);
                    int copies = 1 + r.nextInt(3);
                    if (copies >= 2) {
                        delayed.add(new ProducerRecord<>(Topics.TRIGGERS, recordKey, trigger));
                    }
                    if (copies == 3) {
                        int version = 1;
                        EventEnvelope event = new EventEnvelope(key, wf, version, time.toEpochMilli(), data,
                                "chaos-replica-without-dedupe-state", System.currentTimeMillis());
                        delayed.add(new ProducerRecord<>(Topics.EVENTS, key.getBytes(StandardCharsets.UTF_8), Json.bytes(event)));
                    }
                }
                // Flush some delayed copies, shuffled: they arrive out of order and late.
                Collections.shuffle(delayed, r);
                int n = delayed.size() / 2;
                for (int k = 0; k < n; k++) {
                    send(b, delayed.remove(delayed.size() - 1), null);
                }
                tick += 100;
                long sleep = tick - System.currentTimeMillis();
                if (sleep > 0) {
                    Thread.sleep(sleep);
                }
            }
            for (ProducerRecord<byte[], byte[]> rec : delayed) {
                send(b, rec, null);
            }
            // Bounded: a record the broker never acknowledges (e.g. sequence errors after the broker's
            // kill -9) is simply not accepted; the run must not hang on it.
            a.close(java.time.Duration.ofSeconds(60));
            b.close(java.time.Duration.ofSeconds(60));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void send(KafkaProducer<byte[], byte[]> producer, ProducerRecord<byte[], byte[]> record, String acceptedKey) {
        producer.send(record, (md, e) -> {
            if (e == null) {
                published.incrementAndGet();
                if (acceptedKey != null) {
                    accepted.add(acceptedKey);
                }
            }
        });
    }

    private KafkaProducer<byte[], byte[]> producer(String name) {
        Map<String, Object> p = new LinkedHashMap<>();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.CLIENT_ID_CONFIG, "chaos-publisher-" + name);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "false");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "60000");
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "60000");
        return new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer());
    }

    // ---- faults ------------------------------------------------------------------------------

    /**
     * The schedule: 4 engine kills, 2 dispatcher kills, 1 kill of the capture leader, 1 broker kill,
     * 1 PostgreSQL restart, one engine added and later removed — 11 faults, spread over 10–80 % of
     * the run in a seeded order. One fault at a time, and a dispatcher is killed only once another
     * one is up (not merely booting), so with two or more dispatchers one always fires the
     * schedule's ticks: the schedule check relies on it.
     */
    private void injectFaults() throws Exception {
        List<String> kinds = new ArrayList<>(List.of("kill-engine", "kill-engine", "kill-engine", "kill-engine",
                "kill-dispatcher", "kill-dispatcher", "kill-capture-leader", "kill-broker", "restart-postgres", "add-engine"));
        Collections.shuffle(kinds, random);
        kinds.add(kinds.indexOf("add-engine") + 1 + random.nextInt(kinds.size() - kinds.indexOf("add-engine")), "remove-engine");
        long start = startedAt;
        long span = durationS * 700L;
        for (int k = 0; k < kinds.size(); k++) {
            long at = start + durationS * 100L + span * k / kinds.size() + random.nextInt((int) Math.max(1, span / kinds.size() / 2));
            progressUntil(at);
            fault(kinds.get(k));
        }
        progressUntil(start + durationS * 1000L);
    }

    private void fault(String kind) throws Exception {
        long t = System.currentTimeMillis();
        String target;
        Map<String, Object> f = new LinkedHashMap<>();
        switch (kind) {
            case "kill-engine": {
                ChildProcess e = engineProcs.get(random.nextInt(engineProcs.size()));
                target = e.name();
                e.kill9();
                Thread.sleep(500 + random.nextInt(2500));
                e.start();
                break;
            }
            case "kill-dispatcher": {
                ChildProcess d = dispatcherProcs.get(random.nextInt(dispatcherProcs.size()));
                target = d.name();
                long down = 500 + random.nextInt(2500);
                awaitAnotherDispatcher(d, f);
                killDispatcher(d);
                Thread.sleep(down);
                restartDispatcher(d);
                break;
            }
            case "kill-capture-leader":
                target = killCaptureLeader(f);
                break;
            case "kill-broker":
                target = "broker";
                broker.kill9();
                Thread.sleep(1000);
                broker.start();
                awaitBroker();
                break;
            case "restart-postgres":
                target = "postgres";
                postgres.restartImmediate(1000);
                break;
            case "add-engine":
                target = extraEngine.name();
                extraEngine.start();
                addedAt = System.currentTimeMillis();
                break;
            case "remove-engine":
                target = extraEngine.name();
                // Give the added engine time to join and take partitions, so both moves are real rebalances.
                Thread.sleep(Math.max(0, addedAt + 10_000 - System.currentTimeMillis()));
                extraEngine.stop(30);
                break;
            default:
                throw new IllegalStateException(kind);
        }
        Map<String, Object> record = new LinkedHashMap<>();
        record.put("at_s", Math.round((t - startedAt) / 100.0) / 10.0);
        record.put("kind", kind);
        record.put("target", target);
        record.put("took_ms", System.currentTimeMillis() - t);
        record.putAll(f);
        faults.add(record);
        out.printf("[%6.1f s] fault: %s %s (%d ms)%s%n", (t - startedAt) / 1000.0, kind, target, System.currentTimeMillis() - t,
                f.isEmpty() ? "" : " " + f);
    }

    /**
     * kill -9 of the dispatcher whose session holds the capture lock — PostgreSQL's answer, not a
     * guess — while rows are being written and captured, then, like any dispatcher kill, a restart
     * 0.5–3 s later. Waits up to 60 s for the capture to run and for a leader (there is none for a
     * moment after a PostgreSQL restart). Notes in {@code f} the leader's pid, which process took
     * over and how long after the kill PostgreSQL showed it holding the lock.
     */
    private String killCaptureLeader(Map<String, Object> f) throws Exception {
        long down = 500 + random.nextInt(2500);
        long deadline = System.currentTimeMillis() + 60_000;
        while (rowWriter.captureReadyAt() < 0 && System.currentTimeMillis() < deadline) {
            Thread.sleep(200);
        }
        long leader = CaptureLeader.awaitOther(ds, -1, deadline);
        ChildProcess d = dispatcherProcs.stream().filter(p -> p.alive() && p.pid() == leader).findFirst().orElse(null);
        if (d == null) {
            return leader == -1 ? "none (no session held the capture lock for 60 s)"
                    : "none (pid " + leader + " holds the capture lock but is no dispatcher of this run)";
        }
        f.put("leader_pid", leader);
        awaitAnotherDispatcher(d, f);
        long killedAt = killDispatcher(d);
        long restartAt = killedAt + down;
        long next = CaptureLeader.awaitOther(ds, leader, restartAt);
        long tookOver = next == -1 ? -1 : System.currentTimeMillis();
        Thread.sleep(Math.max(0, restartAt - System.currentTimeMillis()));
        restartDispatcher(d);
        if (next == -1) {
            next = CaptureLeader.awaitOther(ds, leader, System.currentTimeMillis() + 30_000);
            tookOver = next == -1 ? -1 : System.currentTimeMillis();
        }
        long newLeader = next;
        f.put("new_leader", next == -1 ? "none within 30 s of the restart"
                : dispatcherProcs.stream().filter(p -> p.pid() == newLeader).map(ChildProcess::name).findFirst().orElse("pid " + next));
        f.put("takeover_ms", tookOver == -1 ? null : tookOver - killedAt);
        return d.name();
    }

    /**
     * Waits up to 60 s until a dispatcher other than {@code victim} is up, so that killing the
     * victim leaves one firing the schedule's ticks (and standing by for the capture). Right after a
     * restart, or at the start of the run, the others may still be booting: killing then would
     * stop every schedule source at once, which the fire-once misfire policy answers by skipping
     * ticks — correct behaviour, but not the fault meant here. Notes the wait in {@code f}.
     */
    private void awaitAnotherDispatcher(ChildProcess victim, Map<String, Object> f) throws InterruptedException {
        if (dispatcherProcs.size() < 2) {
            return; // nothing to wait for: the kill is an outage, and the check accounts for it
        }
        long from = System.currentTimeMillis();
        while (!anotherDispatcherUp(victim) && System.currentTimeMillis() < from + 60_000) {
            Thread.sleep(200);
        }
        if (System.currentTimeMillis() - from >= 200) {
            f.put("waited_for_another_dispatcher_ms", System.currentTimeMillis() - from);
        }
    }

    private boolean anotherDispatcherUp(ChildProcess victim) {
        Set<Long> up = CaptureLeader.running(ds);
        return dispatcherProcs.stream().anyMatch(p -> p != victim && p.alive() && up.contains(p.pid()));
    }

    /** kill -9; returns when it was sent. Killing the last dispatcher that is up starts an outage. */
    private long killDispatcher(ChildProcess d) throws InterruptedException {
        long at = System.currentTimeMillis();
        boolean othersUp = anotherDispatcherUp(d);
        d.kill9();
        if (outageFrom < 0 && !othersUp) {
            outageFrom = at;
        }
        return at;
    }

    private void restartDispatcher(ChildProcess d) throws IOException {
        d.start();
        if (outageFrom >= 0) {
            outages.add(new ChaosTriggerCheck.Outage(outageFrom, System.currentTimeMillis()));
            outageFrom = -1;
        }
    }

    private void progressUntil(long deadline) throws InterruptedException {
        while (System.currentTimeMillis() < deadline) {
            Thread.sleep(Math.min(5000, Math.max(1, deadline - System.currentTimeMillis())));
            if (System.currentTimeMillis() - startedAt >= 0 && (System.currentTimeMillis() - startedAt) % 10_000 < 5000) {
                printProgress();
            }
        }
    }

    private void printProgress() {
        try {
            long finished = ChaosCheck.count(ds, "SELECT count(*) FROM executions WHERE finished_at IS NOT NULL");
            out.printf("[%6.1f s] published %,d copies, %,d keys accepted, %,d table rows committed, %,d executions finished%n",
                    (System.currentTimeMillis() - startedAt) / 1000.0, published.get(), accepted.size(),
                    rowWriter.acknowledged().size(), finished);
        } catch (Exception e) {
            out.printf("[%6.1f s] published %,d copies, %,d keys accepted (database unavailable: %s)%n",
                    (System.currentTimeMillis() - startedAt) / 1000.0, published.get(), accepted.size(), e.getMessage());
        }
    }

    /**
     * Waits until every accepted key, every committed table row and every tick since the first one
     * has a finished execution, and nothing moved for 10 s; or 4 minutes, or 90 s without movement.
     */
    private void waitForQuiet() throws Exception {
        out.println("Publishing stopped; waiting for quiet ...");
        long deadline = System.currentTimeMillis() + 240_000;
        long last = -1;
        long lastChange = System.currentTimeMillis();
        while (System.currentTimeMillis() < deadline) {
            long finished;
            long running;
            long backlog;
            try {
                finished = ChaosCheck.count(ds, "SELECT count(*) FROM executions WHERE finished_at IS NOT NULL");
                running = ChaosCheck.count(ds, "SELECT count(*) FROM executions WHERE finished_at IS NULL");
                backlog = backlog();
            } catch (Exception e) {
                Thread.sleep(1000);
                continue;
            }
            long effects = ChaosCheck.count(ds, "SELECT count(*) FROM chaos_effects");
            long activity = finished * 31 + effects;
            if (activity != last) {
                last = activity;
                lastChange = System.currentTimeMillis();
            }
            if (backlog == 0 && running == 0 && System.currentTimeMillis() - lastChange > 10_000) {
                return;
            }
            if (System.currentTimeMillis() - lastChange > 90_000) {
                out.println("Nothing moved for 90 s; checking now");
                return;
            }
            Thread.sleep(2000);
        }
    }

    /** Work that should still come: accepted keys, committed rows and ticks without a finished execution. */
    private long backlog() throws java.sql.SQLException {
        long records = accepted.size() - ChaosCheck.count(ds, "SELECT count(*) FROM executions WHERE finished_at IS NOT NULL "
                + "AND workflow_id IN ('" + ORDERS + "', '" + HEAVY + "')");
        long rows = ChaosCheck.count(ds, "SELECT count(*) FROM chaos_rows r WHERE NOT EXISTS (SELECT 1 FROM executions e "
                + "WHERE e.workflow_id = '" + ROWS + "' AND e.finished_at IS NOT NULL AND (e.trigger->'row'->>'id')::bigint = r.id)");
        long lastTick = (ticksEnd - 1) / 1000 * 1000;
        long ticks = ChaosCheck.count(ds, "SELECT coalesce((" + lastTick + " - min(t)) / 1000 + 1 - count(*), 0) FROM (SELECT "
                + "substring(event_key from '@([0-9]+)$')::bigint AS t FROM executions WHERE workflow_id = '" + TICKS
                + "' AND finished_at IS NOT NULL) x WHERE t >= " + ticksStart + " AND t <= " + lastTick);
        return Math.max(0, records) + rows + Math.max(0, ticks);
    }

    private void shutdownAll() {
        if (rowWriter != null) {
            try {
                rowWriter.close();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        List<ChildProcess> all = new ArrayList<>(engineProcs);
        all.addAll(dispatcherProcs);
        if (extraEngine != null) {
            all.add(extraEngine);
        }
        for (ChildProcess p : all) {
            try {
                p.stop(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        try {
            if (broker != null) {
                broker.stop(20);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (postgres != null) {
            postgres.close();
            postgres = null;
        }
    }
}
