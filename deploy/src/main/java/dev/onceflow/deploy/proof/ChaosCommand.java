package dev.onceflow.deploy.proof;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.common.Json;
import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.common.Topics;
import dev.onceflow.common.WorkflowStore;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.common.workflow.Workflows;
import dev.onceflow.deploy.Args;
import dev.onceflow.deploy.Scripts;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import javax.sql.DataSource;

/**
 * {@code onceflow chaos}: the real roles as separate processes — a Kafka broker ({@code kafka.Kafka}),
 * PostgreSQL (embedded binaries, durable), dispatchers and engines ({@code onceflow dispatcher},
 * {@code onceflow engine}) — under duplicated traffic, while a seeded schedule kills and restarts
 * them. The workload has every kind of trigger that can be duplicated: trigger records published
 * 1–3 times, a schedule that every dispatcher replica fires every second, and a table trigger on
 * rows a writer inserts and updates meanwhile (captured by whichever dispatcher holds the capture
 * lock, which the faults kill too). Then it waits for quiet and checks the invariants in PostgreSQL.
 * {@code --unsafe} runs the engines without the processed-key check: the negative control, which
 * must report duplicates; {@code --order none} deploys the table workflow unordered: the order
 * invariant's negative control, which must report reorders.
 *
 * <p>This class parses the arguments, runs the steps in order and writes the summary; the
 * processes are {@link ChaosFleet}'s, the faults {@link ChaosFaults}', the trigger records
 * {@link ChaosPublisher}'s and the table rows {@link ChaosRowWriter}'s. One instance per run, on
 * the calling thread; a JVM shutdown hook stops the processes if the run is cut short.
 */
public final class ChaosCommand {

    static final String ORDERS = "chaos-orders";
    static final String HEAVY = "chaos-heavy";
    static final String TICKS = "chaos-ticks";
    static final String ROWS = "chaos-rows";

    private final Path logs;
    private final long seed;
    private final int durationS;
    private final int rate;
    private final int engines;
    private final int dispatchers;
    private final int brokers;
    private final int bigRows;
    private final int rowRate;
    private final boolean unsafe;
    /** {@code --order}: the table workflow's order, {@code key} (its default) or {@code none} (the order invariant's negative control). */
    private final String order;
    /** {@code --faults}: an explicit fault schedule; null for the seeded one. */
    private final List<ChaosSchedule.Planned> plan;
    private final PrintStream out;
    private final ChaosFleet fleet;
    private long startedAt;
    private long ticksStart;
    private long ticksEnd;
    private ChaosRowWriter rowWriter;
    private ChaosPublisher publisher;
    private ChaosFaults faults;
    private DataSource ds;
    /** The seed-shaped workload's receiver and checks ({@code chaos-batch}). */
    private ChaosBatchCheck batch;

    private ChaosCommand(Path dir, long seed, int durationS, int rate, int engines, int dispatchers, int brokers, int bigRows,
                         int rowRate, boolean unsafe, String order, PrintStream out, List<ChaosSchedule.Planned> plan) throws IOException {
        this.plan = plan;
        this.order = order;
        this.logs = Files.createDirectories(dir.resolve("logs"));
        this.seed = seed;
        this.durationS = durationS;
        this.rate = rate;
        this.engines = engines;
        this.dispatchers = dispatchers;
        this.brokers = brokers;
        this.bigRows = bigRows;
        this.rowRate = rowRate;
        this.unsafe = unsafe;
        this.out = out;
        this.fleet = new ChaosFleet(dir, logs, unsafe, brokers);
    }

    public static final Args.Spec SPEC = new Args.Spec("chaos",
            "Prove the guarantee under kill -9 and restart faults (exit 0: nothing duplicated, lost, reordered or stuck).\n"
                    + "Broker, PostgreSQL, dispatchers and engines as separate processes under kill -9 and restart faults, with\n"
                    + "trigger-record, schedule and table workflows; checks duplicates, lost, unexpected, reordered, stuck and stalled\n"
                    + "(exit 0 when all are 0).", List.of(
            Args.Opt.value("duration", "S", "Seconds of faults (default 120, at least 20)."),
            Args.Opt.value("seed", "N", "Seed of the fault schedule (default 42)."),
            Args.Opt.value("rate", "N", "Events published per second (default 100)."),
            Args.Opt.value("engines", "N", "Engine processes (default 3)."),
            Args.Opt.value("dispatchers", "N", "Dispatcher processes (default 2)."),
            Args.Opt.value("brokers", "1|3", "Kafka brokers: 1, or 3 with replication factor 3 (default 1)."),
            Args.Opt.value("big-rows", "N", "Rows of the generated table the heavy-SQL workflow scans (default 1000000)."),
            Args.Opt.value("row-rate", "N", "Row changes per second for the table workflow (default 20)."),
            Args.Opt.value("faults", "KIND@S,...", "A fixed fault schedule instead of the seeded one."),
            Args.Opt.value("order", "key|none", "The table workflow's order (default key: each row's changes in commit order; "
                    + "none, the order invariant's negative control, must show reorders)."),
            Args.Opt.value("dir", "DIR", "Data and log directory (default: a new temporary directory)."),
            Args.Opt.value("json", "FILE", "Write the summary as JSON to FILE."),
            Args.Opt.flag("unsafe", "The negative control: engines without the processed-key check, so duplicates must show.")));

    public static int run(List<String> argv, PrintStream out, PrintStream err) throws Exception {
        Args args = Args.parse(SPEC, argv);
        dev.onceflow.deploy.DevKit.require("chaos");
        Path dir = args.get("dir", null) == null ? Files.createTempDirectory("onceflow-chaos-") : Path.of(args.get("dir", null));
        ChaosCommand chaos = new ChaosCommand(dir,
                args.intValue("seed", 42, 0, Integer.MAX_VALUE),
                args.intValue("duration", 120, 20, 86_400),
                args.intValue("rate", 100, 1, 100_000),
                args.intValue("engines", 3, 1, 32),
                args.intValue("dispatchers", 2, 1, 16),
                brokers(args.intValue("brokers", 1, 1, 3)),
                args.intValue("big-rows", 1_000_000, 1000, 1_000_000_000),
                args.intValue("row-rate", 20, 1, 10_000),
                args.flag("unsafe"), order(args.get("order", "key")), out,
                args.get("faults", null) == null ? null : ChaosSchedule.parse(args.get("faults", null)));
        Map<String, Object> report = chaos.execute();
        String json = args.get("json", null);
        if (json != null) {
            Files.write(Path.of(json), Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsBytes(report));
            out.println("Summary written to " + json);
        }
        return ChaosCheck.passed(report) ? 0 : 1;
    }

    private static String order(String order) {
        if (!order.equals("key") && !order.equals("none")) {
            throw new IllegalArgumentException("--order must be key or none, not " + order);
        }
        return order;
    }

    /** 1 (replication factor 1) or 3 (replication factor 3, min.insync.replicas 2): nothing in between. */
    private static int brokers(int n) {
        if (n == 2) {
            throw new IllegalArgumentException("--brokers must be 1 or 3: with 2, min.insync.replicas 2 leaves no broker to kill");
        }
        return n;
    }

    private Map<String, Object> execute() throws Exception {
        Thread cleanup = new Thread(this::shutdownAll, "onceflow-chaos-cleanup");
        Runtime.getRuntime().addShutdownHook(cleanup);
        try {
            setUp();
            runUnderFaults();
            waitForQuiet();
            return summary();
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

    /**
     * The effect table every chaos workflow writes: no unique constraint, so a node that ran twice
     * shows as two rows; {@code id} is the order the rows were written in (the table workflow's
     * order check reads it), {@code row_id} and {@code version} name the table change.
     */
    static String createEffectsTable() {
        return """
                CREATE TABLE IF NOT EXISTS chaos_effects (id bigserial PRIMARY KEY, event_key text NOT NULL, node text NOT NULL,
                    row_id bigint, version integer, created_at timestamptz NOT NULL DEFAULT now());
                CREATE INDEX IF NOT EXISTS chaos_effects_key ON chaos_effects (event_key, node);
                """;
    }

    private void setUp() throws Exception {
        out.println("Starting PostgreSQL (durable) and generating " + bigRows + " rows ...");
        ds = fleet.startPostgres();
        Scripts.run(ds, createEffectsTable());
        Scripts.run(ds, """
                CREATE TABLE IF NOT EXISTS chaos_big (id bigint PRIMARY KEY, v integer NOT NULL, pad text);
                """);
        Scripts.run(ds, ChaosRowWriter.createTable());
        Scripts.run(ds, "INSERT INTO chaos_big SELECT g, ((g::bigint * 7919) % 100000)::int, md5(g::text) FROM generate_series(1, "
                + bigRows + ") g ON CONFLICT DO NOTHING; ANALYZE chaos_big");

        out.println(brokers == 1 ? "Starting the Kafka broker as its own process ..."
                : "Starting " + brokers + " Kafka brokers (KRaft quorum of " + brokers + ", replication factor " + brokers
                        + ", min.insync.replicas 2), each its own process ...");
        fleet.startBroker();

        WorkflowStore store = new WorkflowStore(ds);
        // The table workflow goes in before the dispatchers start, so the capture (and its slot) is
        // set up while they boot; the schedule is deployed when the run starts (deploySchedule).
        for (String name : List.of(ORDERS, HEAVY, ROWS)) {
            ObjectNode def = (ObjectNode) Json.MAPPER.readTree(Scripts.bundled("chaos/" + name + ".json"));
            if (name.equals(ROWS)) {
                def.put("order", order);
            }
            store.deploy(Workflows.parse(name, Json.MAPPER.writeValueAsBytes(def)));
        }
        batch = new ChaosBatchCheck();
        fleet.startRoles(dispatchers, engines);
    }

    /**
     * Deploys the schedule with the run's window: ticks every second from the next whole second to
     * the end of the run, so its ticks stop with the rest of the workload and the checker knows
     * exactly which ticks must exist.
     */
    private void deploySchedule() throws Exception {
        ticksStart = (startedAt / 1000 + 1) * 1000;
        ticksEnd = (startedAt + durationS * 1000L) / 1000 * 1000;
        ObjectNode def = (ObjectNode) Json.MAPPER.readTree(Scripts.bundled("chaos/" + TICKS + ".json"));
        ((ObjectNode) def.get("trigger")).put("start", Instant.ofEpochMilli(ticksStart).toString())
                .put("end", Instant.ofEpochMilli(ticksEnd).toString());
        new WorkflowStore(ds).deploy(Workflows.parse(TICKS, Json.MAPPER.writeValueAsBytes(def)));
        // The seed-shaped job: same window, its http node calling this process's receiver.
        String batchJson = Scripts.bundled("chaos/" + ChaosBatchCheck.WORKFLOW + ".json").replace("RECEIVER", batch.url());
        ObjectNode batchDef = (ObjectNode) Json.MAPPER.readTree(batchJson);
        ((ObjectNode) batchDef.get("trigger")).put("start", Instant.ofEpochMilli(ticksStart).toString())
                .put("end", Instant.ofEpochMilli(ticksEnd).toString());
        new WorkflowStore(ds).deploy(Workflows.parse(ChaosBatchCheck.WORKFLOW, Json.MAPPER.writeValueAsBytes(batchDef)));
    }

    // ---- the run -----------------------------------------------------------------------------

    /** The workload for the run's duration, with the faults; returns once publishing and writing stopped. */
    private void runUnderFaults() throws Exception {
        startedAt = System.currentTimeMillis();
        out.printf("Chaos run: %d s, seed %d, %d engines, %d dispatchers, %d broker%s, %,d big rows, %d table rows/s%s; logs in %s%n",
                durationS, seed, engines, dispatchers, brokers, brokers == 1 ? "" : "s", bigRows, rowRate,
                (unsafe ? ", UNSAFE engines (negative control)" : "") + (order.equals("none") ? ", table workflow unordered (negative control)" : ""), logs);
        deploySchedule();
        rowWriter = new ChaosRowWriter(ds, fleet.config().get(OnceflowConfig.TABLE_SLOT), rowRate, seed * 17 + 3);
        rowWriter.start();
        publisher = new ChaosPublisher(fleet.bootstrap(), seed, rate, startedAt);
        Thread publisherThread = new Thread(publisher::publishLoop, "onceflow-chaos-publisher");
        publisherThread.start();
        faults = new ChaosFaults(fleet, rowWriter, seed, startedAt, durationS, out, this::printProgress, plan);
        faults.inject();
        publisher.stop();
        rowWriter.close();
        publisherThread.join();
        out.printf("Table writer: %,d rows acknowledged in %,d transactions, %,d in doubt, %,d failed before commit; "
                        + "%,d updates acknowledged, %,d in doubt, %,d failed before commit; capture ready at %s%s%n",
                rowWriter.acknowledged().size(), rowWriter.transactions(), rowWriter.inDoubt().size(), rowWriter.failedRows(),
                rowWriter.updatesAcknowledged().size(), rowWriter.updatesInDoubt(), rowWriter.updatesFailed(),
                rowWriter.captureReadyAt() < 0 ? "never" : String.format("%.1f s", (rowWriter.captureReadyAt() - startedAt) / 1000.0),
                rowWriter.lastError() == null ? "" : "; last error: " + rowWriter.lastError());
    }

    private void printProgress() {
        try {
            long finished = ChaosCheck.count(ds, "SELECT count(*) FROM executions WHERE finished_at IS NOT NULL");
            out.printf("[%6.1f s] published %,d copies, %,d keys accepted, %,d table rows committed, %,d executions finished%n",
                    (System.currentTimeMillis() - startedAt) / 1000.0, publisher.published(), publisher.accepted().size(),
                    rowWriter.acknowledged().size(), finished);
        } catch (Exception e) {
            out.printf("[%6.1f s] published %,d copies, %,d keys accepted (database unavailable: %s)%n",
                    (System.currentTimeMillis() - startedAt) / 1000.0, publisher.published(), publisher.accepted().size(), e.getMessage());
        }
    }

    // ---- quiet -------------------------------------------------------------------------------

    /**
     * Waits until every accepted key, every committed table row and every tick since the first one
     * has a finished execution, and nothing moved for 10 s; or 4 minutes, or 90 s without movement
     * (a partition that never drains, such as one held by a hanging transaction, must not hold the
     * run forever: the check then names it).
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
            long effects;
            try {
                finished = ChaosCheck.count(ds, "SELECT count(*) FROM executions WHERE finished_at IS NOT NULL");
                running = ChaosCheck.count(ds, "SELECT count(*) FROM executions WHERE finished_at IS NULL");
                backlog = backlog();
                effects = ChaosCheck.count(ds, "SELECT count(*) FROM chaos_effects");
            } catch (Exception e) {
                Thread.sleep(1000);
                continue;
            }
            long activity = finished * 31 + effects;
            if (activity != last) {
                last = activity;
                lastChange = System.currentTimeMillis();
            }
            faults.superviseRoles();
            if (backlog == 0 && running == 0 && System.currentTimeMillis() - lastChange > 10_000) {
                return;
            }
            if (System.currentTimeMillis() - lastChange > 90_000) {
                out.printf("Nothing moved for 90 s (%,d executions not finished, %,d still to come); checking now%n", running, backlog);
                return;
            }
            Thread.sleep(2000);
        }
        out.println("Not quiet after 4 minutes; checking now");
    }

    /** Work that should still come: accepted keys, committed rows and ticks without a finished execution. */
    private long backlog() throws java.sql.SQLException {
        long records = publisher.accepted().size() - ChaosCheck.count(ds, "SELECT count(*) FROM executions WHERE finished_at IS NOT NULL "
                + "AND workflow_id IN ('" + ORDERS + "', '" + HEAVY + "')");
        // A row's changes: its insert and one update per version.
        long rows = ChaosCheck.count(ds, "SELECT coalesce(sum(r.version + 1), 0) - (SELECT count(DISTINCT (e.trigger->'row'->>'id', "
                + "e.trigger->'row'->>'version')) FROM executions e WHERE e.workflow_id = '" + ROWS + "' AND e.finished_at IS NOT NULL) "
                + "FROM chaos_rows r");
        long lastTick = (ticksEnd - 1) / 1000 * 1000;
        long ticks = ChaosCheck.count(ds, "SELECT coalesce((" + lastTick + " - min(t)) / 1000 + 1 - count(*), 0) FROM (SELECT "
                + "substring(event_key from '@([0-9]+)$')::bigint AS t FROM executions WHERE workflow_id = '" + TICKS
                + "' AND finished_at IS NOT NULL) x WHERE t >= " + ticksStart + " AND t <= " + lastTick);
        return Math.max(0, records) + Math.max(0, rows) + Math.max(0, ticks);
    }
    // ---- summary -----------------------------------------------------------------------------

    /** Checks the invariants in PostgreSQL and Kafka, prints the result and returns it with the run's settings and faults. */
    private Map<String, Object> summary() throws Exception {
        ChaosKafka.Drain drain = null;
        String drainError = null;
        try (ChaosKafka kafka = new ChaosKafka(fleet.bootstrap())) {
            OnceflowConfig config = fleet.config();
            drain = kafka.drain(Map.of(config.get(OnceflowConfig.ENGINE_GROUP), List.of(Topics.EVENTS, Topics.TASKS),
                    config.get(OnceflowConfig.DISPATCHER_APP_ID), List.of(Topics.TRIGGERS, Topics.BY_KEY)), List.of(Topics.OUTCOMES), 5_000);
        } catch (Exception e) {
            drainError = "the broker did not answer the drain check: " + e;
        }
        Map<String, Object> report = ChaosCheck.check(ds, new ChaosCheck.Records(ORDERS, HEAVY, Set.copyOf(publisher.accepted()),
                        publisher.inDoubt(), !unsafe),
                new ChaosTriggerCheck.Ticks(TICKS, ticksStart, ticksEnd, faults.outages()),
                new ChaosTriggerCheck.Rows(ROWS, Set.copyOf(rowWriter.acknowledged()), Set.copyOf(rowWriter.inDoubt()),
                        rowWriter.failedRows(), Set.copyOf(rowWriter.updatesAcknowledged()), rowWriter.updatesInDoubt()), drain, drainError);
        Map<String, Object> batchReport = batch.check(ds);
        for (String total : List.of("duplicates", "unexpected", "stuck")) {
            report.put(total, ((Number) report.get(total)).longValue() + ((Number) batchReport.get(total)).longValue());
        }
        report.put("batch", batchReport);
        @SuppressWarnings("unchecked")
        Map<String, Object> kafkaReport = (Map<String, Object>) report.get("kafka");
        kafkaReport.put("coordinator_load_races", ChaosKafka.coordinatorLoadRaces(logs, 20));
        kafkaReport.put("coordinator_load_race_restarts", faults.loadRaceRestarts());
        Map<String, Object> full = new LinkedHashMap<>();
        full.put("seed", seed);
        full.put("duration_s", durationS);
        full.put("unsafe", unsafe);
        full.put("order", order);
        full.put("brokers", brokers);
        full.put("events_published", publisher.published());
        full.put("schedule_window", Map.of("start", Instant.ofEpochMilli(ticksStart).toString(),
                "end", Instant.ofEpochMilli(ticksEnd).toString()));
        full.put("table_writer", rowWriterSummary());
        full.putAll(report);
        full.put("faults_by_kind", faults.countsByKind());
        full.put("faults", faults.faults());
        full.put("roles_exited_by_themselves", faults.exits());
        out.print(ChaosCheck.human(full));
        return full;
    }

    private Map<String, Object> rowWriterSummary() {
        Map<String, Object> writer = new LinkedHashMap<>();
        writer.put("transactions", rowWriter.transactions());
        writer.put("updates_acknowledged", (long) rowWriter.updatesAcknowledged().size());
        writer.put("updates_in_doubt", rowWriter.updatesInDoubt());
        writer.put("updates_failed_before_commit", rowWriter.updatesFailed());
        writer.put("capture_ready_s", rowWriter.captureReadyAt() < 0 ? null : (rowWriter.captureReadyAt() - startedAt) / 1000.0);
        writer.put("died", rowWriter.died());
        writer.put("last_error", rowWriter.lastError());
        return writer;
    }

    private void shutdownAll() {
        if (batch != null) {
            batch.close();
        }
        if (rowWriter != null) {
            try {
                rowWriter.close();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        fleet.stop();
    }
}
