package dev.onceflow.deploy.proof;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.common.EventEnvelope;
import dev.onceflow.common.Json;
import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.common.Topics;
import dev.onceflow.common.TriggerRecord;
import dev.onceflow.common.WorkflowStore;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.common.workflow.Workflows;
import dev.onceflow.deploy.Args;
import dev.onceflow.deploy.PublishCommand;
import dev.onceflow.deploy.Scripts;
import dev.onceflow.dispatcher.Dispatcher;
import dev.onceflow.dispatcher.StoreCatalog;
import dev.onceflow.engine.Engine;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * {@code onceflow bench}: throughput and latency of the whole path (publish → dispatcher → engine
 * → PostgreSQL, durable) on the embedded infrastructure, next to the limits of the same broker and
 * database measured in the same run, so the figures are read as ratios on a noisy shared machine.
 */
public final class BenchCommand {

    private final PrintStream out;
    private final int workers;
    private BenchInfra infra;
    private int brokers = 1;
    private DataSource ds;
    private int latencySeconds = 20;
    private BenchPlan plan = BenchPlan.all();
    private int slowKeySeconds = 60;
    private int slowKeyRate = 100;
    private int slowKeyMs = (int) BenchSlowKey.SLOW_ANSWER_MS;
    private int profileExecutions = 2000;
    private int scalingExecutions = 5000;
    private List<Integer> scalingPartitions = List.of(6, 12, 24);
    private List<Integer> scalingWorkers = List.of(1, 2, 4);

    private BenchCommand(PrintStream out, int workers) {
        this.out = out;
        this.workers = workers;
    }

    public static final Args.Spec SPEC = new Args.Spec("bench",
            "Measure throughput and latency next to the bare Kafka and PostgreSQL limits.\n"
                    + "Throughput and latency on the embedded infrastructure, next to the bare Kafka and PostgreSQL limits of the same\n"
                    + "run; writes FILE and a chart. Latency: w1 at 10/s and 100/s, hop by hop, next to a bare transactional hop\n"
                    + "and a bare durable commit. w1-order: w1 with order \"key\" and \"none\" (rounds key, none, none, key).\n"
                    + "slow-key: one http node; one key's calls answered after 5 s, 1,000 other keys' at once; the other keys'\n"
                    + "latency. profile: the cost per execution of four workflow shapes, from PostgreSQL's and Kafka's own counters.\n"
                    + "brokers-3: w1 and the bare limits again on 3 brokers (replication factor 3), and what replication costs.\n"
                    + "The default run measures all of these but scaling; profile and brokers-3 run last, each on a broker and a\n"
                    + "database of their own.", List.of(
            Args.Opt.value("executions", "N", "Executions of the throughput run (default 20000)."),
            Args.Opt.value("workers", "N", "Engine worker threads (default 3)."),
            Args.Opt.value("storm-keys", "N", "Distinct keys of the duplicate storm (default 5000)."),
            Args.Opt.value("limit-records", "N", "Records of the bare Kafka and PostgreSQL limit runs (default 100000)."),
            Args.Opt.value("latency-seconds", "N", "Seconds of each latency rate (default 20)."),
            Args.Opt.flag("latency-only", "Measure latency only (the same as --only latency)."),
            Args.Opt.value("only", "LIST", "Measure only these workloads, comma-separated, of: " + BenchPlan.Workload.known()
                    + " (default all)."),
            Args.Opt.flag("profile", "Add the cost per execution to an --only list (the same as naming profile in it): PostgreSQL "
                    + "statements, rows, commits and WAL, Kafka records, bytes and transactions, CPU, per workload shape."),
            Args.Opt.value("profile-executions", "N", "Executions of w1 in the profile (default 2000; the other shapes scale "
                    + "from it: waits N/4, ten-nodes N/2, loop-100 N/20)."),
            Args.Opt.value("brokers", "1|3", "Kafka brokers: 1 (in this JVM, replication 1), or 3 child processes with replication "
                    + "factor 3 and min.insync.replicas 2, as chaos --brokers 3; the bare limits use the same (default 1)."),
            Args.Opt.value("scaling-partitions", "LIST", "Partition counts of the scaling curve (default 6,12,24)."),
            Args.Opt.value("scaling-workers", "LIST", "Engine worker counts of the scaling curve (default 1,2,4)."),
            Args.Opt.value("scaling-executions", "N", "Executions per point of the scaling curve (default 5000)."),
            Args.Opt.value("slow-key-seconds", "N", "Seconds of publishing in the slow-key workload (default 60)."),
            Args.Opt.value("slow-key-rate", "N", "Events/s of the other keys in the slow-key workload (default 100)."),
            Args.Opt.value("slow-key-ms", "N", "Milliseconds the slow key's calls take to answer (default 5000; 0: a control run)."),
            Args.Opt.value("json", "FILE", "Write the report as JSON to FILE (and a chart beside it).")));

    public static int run(List<String> argv, PrintStream out, PrintStream err) throws Exception {
        Args args = Args.parse(SPEC, argv);
        dev.onceflow.deploy.DevKit.require("bench");
        int n = args.intValue("executions", 20_000, 100, 10_000_000);
        int stormKeys = args.intValue("storm-keys", 5_000, 10, 1_000_000);
        int limitRecords = args.intValue("limit-records", 100_000, 1000, 10_000_000);
        BenchCommand bench = new BenchCommand(out, args.intValue("workers", 3, 1, 64));
        bench.latencySeconds = args.intValue("latency-seconds", 20, 5, 3600);
        bench.plan = BenchPlan.of(args.get("only", null), args.flag("latency-only"), args.flag("profile"));
        bench.profileExecutions = args.intValue("profile-executions", 2000, 100, 1_000_000);
        bench.brokers = args.intValue("brokers", 1, 1, 3);
        if (bench.brokers == 2) {
            throw new IllegalArgumentException("--brokers must be 1 or 3 (3: replication factor 3, min.insync.replicas 2)");
        }
        bench.scalingExecutions = args.intValue("scaling-executions", 5000, 100, 10_000_000);
        bench.scalingPartitions = BenchPlan.counts("scaling-partitions", args.get("scaling-partitions", "6,12,24"), 1000);
        bench.scalingWorkers = BenchPlan.counts("scaling-workers", args.get("scaling-workers", "1,2,4"), 64);
        bench.slowKeySeconds = args.intValue("slow-key-seconds", 60, 5, 3600);
        bench.slowKeyRate = args.intValue("slow-key-rate", 100, 1, 10_000);
        bench.slowKeyMs = args.intValue("slow-key-ms", (int) BenchSlowKey.SLOW_ANSWER_MS, 0, 14_000);
        Map<String, Object> report = bench.execute(n, stormKeys, limitRecords);
        out.println(Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(report));
        List<String> summary = BenchSummary.lines(report);
        summary.forEach(out::println);
        String json = args.get("json", null);
        if (json != null) {
            Path jsonPath = Path.of(json);
            Files.write(jsonPath, Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsBytes(report));
            Path html = jsonPath.resolveSibling(jsonPath.getFileName().toString().replaceAll("\\.json$", "") + ".html");
            Files.writeString(html, BenchChart.html(chartSections(report, n), "onceflow bench", summary, preformatted(report),
                    BenchChart.scaling(castMap(report.get("scaling")))));
            out.println("Figures written to " + json + ", chart to " + html);
        }
        return 0;
    }

    /** Tables shown as they are printed: the cost per execution, when profiled. */
    @SuppressWarnings("unchecked")
    private static Map<String, List<String>> preformatted(Map<String, Object> report) {
        Map<String, List<String>> blocks = new LinkedHashMap<>();
        Map<String, Object> profile = castMap(report.get("profile"));
        if (profile != null) {
            blocks.put("Cost per execution (bench profile; counters of PostgreSQL, the broker and the CPU)", (List<String>) profile.get("table"));
        }
        return blocks;
    }

    /** The timelines the chart shows: w1 at full and half load, and the slow-key workload's unaffected keys. */
    @SuppressWarnings("unchecked")
    private static Map<String, List<Map<String, Object>>> chartSections(Map<String, Object> report, int n) {
        Map<String, List<Map<String, Object>>> sections = new LinkedHashMap<>();
        Map<String, Object> w1 = castMap(report.get("w1"));
        if (w1 != null) {
            Map<String, Object> half = castMap(w1.get("at_half_load"));
            sections.put("w1 at full load: " + n + " executions published at once (" + w1.get("executions_per_s") + " executions/s)",
                    (List<Map<String, Object>>) w1.get("timeline"));
            sections.put("w1 at half load: " + half.get("target_per_s") + " executions/s offered",
                    (List<Map<String, Object>>) half.get("timeline"));
        }
        Map<String, Object> slow = castMap(report.get("slow_key"));
        if (slow != null) {
            sections.put("slow-key: the " + slow.get("other_keys") + " unaffected keys at " + slow.get("other_rate_per_s")
                            + " events/s, while one key's calls take " + slow.get("slow_answer_ms") + " ms",
                    (List<Map<String, Object>>) slow.get("timeline"));
        }
        return sections;
    }

    /**
     * The run: the plan's workloads on the shared broker and database, then those that run apart
     * ({@link BenchPlan#apart}), each on a broker and database of its own, into one report.
     */
    private Map<String, Object> execute(int n, int stormKeys, int limitRecords) throws Exception {
        BenchPlan whole = plan;
        List<BenchPlan.Workload> apart = whole.apart(brokers);
        out.println("Workloads: " + String.join(", ", whole.labels()) + (apart.isEmpty() ? ""
                : " (apart, after the others, each on a broker and database of its own: "
                + String.join(", ", new BenchPlan(java.util.EnumSet.copyOf(apart)).labels()) + ")"));
        plan = whole.without(apart);
        Map<String, Object> report = plan.workloads().isEmpty() ? new LinkedHashMap<>() : executeHere(n, stormKeys, limitRecords);
        report.put("workloads", whole.labels());
        for (BenchPlan.Workload w : apart) {
            if (w == BenchPlan.Workload.PROFILE) {
                out.println("profile: apart, on a broker and a PostgreSQL of its own (pg_stat_statements preloaded there only)");
                BenchCommand sub = sub(brokers, "profile");
                report.put("profile", sub.executeHere(n, stormKeys, limitRecords).get("profile"));
            } else {
                int n3 = Math.max(1000, n / 4); // 3 brokers as child processes on this machine are slow: keep the run in minutes
                int limit3 = Math.max(1000, limitRecords / 4);
                out.printf("brokers-3: w1 (%,d executions) and the bare limits on 3 brokers (child processes, replication factor 3, "
                        + "min.insync.replicas 2)%n", n3);
                BenchCommand sub = sub(3, "w1,limits");
                report.put("brokers_3", brokersThree(report, sub.executeHere(n3, stormKeys, limit3)));
            }
        }
        plan = whole;
        return report;
    }

    private BenchCommand sub(int brokerCount, String only) {
        BenchCommand sub = new BenchCommand(out, workers);
        sub.brokers = brokerCount;
        sub.plan = BenchPlan.of(only, false);
        sub.profileExecutions = profileExecutions;
        sub.latencySeconds = latencySeconds;
        return sub;
    }

    /**
     * The figures of the 3-broker sub-run next to the 1-broker run's: its w1, bare limits and
     * ratios (each against limits measured on the same 3 brokers), and what replication costs, as
     * 3-broker over 1-broker figures of the same run.
     */
    static Map<String, Object> brokersThree(Map<String, Object> one, Map<String, Object> three) {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("kafka", three.get("kafka"));
        Map<String, Object> w1 = castMap(three.get("w1"));
        if (w1 != null) {
            Map<String, Object> brief = new LinkedHashMap<>();
            brief.put("executions", w1.get("executions"));
            brief.put("executions_per_s", w1.get("executions_per_s"));
            brief.put("latency_ms", w1.get("latency_ms"));
            Map<String, Object> half = castMap(w1.get("at_half_load"));
            if (half != null) {
                Map<String, Object> h = new LinkedHashMap<>(half);
                h.remove("timeline");
                brief.put("at_half_load", h);
            }
            r.put("w1", brief);
        }
        r.put("limits", three.get("limits"));
        r.put("ratios", three.get("ratios"));
        Map<String, Object> cost = new LinkedHashMap<>();
        Map<String, Object> w1One = castMap(one.get("w1"));
        if (w1One != null && w1 != null) {
            putRatio(cost, "w1_3_brokers_over_1_broker", w1.get("executions_per_s"), w1One.get("executions_per_s"));
        }
        Map<String, Object> limitsOne = castMap(one.get("limits"));
        Map<String, Object> limitsThree = castMap(three.get("limits"));
        if (limitsOne != null && limitsThree != null) {
            putRatio(cost, "kafka_limit_3_brokers_over_1_broker", limitsThree.get("kafka_txn_consume_produce_records_per_s"),
                    limitsOne.get("kafka_txn_consume_produce_records_per_s"));
        }
        r.put("replication_cost", cost);
        return r;
    }

    private Map<String, Object> executeHere(int n, int stormKeys, int limitRecords) throws Exception {
        Map<String, Object> scaling = null;
        if (plan.runs(BenchPlan.Workload.SCALING)) {
            // Its own broker and database per partition count, before (and apart from) the shared ones.
            scaling = new BenchScaling(out, scalingExecutions).run(scalingPartitions, scalingWorkers);
            if (!plan.needsSharedInfra()) {
                Map<String, Object> report = new LinkedHashMap<>();
                report.put("machine", Map.of("cores", Runtime.getRuntime().availableProcessors(), "java", System.getProperty("java.version"),
                        "postgres_fsync", "on", "synchronous_commit", "on"));
                report.put("workloads", plan.labels());
                report.put("scaling", scaling);
                report.put("load_average_end", BenchScaling.loadAverage());
                return report;
            }
        }
        Path dir = Files.createTempDirectory("onceflow-bench-");
        out.println(brokers == 1 ? "Starting the embedded Kafka broker and PostgreSQL (fsync=on, synchronous_commit=on) ..."
                : "Starting " + brokers + " Kafka brokers (child processes, replication factor " + brokers
                + ", min.insync.replicas 2) and PostgreSQL (fsync=on, synchronous_commit=on) ...");
        // The profile counts statements with pg_stat_statements, which must be preloaded; other runs stay as they were.
        Map<String, String> postgresSettings = plan.runs(BenchPlan.Workload.PROFILE)
                ? Map.of("shared_preload_libraries", "pg_stat_statements") : Map.of();
        infra = BenchInfra.start(dir, brokers, Map.of(OnceflowConfig.ENGINE_WORKERS.name(), String.valueOf(workers),
                OnceflowConfig.DISPATCHER_HTTP_PORT.name(), "-1"), postgresSettings);
        ds = infra.dataSource();
        Map<String, Object> report = new LinkedHashMap<>();
        report.put("machine", Map.of("cores", Runtime.getRuntime().availableProcessors(),
                "java", System.getProperty("java.version"), "postgres_fsync", "on", "synchronous_commit", "on"));
        report.put("kafka", Map.of("brokers", brokers, "replication_factor", infra.replication(),
                "min_insync_replicas", brokers == 1 ? 1 : 2, "brokers_in", brokers == 1 ? "this JVM" : "child processes"));
        report.put("workloads", plan.labels());
        report.put("load_average_start", BenchScaling.loadAverage());
        if (scaling != null) {
            report.put("scaling", scaling);
        }
        try {
            Scripts.run(ds, "CREATE TABLE bench_effects (id bigserial PRIMARY KEY, event_key text NOT NULL, node text NOT NULL)");
            WorkflowStore store = new WorkflowStore(ds);
            byte[] def = Scripts.bundled("bench/bench-w1.json").getBytes(StandardCharsets.UTF_8);
            Workflow base = Workflows.parse("bench-w1.json", def);
            Map<String, Workflow> wfs = new LinkedHashMap<>();
            for (String id : List.of("bench-w1", "bench-w1-half", "bench-w1-engine", "bench-w2", "bench-warmup", "bench-lat-10",
                    "bench-lat-100", "bench-w1-order-warmup")) {
                wfs.put(id, store.deploy(new Workflow(id, null, base.description(), base.trigger(), base.start(), base.nodes())));
            }
            List<String> rounds = BenchPlan.orderRounds();
            for (int i = 0; i < rounds.size(); i++) {
                String id = orderRoundWorkflow(rounds, i);
                wfs.put(id, store.deploy(new Workflow(id, null, base.description(), base.trigger(), base.start(), base.nodes(),
                        rounds.get(i), null, null, null)));
            }
            OnceflowConfig config = infra.config();
            boolean engineRuns = plan.runsThroughput() || plan.runs(BenchPlan.Workload.LATENCY);
            if (engineRuns) {
                try (StoreCatalog catalog = new StoreCatalog(store, config)) {
                    Dispatcher dispatcher = new Dispatcher(config, catalog, ds);
                    dispatcher.start();
                    Engine engine = new Engine(config, ds);
                    engine.start();
                    try (KafkaProducer<byte[], byte[]> producer = PublishCommand.producer(config.with(Map.of(
                            "kafka.producer.linger.ms", "5", "kafka.producer.batch.size", "131072")))) {
                        out.println("Warm-up: 2,000 executions");
                        publish(producer, wfs.get("bench-warmup"), 2000, 0, 1, false);
                        awaitFinished("bench-warmup", 2000, engine);
                        if (plan.runs(BenchPlan.Workload.LATENCY)) {
                            report.put("latency", latency(wfs));
                        }
                        long cpu0 = cpuMillis();
                        workloads(report, producer, store, wfs, n, stormKeys, engine);
                        if (plan.runsThroughput()) {
                            report.put("engine_cpu_s_in_workloads", (cpuMillis() - cpu0) / 1000.0);
                        }
                    }
                    engine.close();
                    dispatcher.close();
                }
            }
            if (plan.runs(BenchPlan.Workload.LIMITS)) {
                out.println("limits: bare Kafka transactional consume-produce and bare batched PostgreSQL inserts");
                Map<String, Object> limits = new LinkedHashMap<>();
                limits.put("kafka_txn_consume_produce_records_per_s", BenchLimits.kafka(infra.bootstrapServers(), limitRecords, 500, workers,
                        infra.replication()));
                limits.put("postgres_batched_insert_rows_per_s", BenchLimits.postgres(ds, limitRecords, 100));
                report.put("limits", limits);
            }
            Map<String, Object> ratios = ratios(report);
            if (!ratios.isEmpty()) {
                report.put("ratios", ratios);
            }
            report.put("load_average_end", BenchScaling.loadAverage());
            report.put("peak_rss_mb", peakRssMb());
            report.put("cpu_s", cpuMillis() / 1000.0);
            if (report.containsKey("w1")) {
                report.put("target_met", ((Number) castMap(report.get("w1")).get("executions_per_s")).doubleValue() >= 1000);
            }
            if (report.containsKey("w1_engine_only")) {
                report.put("target_met_engine_only",
                        ((Number) castMap(report.get("w1_engine_only")).get("executions_per_s")).doubleValue() >= 1000);
            }
            return report;
        } finally {
            infra.close();
            try (var walk = Files.walk(dir)) {
                walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    /** The throughput workloads the plan names, in their order, into the report. */
    private void workloads(Map<String, Object> report, KafkaProducer<byte[], byte[]> producer, WorkflowStore store,
                           Map<String, Workflow> wfs, int n, int stormKeys, Engine engine) throws Exception {
        if (plan.runs(BenchPlan.Workload.W1)) {
            out.printf("w1: %,d executions of 3 INSERT nodes, published as fast as possible%n", n);
            Map<String, Object> w1 = workload(producer, wfs.get("bench-w1"), n, 0, engine);
            double rate = ((Number) w1.get("executions_per_s")).doubleValue();
            int halfN = Math.max(100, n / 4);
            out.printf("w1 at half load: %,d executions at %.0f/s%n", halfN, rate / 2);
            Map<String, Object> half = workload(producer, wfs.get("bench-w1-half"), halfN, rate / 2, engine);
            Map<String, Object> halfReport = new LinkedHashMap<>();
            halfReport.put("target_per_s", Math.round(rate / 2));
            halfReport.put("executions", half.get("executions"));
            halfReport.put("executions_per_s", half.get("executions_per_s"));
            halfReport.put("latency_ms", half.get("latency_ms"));
            halfReport.put("timeline", half.get("timeline"));
            w1.put("at_half_load", halfReport);
            report.put("w1", w1);
        }
        if (plan.runs(BenchPlan.Workload.W1_ENGINE)) {
            out.printf("w1, engine only: %,d executions published straight to %s (no dispatcher)%n", n, Topics.EVENTS);
            Map<String, Object> engineOnly = workload(producer, wfs.get("bench-w1-engine"), n, 0, engine, true);
            engineOnly.remove("timeline");
            report.put("w1_engine_only", engineOnly);
        }
        if (plan.runs(BenchPlan.Workload.W1_ORDER)) {
            report.put("w1_order", ordering(producer, wfs, n, engine));
        }
        if (plan.runs(BenchPlan.Workload.W2)) {
            out.printf("w2: duplicate storm, %,d keys × 4 copies%n", stormKeys);
            report.put("w2", storm(producer, wfs.get("bench-w2"), stormKeys, engine));
        }
        if (plan.runs(BenchPlan.Workload.W3)) {
            int waitsN = Math.max(100, n / 10);
            out.printf("w3: %,d executions of sql → delay 1 s → http (local receiver) → sql, published as fast as possible%n",
                    waitsN);
            report.put("w3_waits", waits(producer, store, waitsN, engine));
        }
        if (plan.runs(BenchPlan.Workload.SLOW_KEY)) {
            Map<String, Object> slow = new BenchSlowKey(ds, out, slowKeyMs).run(store, producer, slowKeySeconds, slowKeyRate);
            report.put("slow_key", slow);
        }
        if (plan.runs(BenchPlan.Workload.PROFILE)) {
            report.put("profile", new BenchProfile(ds, infra.config(), engine, out).run(producer, store, profileExecutions));
        }
    }

    /** The workflow id of round {@code i} of the ordering comparison: {@code bench-w1-order-key-1}, … */
    static String orderRoundWorkflow(List<String> rounds, int i) {
        int nth = 0;
        for (int j = 0; j <= i; j++) {
            if (rounds.get(j).equals(rounds.get(i))) {
                nth++;
            }
        }
        return "bench-w1-order-" + rounds.get(i) + "-" + nth;
    }

    /**
     * w1 with {@code order: "key"} (on) and {@code "none"} (off), n executions per round, rounds
     * {@link BenchPlan#orderRounds}, after a warm-up round of n that is not counted. Every record of every round has its own record key (the
     * ordering key a kafka trigger derives from it), so on measures lane bookkeeping alone.
     */
    private Map<String, Object> ordering(KafkaProducer<byte[], byte[]> producer, Map<String, Workflow> wfs, int n, Engine engine)
            throws Exception {
        List<String> rounds = BenchPlan.orderRounds();
        // Not counted: after the 2,000 of the warm-up alone, the first round ran 30 % slower than the last.
        out.printf("w1-order warm-up: %,d executions (not counted)%n", n);
        Thread warm = new Thread(() -> publish(producer, wfs.get("bench-w1-order-warmup"), n, 0, 1, false, "ow-"), "bench-publisher");
        warm.start();
        awaitFinished("bench-w1-order-warmup", n, engine);
        warm.join();
        List<Map<String, Object>> results = new ArrayList<>();
        double on = 0;
        double off = 0;
        int onRounds = 0;
        int offRounds = 0;
        for (int i = 0; i < rounds.size(); i++) {
            String id = orderRoundWorkflow(rounds, i);
            out.printf("w1-order round %d of %d: %,d executions with order \"%s\" (%s), published as fast as possible%n", i + 1,
                    rounds.size(), n, rounds.get(i), id);
            String prefix = "o" + i + "-";
            Thread publisher = new Thread(() -> publish(producer, wfs.get(id), n, 0, 1, false, prefix), "bench-publisher");
            publisher.start();
            awaitFinished(id, n, engine);
            publisher.join();
            Map<String, Object> f = figures(id, n);
            double rate = ((Number) f.get("executions_per_s")).doubleValue();
            Map<String, Object> round = new LinkedHashMap<>();
            round.put("order", rounds.get(i));
            round.put("executions", f.get("executions"));
            round.put("executions_per_s", rate);
            round.put("latency_ms", f.get("latency_ms"));
            results.add(round);
            if (rounds.get(i).equals(Workflow.ORDER_KEY)) {
                on += rate;
                onRounds++;
            } else {
                off += rate;
                offRounds++;
            }
        }
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("executions_per_round", n);
        r.put("rounds", results);
        r.put("same_order_spread", sameOrderSpread(results));
        r.put("on_executions_per_s", round(on / onRounds, 1));
        r.put("off_executions_per_s", round(off / offRounds, 1));
        Double ratio = BenchSummary.ratio(on / onRounds, off / offRounds);
        r.put("on_over_off", ratio);
        r.put("within_10_percent", ratio != null && ratio >= 0.9);
        out.printf("  w1-order: on %,.0f/s, off %,.0f/s, on/off %s%n", on / onRounds, off / offRounds, ratio);
        return r;
    }

    /**
     * How far apart the rounds of one order are, the larger of the two: |a − b| / mean(a, b) of
     * their executions/s. Both rounds of a side run the same code, so this is the run's noise; an
     * on/off ratio is worth reading against the 10 % bound only when it is well under 0.1.
     */
    static double sameOrderSpread(List<Map<String, Object>> rounds) {
        Map<Object, List<Double>> byOrder = new LinkedHashMap<>();
        for (Map<String, Object> round : rounds) {
            byOrder.computeIfAbsent(round.get("order"), k -> new ArrayList<>()).add(((Number) round.get("executions_per_s")).doubleValue());
        }
        double spread = 0;
        for (List<Double> rates : byOrder.values()) {
            double min = rates.stream().mapToDouble(Double::doubleValue).min().orElse(0);
            double max = rates.stream().mapToDouble(Double::doubleValue).max().orElse(0);
            double mean = rates.stream().mapToDouble(Double::doubleValue).average().orElse(0);
            if (mean > 0) {
                spread = Math.max(spread, (max - min) / mean);
            }
        }
        return round(spread, 3);
    }

    /** The ratios of the run's figures to each other and to its limits, for whichever of them it measured. */
    static Map<String, Object> ratios(Map<String, Object> report) {
        Map<String, Object> ratios = new LinkedHashMap<>();
        Map<String, Object> limits = castMap(report.get("limits"));
        Object w1 = report.containsKey("w1") ? castMap(report.get("w1")).get("executions_per_s") : null;
        Object engineOnly = report.containsKey("w1_engine_only") ? castMap(report.get("w1_engine_only")).get("executions_per_s") : null;
        if (limits != null) {
            // Each execution moves 2 records through the engine's transactions (the event consumed,
            // the outcome produced; its nodes run inline in the event's batch). The PostgreSQL
            // ratio is a fixed yardstick: executions/s over (bare rows/s / 11), 11 being the rows a
            // w1 execution wrote when issue 21 set its goal (execution insert and finish, 3 × claim,
            // effect and outcome update). Since ADR 0027 it writes 8 (the outcome comes with the
            // claim); the yardstick stays, so that the ratio moves with executions/s only.
            Object kafkaLimit = limits.get("kafka_txn_consume_produce_records_per_s");
            Object pgLimit = limits.get("postgres_batched_insert_rows_per_s");
            putRatio(ratios, "w1_engine_records_per_s_over_kafka_limit", times(w1, 2), kafkaLimit);
            putRatio(ratios, "w1_statements_per_s_over_postgres_insert_limit", times(w1, 11), pgLimit);
            putRatio(ratios, "engine_only_records_per_s_over_kafka_limit", times(engineOnly, 2), kafkaLimit);
            putRatio(ratios, "engine_only_statements_per_s_over_postgres_insert_limit", times(engineOnly, 11), pgLimit);
        }
        putRatio(ratios, "w1_over_engine_only", w1, engineOnly);
        Map<String, Object> order = castMap(report.get("w1_order"));
        if (order != null) {
            putRatio(ratios, "w1_order_on_over_off", order.get("on_executions_per_s"), order.get("off_executions_per_s"));
        }
        return ratios;
    }

    private static Object times(Object v, double f) {
        return v instanceof Number x ? x.doubleValue() * f : null;
    }

    private static void putRatio(Map<String, Object> ratios, String name, Object a, Object b) {
        Double r = BenchSummary.ratio(a, b);
        if (r != null) {
            ratios.put(name, r);
        }
    }

    /**
     * The latency workload on the quiet system (issue 13): the floors, then w1 at 10/s and at
     * 100/s for {@code latencySeconds} each, and whether the low-load goal is met: p50 within 4×
     * and p99 within 8× of one bare transactional hop plus one durable commit.
     */
    private Map<String, Object> latency(Map<String, Workflow> wfs) throws Exception {
        BenchLatency bench = new BenchLatency(infra.bootstrapServers(), ds, out);
        out.println("latency floors: a bare Kafka transactional hop to a read_committed consumer; a bare durable PostgreSQL commit");
        Map<String, Object> floors = bench.floors();
        out.println("  " + floors);
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("floors", floors);
        for (int rate : List.of(10, 100)) {
            out.printf("latency: w1 at %d/s for %d s%n", rate, latencySeconds);
            Map<String, Object> run = bench.run(wfs.get("bench-lat-" + rate), rate, latencySeconds);
            bench.print(rate + "/s", run);
            r.put("w1_at_" + rate + "_per_s", run);
        }
        long floorP50 = floorOf(floors, "p50");
        long floorP99 = floorOf(floors, "p99");
        Map<String, Object> low = castMap(castMap(r.get("w1_at_10_per_s")).get("end_to_end_ms"));
        Map<String, Object> goal = new LinkedHashMap<>();
        goal.put("floor_p50_ms", floorP50);
        goal.put("floor_p99_ms", floorP99);
        goal.put("low_load_p50_over_floor", round(((Number) low.get("p50")).doubleValue() / Math.max(1, floorP50), 2));
        goal.put("low_load_p99_over_floor", round(((Number) low.get("p99")).doubleValue() / Math.max(1, floorP99), 2));
        goal.put("met", ((Number) low.get("p50")).longValue() <= 4 * floorP50 && ((Number) low.get("p99")).longValue() <= 8 * floorP99);
        r.put("low_load_goal", goal);
        out.println("  low-load goal (p50 ≤ 4× and p99 ≤ 8× one transactional hop + one durable commit): " + goal);
        return r;
    }

    private static long floorOf(Map<String, Object> floors, String q) {
        return ((Number) castMap(floors.get("kafka_transactional_hop_ms")).get(q)).longValue()
                + ((Number) castMap(floors.get("postgres_durable_commit_ms")).get(q)).longValue();
    }

    private Map<String, Object> workload(KafkaProducer<byte[], byte[]> producer, Workflow wf, int n, double ratePerS, Engine engine)
            throws Exception {
        return workload(producer, wf, n, ratePerS, engine, false);
    }

    private Map<String, Object> workload(KafkaProducer<byte[], byte[]> producer, Workflow wf, int n, double ratePerS, Engine engine,
                                         boolean direct) throws Exception {
        Thread publisher = new Thread(() -> publish(producer, wf, n, ratePerS, 1, direct), "bench-publisher");
        publisher.start();
        awaitFinished(wf.id(), n, engine);
        publisher.join();
        return figures(wf.id(), n);
    }

    private void publish(KafkaProducer<byte[], byte[]> producer, Workflow wf, int n, double ratePerS, int copies, boolean direct) {
        publish(producer, wf, n, ratePerS, copies, direct, "b");
    }

    /**
     * Publishes n trigger records (copies each), paced at ratePerS when it is positive; record i has
     * id and record key {@code idPrefix + i}.
     */
    private void publish(KafkaProducer<byte[], byte[]> producer, Workflow wf, int n, double ratePerS, int copies, boolean direct,
                         String idPrefix) {
        long start = System.nanoTime();
        for (int i = 0; i < n; i++) {
            if (ratePerS > 0) {
                long due = start + (long) (i * 1e9 / ratePerS);
                long wait = due - System.nanoTime();
                if (wait > 0) {
                    try {
                        TimeUnit.NANOSECONDS.sleep(wait);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        return;
                    }
                }
            }
            String id = idPrefix + i;
            ObjectNode data = Json.MAPPER.createObjectNode().put("n", i);
            if (direct) {
                // Straight onto the events topic, as the dispatcher would write it: the engine alone.
                long time = 1_000_000 + i;
                String key = wf.id() + "@" + time + "#" + id;
                byte[] event = Json.bytes(new EventEnvelope(key, wf.id(), wf.version(), time, data, "bench", System.currentTimeMillis()));
                producer.send(new ProducerRecord<>(Topics.EVENTS, key.getBytes(StandardCharsets.UTF_8), event));
                continue;
            }
            byte[] value = new TriggerRecord(wf.id(), id, Instant.ofEpochMilli(1_000_000 + i), data).toBytes();
            for (int c = 0; c < copies; c++) {
                producer.send(new ProducerRecord<>(Topics.TRIGGERS, id.getBytes(StandardCharsets.UTF_8), value));
            }
        }
        producer.flush();
    }

    /**
     * Executions that wait: a durable timer and an http call each, against a local receiver that
     * counts calls per Idempotency-Key. Reports throughput and latency (which includes the 1 s
     * delay) and checks that every key was called once.
     */
    private Map<String, Object> waits(KafkaProducer<byte[], byte[]> producer, WorkflowStore store, int n, Engine engine)
            throws Exception {
        dev.onceflow.common.local.LocalReceiver receiver = dev.onceflow.common.local.LocalReceiver.start();
        try {
            Workflow wf = store.deploy(Workflows.parse("bench-w3.json", """
                    {"id": "bench-w3", "trigger": {"type": "kafka"}, "nodes": [
                      {"type": "sql", "id": "before", "sql": "INSERT INTO bench_effects (event_key, node) VALUES (?, 'before')",
                       "params": ["event.key"], "next": "wait"},
                      {"type": "delay", "id": "wait", "ms": 1000, "next": "notify"},
                      {"type": "http", "id": "notify", "method": "POST", "url": "%s/notify",
                       "body": {"key": "${event.key}"}, "next": "after"},
                      {"type": "sql", "id": "after", "sql": "INSERT INTO bench_effects (event_key, node) VALUES (?, 'after')",
                       "params": ["event.key"]}
                    ]}""".formatted(receiver.url()).getBytes(StandardCharsets.UTF_8)));
            long timers0 = engine.metrics().timersFired();
            long calls0 = engine.metrics().httpCalls();
            Map<String, Object> r = workload(producer, wf, n, 0, engine);
            r.remove("timeline");
            r.remove("nodes_per_s"); // four nodes here, and the delay dominates
            r.put("timers_fired", engine.metrics().timersFired() - timers0);
            r.put("http_calls", engine.metrics().httpCalls() - calls0);
            r.put("keys_called", receiver.callsByKey().size());
            r.put("keys_called_more_than_once", receiver.keysCalledMoreThanOnce());
            r.put("calls_without_key", receiver.callsWithoutKey());
            return r;
        } finally {
            receiver.close();
        }
    }

    private Map<String, Object> storm(KafkaProducer<byte[], byte[]> producer, Workflow wf, int keys, Engine engine) throws Exception {
        // Two copies through the dispatcher (a publisher and its retry), two straight onto the
        // events topic (replicas without dedupe state): every layer has duplicates to absorb.
        for (int i = 0; i < keys; i++) {
            String id = "s" + i;
            long time = 2_000_000 + i;
            ObjectNode data = Json.MAPPER.createObjectNode().put("n", i);
            byte[] trigger = new TriggerRecord(wf.id(), id, Instant.ofEpochMilli(time), data).toBytes();
            String key = wf.id() + "@" + time + "#" + id;
            byte[] event = Json.bytes(new EventEnvelope(key, wf.id(), wf.version(), time, data, "bench-storm", System.currentTimeMillis()));
            producer.send(new ProducerRecord<>(Topics.TRIGGERS, id.getBytes(StandardCharsets.UTF_8), trigger));
            producer.send(new ProducerRecord<>(Topics.EVENTS, key.getBytes(StandardCharsets.UTF_8), event));
            producer.send(new ProducerRecord<>(Topics.TRIGGERS, id.getBytes(StandardCharsets.UTF_8), trigger));
            producer.send(new ProducerRecord<>(Topics.EVENTS, key.getBytes(StandardCharsets.UTF_8), event));
        }
        producer.flush();
        awaitFinished(wf.id(), keys, engine);
        Thread.sleep(3000); // let late copies arrive, so that any duplicate effect would be counted
        Map<String, Object> f = figures(wf.id(), keys);
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("keys", keys);
        r.put("copies_published", keys * 4);
        r.put("executions", f.get("executions"));
        r.put("effects", count("SELECT count(*) FROM bench_effects WHERE event_key LIKE ? || '@%'", wf.id()));
        r.put("duplicate_effects", count("SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM bench_effects "
                + "WHERE event_key LIKE ? || '@%' GROUP BY event_key, node HAVING count(*) > 1) d", wf.id()));
        r.put("executions_per_s", f.get("executions_per_s"));
        return r;
    }

    /** Waits until n executions of the workflow finished, printing a progress line each second. */
    private void awaitFinished(String workflow, int n, Engine engine) throws Exception {
        long start = System.currentTimeMillis();
        long last = 0;
        long lastChange = start;
        long prevNodes = engine.metrics().nodeRuns();
        while (true) {
            Thread.sleep(1000);
            long finished = count("SELECT count(*) FROM executions WHERE workflow_id = ? AND finished_at IS NOT NULL", workflow);
            long nodes = engine.metrics().nodeRuns();
            out.printf("  [%3ds] %s: %,d/%,d finished, %,d executions/s, engine %,d nodes/s, %d MB RSS%n",
                    (System.currentTimeMillis() - start) / 1000, workflow, finished, n, finished - last, nodes - prevNodes, currentRssMb());
            prevNodes = nodes;
            if (finished >= n) {
                return;
            }
            if (finished != last) {
                last = finished;
                lastChange = System.currentTimeMillis();
            } else if (System.currentTimeMillis() - lastChange > 120_000) {
                throw new IllegalStateException(workflow + ": no progress for 2 minutes at " + finished + "/" + n);
            }
        }
    }

    /** Sustained rate (first publish to last finish) and latency percentiles, from PostgreSQL. */
    private Map<String, Object> figures(String workflow, int n) throws SQLException {
        Map<String, Object> r = new LinkedHashMap<>();
        try (Connection c = ds.getConnection();
             PreparedStatement q = c.prepareStatement("""
                     SELECT count(*),
                            extract(epoch FROM max(finished_at) - min(published_at)),
                            percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - published_at)),
                            percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - published_at)),
                            percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - published_at))
                       FROM executions WHERE workflow_id = ?""")) {
            q.setString(1, workflow);
            try (ResultSet rs = q.executeQuery()) {
                rs.next();
                long count = rs.getLong(1);
                double secs = rs.getDouble(2);
                r.put("executions", count);
                r.put("seconds", round(secs, 2));
                r.put("executions_per_s", round(count / secs, 1));
                r.put("nodes_per_s", round(count * 3 / secs, 1));
                r.put("latency_ms", Map.of("p50", round(rs.getDouble(3) * 1000, 1), "p95", round(rs.getDouble(4) * 1000, 1),
                        "p99", round(rs.getDouble(5) * 1000, 1)));
            }
        }
        List<Map<String, Object>> timeline = new ArrayList<>();
        try (Connection c = ds.getConnection();
             PreparedStatement q = c.prepareStatement("""
                     SELECT extract(epoch FROM s - min(s) OVER ())::int, n, p50, p99 FROM (
                       SELECT date_trunc('second', finished_at) AS s, count(*) AS n,
                              percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - published_at)) * 1000 AS p50,
                              percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - published_at)) * 1000 AS p99
                         FROM executions WHERE workflow_id = ? GROUP BY 1) g ORDER BY 1""")) {
            q.setString(1, workflow);
            try (ResultSet rs = q.executeQuery()) {
                while (rs.next()) {
                    timeline.add(Map.of("t_s", rs.getInt(1), "executions", rs.getLong(2), "latency_p50_ms", round(rs.getDouble(3), 1),
                            "latency_p99_ms", round(rs.getDouble(4), 1)));
                }
            }
        }
        r.put("timeline", timeline);
        return r;
    }

    private long count(String sql, String arg) throws SQLException {
        try (Connection c = ds.getConnection(); PreparedStatement q = c.prepareStatement(sql)) {
            q.setString(1, arg);
            try (ResultSet rs = q.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> castMap(Object o) {
        return o instanceof Map<?, ?> ? (Map<String, Object>) o : null;
    }

    static double round(double v, int digits) {
        double f = Math.pow(10, digits);
        return Math.round(v * f) / f;
    }

    static long cpuMillis() {
        return ProcessHandle.current().info().totalCpuDuration().map(java.time.Duration::toMillis).orElse(-1L);
    }

    static long peakRssMb() {
        return statusMb("VmHWM:");
    }

    static long currentRssMb() {
        return statusMb("VmRSS:");
    }

    private static long statusMb(String field) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith(field)) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024;
                }
            }
        } catch (Exception e) {
            // not Linux
        }
        return -1;
    }
}
