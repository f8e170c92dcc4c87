package dev.onceflow.deploy;

import dev.onceflow.common.Json;
import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.common.WorkflowStore;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.common.workflow.Workflows;
import dev.onceflow.dispatcher.Dispatcher;
import dev.onceflow.dispatcher.StoreCatalog;
import dev.onceflow.engine.Engine;
import dev.onceflow.engine.EngineMetrics;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.stream.Stream;
import javax.sql.DataSource;
import org.apache.kafka.clients.producer.KafkaProducer;

/**
 * {@code onceflow dev}: the whole system in one process on the embedded default. Starts a real
 * Kafka broker and a real PostgreSQL (durable settings), deploys the example workflows, runs a
 * dispatcher and an engine with {@code --workers} threads, and publishes the demo workload with
 * every event delivered three times. Prints progress while it runs and a summary read back from
 * PostgreSQL at the end; exit code 0 only when nothing ran twice and nothing was lost.
 */
final class DevCommand {

    static final String DEMO_WORKFLOW = "demo-orders";
    /** The example files bundled in the jar (copies of {@code deploy/examples/}). */
    static final List<String> BUNDLED_EXAMPLES = List.of("demo-heartbeat.json", "demo-orders.json");

    private DevCommand() {
    }

    static int run(List<String> argv, PrintStream out, PrintStream err) throws Exception {
        Args args = Args.parse("dev", argv, Set.of("workers", "events", "json", "dir", "seed"),
                Set.of("no-demo", "exit"));
        int workers = args.intValue("workers", 3, 1, 64);
        int events = args.intValue("events", 2000, 1, 10_000_000);
        boolean demo = !args.flag("no-demo");
        boolean exit = args.flag("exit");
        long seed = args.intValue("seed", (int) (System.nanoTime() & 0x7fffffff), 0, Integer.MAX_VALUE);
        boolean tempDir = args.get("dir", null) == null;
        Path dir = tempDir ? Files.createTempDirectory("onceflow-dev-") : Path.of(args.get("dir", null));

        out.println("Starting the embedded Kafka broker and PostgreSQL in " + dir + " ...");
        LocalInfra infra = LocalInfra.start(dir, Map.of(OnceflowConfig.ENGINE_WORKERS.name(), String.valueOf(workers),
                OnceflowConfig.DISPATCHER_HTTP_PORT.name(), "0"));
        DataSource ds = infra.dataSource();
        StoreCatalog catalog = null;
        Dispatcher dispatcher = null;
        Engine engine = null;
        CountDownLatch closed = new CountDownLatch(1);
        try {
            runScript(ds, resource("examples/demo-schema.sql"));
            List<Workflow> deployed = WorkflowCommand.deploy(new WorkflowStore(ds), examples());
            deployed.forEach(w -> out.println("Deployed example workflow " + w.id() + " version " + w.version()));

            OnceflowConfig config = infra.config();
            catalog = new StoreCatalog(new dev.onceflow.common.WorkflowStore(ds), config);
            dispatcher = new Dispatcher(config, catalog, ds);
            dispatcher.start();
            engine = new Engine(config, ds);
            engine.start();
            out.println("Kafka " + infra.bootstrapServers() + ", PostgreSQL " + config.get(OnceflowConfig.DB_URL)
                    + ", 1 dispatcher (HTTP API on port " + dispatcher.httpPort() + "), " + workers + " engine workers");

            int code = 0;
            if (demo) {
                Workflow wf = deployed.stream().filter(w -> w.id().equals(DEMO_WORKFLOW)).findFirst()
                        .orElseThrow(() -> new IllegalStateException("example workflow " + DEMO_WORKFLOW + " is missing"));
                DevSummary summary = runDemo(infra, ds, wf, events, seed, dispatcher, engine, out);
                out.print(summary.human());
                Map<String, Object> scheduled = scheduled(ds);
                out.printf("  scheduled            %s (one execution per tick, every dispatcher replica fires every tick)%n", scheduled);
                Map<String, Object> jsonSummary = summary.toJson();
                jsonSummary.put("scheduled", scheduled);
                String json = args.get("json", null);
                if (json != null) {
                    Files.write(Path.of(json), Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsBytes(jsonSummary));
                    out.println("Summary written to " + json);
                }
                code = summary.ok() ? 0 : 1;
            }
            if (!exit) {
                out.println("Serving; publish with: java -jar deploy/target/onceflow.jar publish --set kafka.bootstrap.servers="
                        + infra.bootstrapServers() + " --workflow " + DEMO_WORKFLOW + " '{\"amount\": 150}'");
                out.println("Press Ctrl-C to stop.");
                Runtime.getRuntime().addShutdownHook(new Thread(closed::countDown));
                closed.await();
            }
            return code;
        } finally {
            if (engine != null) {
                engine.close();
            }
            if (dispatcher != null) {
                dispatcher.close();
            }
            if (catalog != null) {
                catalog.close();
            }
            infra.close();
            if (tempDir) {
                deleteQuietly(dir);
            }
        }
    }

    private static DevSummary runDemo(LocalInfra infra, DataSource ds, Workflow wf, int events, long seed,
                                      Dispatcher dispatcher, Engine engine, PrintStream out) throws Exception {
        DemoWorkload workload = new DemoWorkload(wf.id(), wf.version(), events, seed);
        long start = System.currentTimeMillis();
        Thread publisher;
        Throwable[] publishFailure = new Throwable[1];
        try (KafkaProducer<byte[], byte[]> a = PublishCommand.producer(infra.config());
             KafkaProducer<byte[], byte[]> b = PublishCommand.producer(infra.config())) {
            publisher = new Thread(() -> {
                try {
                    workload.publish(a, b);
                } catch (Throwable t) {
                    publishFailure[0] = t;
                }
            }, "onceflow-demo-publisher");
            publisher.start();
            out.printf("Publishing %,d events, each %d times (seed %d)%n", events, DemoWorkload.COPIES, seed);
            waitForCompletion(ds, wf.id(), events, workload, engine.metrics(), publisher, out);
            publisher.join();
        }
        if (publishFailure[0] != null) {
            throw new IllegalStateException("the demo publisher failed: " + publishFailure[0].getMessage(), publishFailure[0]);
        }
        Map<String, Long> absorbed = new LinkedHashMap<>();
        absorbed.put("dispatcher", dispatcher.metrics().deduplicated());
        absorbed.put("execution_key", engine.metrics().duplicateEvents());
        absorbed.put("processed_key", engine.metrics().duplicateNodeRuns());
        return DevSummary.read(ds, wf.id(), workload.keys(), workload.published(), absorbed, start);
    }

    /**
     * Prints a progress line every second until every key has a finished execution and the engine
     * has been quiet for two seconds (late duplicates absorbed), or nothing moved for two minutes.
     */
    private static void waitForCompletion(DataSource ds, String workflow, int events, DemoWorkload workload,
                                          EngineMetrics metrics, Thread publisher, PrintStream out) throws Exception {
        long lastActivity = -1;
        long lastChange = System.currentTimeMillis();
        long quietSince = Long.MAX_VALUE;
        long prevFinished = 0;
        long prevNodes = 0;
        long prevTick = System.currentTimeMillis();
        while (true) {
            Thread.sleep(1000);
            long now = System.currentTimeMillis();
            long finished = countFinished(ds, workflow);
            long nodes = metrics.nodeRuns();
            double secs = Math.max(0.001, (now - prevTick) / 1000.0);
            out.printf("published %,d/%,d | executions finished %,d/%,d (%.0f/s) | nodes run %,d (%.0f/s) | absorbed %,d%n",
                    workload.published(), (long) events * DemoWorkload.COPIES, finished, events,
                    (finished - prevFinished) / secs, nodes, (nodes - prevNodes) / secs,
                    metrics.duplicateEvents() + metrics.duplicateNodeRuns());
            prevFinished = finished;
            prevNodes = nodes;
            prevTick = now;
            long activity = metrics.events() + metrics.duplicateEvents() + metrics.nodeRuns() + metrics.duplicateNodeRuns()
                    + workload.published();
            if (activity != lastActivity) {
                lastActivity = activity;
                lastChange = now;
            }
            boolean publishing = publisher.isAlive();
            if (finished >= events && !publishing) {
                quietSince = Math.min(quietSince, lastChange);
                if (now - lastChange >= 2000) {
                    return;
                }
            }
            if (!publishing && now - lastChange > 120_000) {
                out.println("No progress for two minutes; stopping the demo with " + (events - finished) + " unfinished");
                return;
            }
        }
    }

    /** Per scheduled example workflow: ticks executed, and effect rows (one per tick when nothing ran twice). */
    private static Map<String, Object> scheduled(DataSource ds) throws SQLException {
        Map<String, Object> out = new LinkedHashMap<>();
        try (Connection c = ds.getConnection();
             PreparedStatement q = c.prepareStatement("SELECT e.workflow_id, count(*), "
                     + "(SELECT count(*) FROM demo_effects f WHERE f.event_key LIKE e.workflow_id || '@%') "
                     + "FROM executions e WHERE e.source = 'schedule' GROUP BY e.workflow_id")) {
            try (ResultSet rs = q.executeQuery()) {
                while (rs.next()) {
                    out.put(rs.getString(1), Map.of("ticks_executed", rs.getLong(2), "effects", rs.getLong(3)));
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
                out.add(Workflows.parse(name, resource("examples/" + name).getBytes(StandardCharsets.UTF_8)));
            }
        }
        return out;
    }

    static String resource(String name) throws IOException {
        try (InputStream in = DevCommand.class.getClassLoader().getResourceAsStream(name)) {
            if (in == null) {
                throw new IOException("resource " + name + " is missing from the jar");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    static void runScript(DataSource ds, String sql) throws SQLException {
        try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
            s.execute(sql);
        }
    }

    private static void deleteQuietly(Path dir) {
        try (Stream<Path> walk = Files.walk(dir)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // a temp directory left behind is harmless
        }
    }
}
