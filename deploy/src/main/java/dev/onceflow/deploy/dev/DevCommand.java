package dev.onceflow.deploy.dev;

import dev.onceflow.common.Json;
import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.common.WorkflowStore;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.common.workflow.Workflows;
import dev.onceflow.deploy.Args;
import dev.onceflow.deploy.LocalInfra;
import dev.onceflow.deploy.PublishCommand;
import dev.onceflow.deploy.Scripts;
import dev.onceflow.deploy.WorkflowCommand;
import dev.onceflow.dispatcher.CaptureStatus;
import dev.onceflow.dispatcher.Dispatcher;
import dev.onceflow.dispatcher.StoreCatalog;
import dev.onceflow.engine.Engine;
import dev.onceflow.engine.EngineMetrics;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.stream.Stream;
import javax.sql.DataSource;
import org.apache.kafka.clients.producer.KafkaProducer;

/**
 * {@code onceflow dev}: the whole system in one process on the embedded default. Starts a real
 * Kafka broker and a real PostgreSQL (durable settings), deploys the example workflows, runs a
 * dispatcher and an engine with {@code --workers} threads, and publishes the demo workload with
 * every event delivered three times. Meanwhile the scheduled example fires every 5 s and the demo
 * changes rows of the table the table-triggered example watches (once the dispatcher's capture
 * streams it). Prints progress while it runs and a summary read back from PostgreSQL at the end;
 * exit code 0 only when nothing ran twice and nothing was lost, for each of the three triggers.
 */
public final class DevCommand {

    static final String DEMO_WORKFLOW = "demo-orders";
    /** The table-triggered example, on {@link DemoRowChanges#TABLE}. */
    static final String TABLE_WORKFLOW = "demo-order-status";
    /** The example files bundled in the jar (copies of {@code deploy/examples/}). */
    static final List<String> BUNDLED_EXAMPLES = List.of("demo-heartbeat.json", "demo-order-status.json", "demo-orders.json",
            "demo-refunds.json", "demo-signups.json", "nodes-calculation.json", "nodes-delay.json", "nodes-http.json",
            "nodes-loop.json", "nodes-parallel.json");
    /** The scheduled example: it fires every 5 s while the demo runs, so that the verdict covers ticks too. */
    static final String HEARTBEAT_WORKFLOW = "demo-heartbeat";
    /** Pause between the demo's row-change transactions, so they land while the events are published. */
    private static final long ROW_CHANGE_PAUSE_MS = 50;
    /** How long the demo waits for the capture: leader election, setup and Debezium's start take a few seconds. */
    private static final long CAPTURE_START_TIMEOUT_MS = 90_000;
    /** How long Ctrl-C waits for the orderly stop before the JVM exits anyway. */
    private static final long SHUTDOWN_TIMEOUT_S = 90;
    /** How often dev looks for user topics of newly deployed kafka workflows (as the dispatcher's catalog refresh). */
    private static final long USER_TOPIC_REFRESH_MS = 5_000;

    private DevCommand() {
    }

    public static final Args.Spec SPEC = new Args.Spec("dev",
            "Start everything on this machine: Kafka, PostgreSQL, a dispatcher, engines, examples and a demo.\n"
                    + "An embedded Kafka broker and PostgreSQL, a dispatcher, engine workers, the example workflows and a demo\n"
                    + "workload with every event published 3 times; then serves until Ctrl-C, and writes the CLI file so that the\n"
                    + "operator commands in another terminal reach it.", List.of(
            Args.Opt.value("workers", "N", "Engine worker threads (default 3)."),
            Args.Opt.value("events", "N", "Distinct demo events, each published 3 times (default 2000)."),
            Args.Opt.flag("no-demo", "Publish nothing; serve until Ctrl-C."),
            Args.Opt.flag("exit", "Stop when the demo is done instead of serving until Ctrl-C."),
            Args.Opt.value("json", "FILE", "Write the demo's summary as JSON to FILE."),
            Args.Opt.value("dir", "DIR", "Data directory (default: a new temporary directory, removed at the end)."),
            Args.Opt.value("seed", "N", "Seed of the demo's random choices (default: a new one).")));

    public static int run(List<String> argv, PrintStream out, PrintStream err) throws Exception {
        Args args = Args.parse(SPEC, argv);
        dev.onceflow.deploy.DevKit.require("dev");
        int workers = args.intValue("workers", 3, 1, 64);
        int events = args.intValue("events", 2000, 1, 10_000_000);
        boolean demo = !args.flag("no-demo");
        boolean exit = args.flag("exit");
        long seed = args.intValue("seed", (int) (System.nanoTime() & 0x7fffffff), 0, Integer.MAX_VALUE);
        boolean tempDir = args.get("dir", null) == null;
        Path dir = tempDir ? Files.createTempDirectory("onceflow-dev-") : Path.of(args.get("dir", null));

        // Ctrl-C (SIGINT/SIGTERM) asks the main thread to stop; the JVM exits only once it has stopped everything
        // in dependency order and removed the temporary directory. (Without this hook the JVM would exit while
        // the main thread is still closing, and PostgreSQL's own hook would stop it under the capture.)
        CountDownLatch stopRequested = new CountDownLatch(1);
        CountDownLatch stopped = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            stopRequested.countDown();
            try {
                if (!stopped.await(SHUTDOWN_TIMEOUT_S, java.util.concurrent.TimeUnit.SECONDS)) {
                    err.println("onceflow dev: still stopping after " + SHUTDOWN_TIMEOUT_S + " s; exiting anyway (data in " + dir + ")");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "onceflow-dev-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);

        LocalInfra infra = null;
        StoreCatalog catalog = null;
        Dispatcher dispatcher = null;
        Engine engine = null;
        // One registry for the process: the dispatcher's /metrics shows the engine's meters too.
        dev.onceflow.common.metrics.OnceflowMeters meters = new dev.onceflow.common.metrics.OnceflowMeters();
        UserTopics userTopics = null;
        Thread[] demoThreads = new Thread[0];
        CliFile cliFile = null;
        try {
            out.println("Starting the embedded Kafka broker and PostgreSQL in " + dir + " ...");
            infra = LocalInfra.start(dir, Map.of(OnceflowConfig.ENGINE_WORKERS.name(), String.valueOf(workers),
                    OnceflowConfig.DISPATCHER_HTTP_PORT.name(), "0", OnceflowConfig.DISPATCHER_HTTP_HOST.name(), "127.0.0.1"), false);
            DataSource ds = infra.dataSource();
            Scripts.run(ds, Scripts.bundled("examples/demo-schema.sql"));
            List<Workflow> deployed = WorkflowCommand.deploy(new WorkflowStore(ds), examples());
            deployed.forEach(w -> out.println("Deployed example workflow " + w.id() + " version " + w.version()));

            OnceflowConfig config = infra.config();
            // The broker creates no topic on its own: the user topics of enabled kafka workflows are created here,
            // now and for workflows deployed while dev runs, so that a record can be published to them at once.
            userTopics = new UserTopics(config, new WorkflowStore(ds), out);
            userTopics.createMissing();
            userTopics.start();
            catalog = new StoreCatalog(new dev.onceflow.common.WorkflowStore(ds), config);
            dispatcher = new Dispatcher(config, catalog, ds, meters);
            dispatcher.start();
            engine = new Engine(config, ds, dev.onceflow.engine.EngineHooks.NONE, java.time.Clock.systemUTC(), false, meters);
            engine.start();
            out.println("Kafka " + infra.bootstrapServers() + ", PostgreSQL " + config.get(OnceflowConfig.DB_URL)
                    + ", 1 dispatcher (HTTP API on port " + dispatcher.httpPort() + "), " + workers + " engine workers");
            out.println("Console http://localhost:" + dispatcher.httpPort() + "/console/#token=" + config.get(OnceflowConfig.API_TOKEN));
            out.println("Admin API http://localhost:" + dispatcher.httpPort() + "/api (token " + config.get(OnceflowConfig.API_TOKEN)
                    + "; from elsewhere: onceflow executions list --url http://localhost:" + dispatcher.httpPort()
                    + " --token " + config.get(OnceflowConfig.API_TOKEN) + "); engine health and metrics on http://localhost:"
                    + engine.httpPort() + "/metrics");
            if (!exit) {
                // So that 'onceflow workflow deploy', 'publish', 'executions' in another terminal reach this dev with no flags.
                cliFile = CliFile.write("http://localhost:" + dispatcher.httpPort(), config.get(OnceflowConfig.API_TOKEN), out, err);
            }

            int code = 0;
            if (demo) {
                Workflow wf = example(deployed, DEMO_WORKFLOW);
                Workflow tableWf = example(deployed, TABLE_WORKFLOW);
                awaitCapture(dispatcher, ds, config, "public." + DemoRowChanges.TABLE, out, stopRequested);
                DemoRowChanges rowChanges = new DemoRowChanges(ds, DemoRowChanges.rowsFor(events), ROW_CHANGE_PAUSE_MS, seed);
                demoThreads = new Thread[2];
                DevSummary summary = runDemo(infra, ds, wf, tableWf, rowChanges, events, seed, dispatcher, engine, out,
                        stopRequested, demoThreads);
                DevTableSummary table = DevTableSummary.read(ds, tableWf.id(), rowChanges, dispatcher.captureStatus());
                Map<String, Map<String, Long>> scheduled = scheduled(ds);
                boolean scheduledOk = scheduled.values().stream().allMatch(t -> t.get("duplicate_effects") == 0);
                out.print(summary.human());
                out.printf("  scheduled            %s (one execution per tick, every dispatcher replica fires every tick)%n", scheduled);
                out.print(table.human());
                boolean tourOk;
                try (var producer = PublishCommand.producer(config)) {
                    tourOk = NodeTour.run(producer, ds, out);
                }
                boolean ok = summary.ok() && table.ok() && scheduledOk && tourOk;
                out.println("  verdict              " + (ok ? "OK: every event and every row change ran once, every node's effect happened once"
                        + ", every node type ran"
                        : "FAILED: duplicates or losses" + (summary.ok() ? "" : " (published events)")
                        + (scheduledOk ? "" : " (scheduled ticks)") + (table.ok() ? "" : " (row changes)")
                        + (tourOk ? "" : " (node tour)")));
                Map<String, Object> jsonSummary = summary.toJson();
                jsonSummary.put("scheduled", scheduled);
                jsonSummary.put("table", table.toJson());
                jsonSummary.put("node_tour_ok", tourOk);
                String scraped = scrape(dispatcher.httpPort());
                jsonSummary.put("metrics_absorbed", absorbed(scraped));
                jsonSummary.put("metrics_families", families(scraped));
                jsonSummary.put("ok", ok);
                String json = args.get("json", null);
                if (json != null) {
                    Files.write(Path.of(json), Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsBytes(jsonSummary));
                    out.println("Summary written to " + json);
                }
                code = ok ? 0 : 1;
            }
            stopHeartbeat(ds, out);
            if (!exit && stopRequested.getCount() > 0) {
                String cli = cliFile != null ? "onceflow" : "onceflow --url http://localhost:" + dispatcher.httpPort()
                        + " --token " + config.get(OnceflowConfig.API_TOKEN);
                out.println("Serving; deploy your own workflow with: " + cli + " workflow deploy FILE");
                out.println("publish with: " + cli + " publish --workflow " + DEMO_WORKFLOW + " --data '{\"amount\": 150}' --wait");
                out.println("or to the user topic of demo-signups: " + cli + " publish --topic demo.signups"
                        + " --data '{\"signupId\": \"s-1\", \"at\": \"2026-01-10T01:00:00Z\"}'");
                out.println("Change rows of " + DemoRowChanges.TABLE + " (table trigger " + TABLE_WORKFLOW + ") with any PostgreSQL client at "
                        + config.get(OnceflowConfig.DB_URL) + ", user " + config.get(OnceflowConfig.DB_USER)
                        + "; call the api example with: curl -X POST -H 'Authorization: Bearer " + config.get(OnceflowConfig.API_TOKEN)
                        + "' -H 'Content-Type: application/json' -H 'Idempotency-Key: r-1' -d '{\"amount\": 12}' "
                        + "http://localhost:" + dispatcher.httpPort() + "/api/workflows/demo-refunds/trigger");
                out.println("Press Ctrl-C to stop.");
                stopRequested.await();
            }
            return code;
        } catch (StopRequested e) {
            out.println("Stop requested; the demo was not finished");
            return 130;
        } finally {
            if (stopRequested.getCount() == 0) {
                out.println("Stopping: demo, dispatcher, engine, Kafka broker, PostgreSQL");
            }
            if (cliFile != null) {
                cliFile.remove();
            }
            stopAll(demoThreads, userTopics, dispatcher, catalog, engine, infra, err);
            meters.close();
            if (tempDir) {
                if (deleteQuietly(dir)) {
                    out.println("Removed " + dir);
                } else {
                    err.println("onceflow dev: could not remove all of " + dir);
                }
            }
            stopped.countDown();
            if (stopRequested.getCount() > 0) {
                try {
                    Runtime.getRuntime().removeShutdownHook(hook);
                } catch (IllegalStateException e) {
                    // the JVM is already shutting down: the hook is running and has seen 'stopped'
                }
            }
        }
    }

    /**
     * Disables the heartbeat once the demo has counted its ticks (at once with {@code --no-demo})
     * through the admin API's own path ({@link WorkflowStore#setEnabled}, which
     * {@code POST /api/workflows/{id}/disable} calls): left on, it adds an execution every 5 s to the
     * console's first page and to {@code executions list}, burying the user's own.
     */
    private static void stopHeartbeat(DataSource ds, PrintStream out) throws java.sql.SQLException {
        if (new WorkflowStore(ds).setEnabled(HEARTBEAT_WORKFLOW, false)) {
            out.println("Disabled the " + HEARTBEAT_WORKFLOW + " schedule (every 5 s) so that it does not flood the console and "
                    + "executions list; enable it again with: onceflow workflow enable " + HEARTBEAT_WORKFLOW);
        }
    }

    /**
     * Stops what dev started, dependents before what they depend on: the demo's publisher and row changer,
     * the dispatcher (its capture releases its lock and slot while PostgreSQL is still up), the engine (its
     * workers finish or abort their transaction while the broker is up), then the broker and PostgreSQL.
     * Each step runs even when an earlier one failed.
     */
    private static void stopAll(Thread[] demoThreads, UserTopics userTopics, Dispatcher dispatcher, StoreCatalog catalog,
                                Engine engine, LocalInfra infra, PrintStream err) {
        List<AutoCloseable> steps = new ArrayList<>();
        steps.add(() -> {
            for (Thread t : demoThreads) {
                if (t != null) {
                    t.interrupt();
                }
            }
            for (Thread t : demoThreads) {
                if (t != null) {
                    t.join(10_000);
                }
            }
        });
        steps.add(userTopics);
        steps.add(dispatcher);
        steps.add(catalog);
        steps.add(engine);
        steps.add(infra);
        for (AutoCloseable step : steps) {
            if (step == null) {
                continue;
            }
            try {
                step.close();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (Exception e) {
                err.println("onceflow dev: while stopping: " + e);
            }
        }
    }

    private static Workflow example(List<Workflow> deployed, String id) {
        return deployed.stream().filter(w -> w.id().equals(id)).findFirst()
                .orElseThrow(() -> new IllegalStateException("example workflow " + id + " is missing"));
    }

    /**
     * Waits until this dispatcher leads the row-change capture, captures {@code table}, and the
     * replication slot is active. The capture reports its tables as soon as it starts Debezium,
     * which creates the slot a moment later; there is no initial snapshot, so a change committed
     * before the slot exists would never be captured, and the demo would count it as lost.
     */
    private static void awaitCapture(Dispatcher dispatcher, DataSource ds, OnceflowConfig config, String table, PrintStream out,
                                     CountDownLatch stop) throws Exception {
        String slot = config.get(OnceflowConfig.TABLE_SLOT);
        long start = System.currentTimeMillis();
        String reported = null;
        while (true) {
            CaptureStatus s = dispatcher.captureStatus();
            if (s != null && s.problem() != null && !s.problem().equals(reported)) {
                reported = s.problem();
                out.println("Row-change capture: " + reported);
            }
            if (s != null && s.capturing(table)) {
                out.printf("Row-change capture LEADING on %s through slot '%s' (streaming after %,d ms)%n", s.tables(), slot,
                        System.currentTimeMillis() - start);
                return;
            }
            if (System.currentTimeMillis() - start > CAPTURE_START_TIMEOUT_MS) {
                throw new IllegalStateException("the row-change capture did not start streaming " + table + " through slot '" + slot
                        + "' within " + CAPTURE_START_TIMEOUT_MS / 1000 + " s: " + s);
            }
            pause(stop, 200);
        }
    }

    private static DevSummary runDemo(LocalInfra infra, DataSource ds, Workflow wf, Workflow tableWf, DemoRowChanges rowChanges,
                                      int events, long seed, Dispatcher dispatcher, Engine engine, PrintStream out,
                                      CountDownLatch stop, Thread[] demoThreads) throws Exception {
        DemoWorkload workload = new DemoWorkload(wf.id(), wf.version(), events, seed);
        long start = System.currentTimeMillis();
        Thread publisher;
        Throwable[] publishFailure = new Throwable[1];
        Throwable[] changeFailure = new Throwable[1];
        try (KafkaProducer<byte[], byte[]> a = PublishCommand.producer(infra.config());
             KafkaProducer<byte[], byte[]> b = PublishCommand.producer(infra.config())) {
            publisher = new Thread(() -> {
                try {
                    workload.publish(a, b);
                } catch (Throwable t) {
                    publishFailure[0] = t;
                }
            }, "onceflow-demo-publisher");
            Thread changer = new Thread(() -> {
                try {
                    rowChanges.run();
                } catch (Throwable t) {
                    changeFailure[0] = t;
                }
            }, "onceflow-demo-row-changes");
            demoThreads[0] = publisher;
            demoThreads[1] = changer;
            publisher.start();
            changer.start();
            out.printf("Publishing %,d events, each %d times (seed %d); meanwhile changing rows of %s (table workflow %s)%n",
                    events, DemoWorkload.COPIES, seed, DemoRowChanges.TABLE, tableWf.id());
            Progress progress = new Progress(ds, wf.id(), events, workload, tableWf.id(), rowChanges, changer, dispatcher,
                    engine.metrics(), publisher);
            waitForCompletion(progress, out, stop);
            publisher.join();
            changer.join();
        }
        if (publishFailure[0] != null) {
            throw new IllegalStateException("the demo publisher failed: " + publishFailure[0].getMessage(), publishFailure[0]);
        }
        if (changeFailure[0] != null) {
            throw new IllegalStateException("the demo's row changes failed: " + changeFailure[0].getMessage(), changeFailure[0]);
        }
        Map<String, Long> absorbed = new LinkedHashMap<>();
        absorbed.put("dispatcher", dispatcher.metrics().deduplicated());
        absorbed.put("execution_key", engine.metrics().duplicateEvents());
        absorbed.put("processed_key", engine.metrics().duplicateNodeRuns());
        return DevSummary.read(ds, wf.id(), workload.keys(), workload.published(), absorbed, start);
    }

    /** What the demo waits for: the published events' and the row changes' executions, and the activity that shows progress. */
    private record Progress(DataSource ds, String workflow, int events, DemoWorkload workload, String tableWorkflow,
                            DemoRowChanges rowChanges, Thread changer, Dispatcher dispatcher, EngineMetrics metrics,
                            Thread publisher) {
    }

    /**
     * Prints a progress line every second until every published key and every row change that
     * must fire has a finished execution and the demo has been quiet for two seconds (late
     * duplicates absorbed), or nothing moved for two minutes. The scheduled example's ticks do
     * not count as progress: they go on forever.
     */
    private static void waitForCompletion(Progress p, PrintStream out, CountDownLatch stop) throws Exception {
        long lastActivity = -1;
        long lastChange = System.currentTimeMillis();
        long prevFinished = 0;
        long prevNodes = 0;
        long prevTick = System.currentTimeMillis();
        EngineMetrics metrics = p.metrics();
        while (true) {
            pause(stop, 1000);
            long now = System.currentTimeMillis();
            long finished = countFinished(p.ds(), p.workflow());
            long tableFinished = countFinished(p.ds(), p.tableWorkflow());
            CaptureStatus capture = p.dispatcher().captureStatus();
            long captured = capture == null ? 0 : capture.changes();
            long nodes = metrics.nodeRuns();
            double secs = Math.max(0.001, (now - prevTick) / 1000.0);
            out.printf("published %,d/%,d | executions finished %,d/%,d (%.0f/s) | nodes run %,d (%.0f/s) | absorbed %,d"
                            + " | rows changed %,d, captured %,d, their executions finished %,d%n",
                    p.workload().published(), (long) p.events() * DemoWorkload.COPIES, finished, p.events(),
                    (finished - prevFinished) / secs, nodes, (nodes - prevNodes) / secs,
                    metrics.duplicateEvents() + metrics.duplicateNodeRuns(), p.rowChanges().made(), captured, tableFinished);
            prevFinished = finished;
            prevNodes = nodes;
            prevTick = now;
            long activity = finished + tableFinished + p.workload().published() + p.rowChanges().made() + captured
                    + metrics.duplicateEvents() + metrics.duplicateNodeRuns();
            if (activity != lastActivity) {
                lastActivity = activity;
                lastChange = now;
            }
            boolean publishing = p.publisher().isAlive();
            boolean changing = p.changer().isAlive(); // once false, the changer's expected() is safe to read
            if (finished >= p.events() && !publishing && !changing && tableFinished >= p.rowChanges().expected().size()) {
                if (now - lastChange >= 2000) {
                    return;
                }
            }
            if (!publishing && !changing && now - lastChange > 120_000) {
                out.println("No progress for two minutes; stopping the demo with " + (p.events() - finished)
                        + " published events and " + Math.max(0, p.rowChanges().expected().size() - tableFinished)
                        + " row changes unfinished");
                return;
            }
        }
    }

    /**
     * Per scheduled example workflow: ticks executed, and effect rows (one per tick when nothing
     * ran twice), of which duplicates (a tick's node effect more than once).
     */
    private static Map<String, Map<String, Long>> scheduled(DataSource ds) throws SQLException {
        Map<String, Map<String, Long>> out = new LinkedHashMap<>();
        try (Connection c = ds.getConnection();
             PreparedStatement q = c.prepareStatement("SELECT e.workflow_id, count(*), "
                     + "(SELECT count(*) FROM demo_effects f WHERE f.event_key LIKE e.workflow_id || '@%'), "
                     + "(SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM demo_effects f "
                     + "   WHERE f.event_key LIKE e.workflow_id || '@%' GROUP BY f.event_key, f.node HAVING count(*) > 1) d) "
                     + "FROM executions e WHERE e.source = 'schedule' GROUP BY e.workflow_id ORDER BY e.workflow_id")) {
            try (ResultSet rs = q.executeQuery()) {
                while (rs.next()) {
                    Map<String, Long> ticks = new LinkedHashMap<>();
                    ticks.put("ticks_executed", rs.getLong(2));
                    ticks.put("effects", rs.getLong(3));
                    ticks.put("duplicate_effects", rs.getLong(4));
                    out.put(rs.getString(1), ticks);
                }
            }
        }
        return out;
    }

    private static long countFinished(DataSource ds, String workflow) throws SQLException {
        try (Connection c = ds.getConnection();
             PreparedStatement q = c.prepareStatement("SELECT count(*) FROM executions WHERE workflow_id = ? AND finished_at IS NOT NULL")) {
            q.setString(1, workflow);
            try (ResultSet rs = q.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    /** The workflows in {@code deploy/examples/} when run from a checkout, else the copies bundled in the jar. */
    static List<Workflow> examples() throws Exception {
        Path onDisk = Path.of("deploy", "examples");
        List<Workflow> out = new ArrayList<>();
        if (Files.isDirectory(onDisk)) {
            try (Stream<Path> files = Files.list(onDisk)) {
                for (Path f : files.filter(p -> p.toString().endsWith(".json")).sorted().toList()) {
                    out.add(Workflows.parse(f.toString(), Files.readAllBytes(f)));
                }
            }
        } else {
            for (String name : BUNDLED_EXAMPLES) {
                out.add(Workflows.parse(name, Scripts.bundled("examples/" + name).getBytes(StandardCharsets.UTF_8)));
            }
        }
        return out;
    }

    /** Deletes {@code dir} and everything in it; false when something is left. */
    static boolean deleteQuietly(Path dir) {
        try (Stream<Path> walk = Files.walk(dir)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // reported below
        }
        return !Files.exists(dir);
    }

    /** Waits {@code millis}, or throws {@link StopRequested} as soon as a stop is requested. */
    private static void pause(CountDownLatch stop, long millis) throws InterruptedException, StopRequested {
        if (stop.await(millis, java.util.concurrent.TimeUnit.MILLISECONDS)) {
            throw new StopRequested();
        }
    }

    /** Ctrl-C during the demo: unwind to the orderly stop. */
    private static final class StopRequested extends Exception {
        StopRequested() {
            super("stop requested", null, false, false);
        }
    }

    /**
     * Creates the user topics of enabled kafka workflows that are missing, at start and then every
     * {@value #USER_TOPIC_REFRESH_MS} ms (a workflow deployed while dev runs), on one daemon thread. Owned by
     * {@link #run}; {@link #close()} stops it.
     */
    private static final class UserTopics implements AutoCloseable {
        private final OnceflowConfig config;
        private final WorkflowStore store;
        private final PrintStream out;
        private final org.apache.kafka.clients.admin.Admin admin;
        private final java.util.concurrent.ScheduledExecutorService timer = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "onceflow-dev-user-topics");
            t.setDaemon(true);
            return t;
        });
        private String lastProblem;

        UserTopics(OnceflowConfig config, WorkflowStore store, PrintStream out) {
            this.config = config;
            this.store = store;
            this.out = out;
            this.admin = LocalInfra.admin(config);
        }

        void createMissing() throws SQLException, InterruptedException {
            for (String topic : LocalInfra.createMissing(admin, LocalInfra.userTopics(store.latest()), config)) {
                out.println("Created topic " + topic + " (read by an enabled kafka workflow)");
            }
        }

        void start() {
            timer.scheduleWithFixedDelay(() -> {
                try {
                    createMissing();
                    lastProblem = null;
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                } catch (Exception e) {
                    if (!String.valueOf(e.getMessage()).equals(lastProblem)) {
                        lastProblem = String.valueOf(e.getMessage());
                        out.println("Cannot create the topics of kafka workflows: " + lastProblem);
                    }
                }
            }, USER_TOPIC_REFRESH_MS, USER_TOPIC_REFRESH_MS, java.util.concurrent.TimeUnit.MILLISECONDS);
        }

        @Override
        public void close() throws InterruptedException {
            timer.shutdownNow();
            timer.awaitTermination(10, java.util.concurrent.TimeUnit.SECONDS);
            admin.close(java.time.Duration.ofSeconds(5));
        }
    }

    /** The dispatcher's {@code /metrics} text, read over HTTP as a scraper would; empty if it cannot be read. */
    static String scrape(int port) {
        try {
            return java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(
                    java.net.URI.create("http://localhost:" + port + dev.onceflow.common.HttpPaths.METRICS)).build(),
                    java.net.http.HttpResponse.BodyHandlers.ofString()).body();
        } catch (java.io.IOException e) {
            return "";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "";
        }
    }

    /** {@code onceflow_duplicates_absorbed_total} per layer in a scrape, for the summary to set beside its own figures. */
    static Map<String, Long> absorbed(String scrape) {
        Map<String, Long> out = new LinkedHashMap<>();
        java.util.regex.Matcher m = java.util.regex.Pattern.compile(
                "(?m)^onceflow_duplicates_absorbed_total\\{[^}]*layer=\"([a-z_]+)\"[^}]*} ([0-9.E+]+)$").matcher(scrape);
        while (m.find()) {
            out.put(m.group(1), (long) Double.parseDouble(m.group(2)));
        }
        return out;
    }

    /** The Onceflow metric families in a scrape ({@code # TYPE onceflow_...} lines), sorted. */
    static List<String> families(String scrape) {
        return scrape.lines().filter(l -> l.startsWith("# TYPE onceflow_")).map(l -> l.split(" ")[2]).sorted().distinct().toList();
    }
}
