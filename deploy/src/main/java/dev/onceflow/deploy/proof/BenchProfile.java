package dev.onceflow.deploy.proof;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.common.Json;
import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.common.Topics;
import dev.onceflow.common.TriggerRecord;
import dev.onceflow.common.WorkflowStore;
import dev.onceflow.common.local.LocalReceiver;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.common.workflow.Workflows;
import dev.onceflow.engine.Engine;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.lang.management.ThreadMXBean;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import javax.management.MBeanServer;
import javax.management.ObjectName;
import javax.sql.DataSource;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * {@code bench --only profile}: the cost of one execution of each workload shape, read from the
 * counters of PostgreSQL ({@code pg_stat_statements}, preloaded for this run; {@code pg_stat_database};
 * the WAL insert position; {@code pg_stat_wal}), of the in-JVM broker (its JMX
 * {@code BrokerTopicMetrics} per topic and {@code EndTxn} requests) and of CPU time (per thread in
 * this JVM, classified as engine or dispatcher by thread name; the PostgreSQL server's processes from
 * {@code /proc}). Each shape runs alone: counters are read before publishing and after the last
 * execution finished and the counters settled, and the difference is divided by the executions.
 *
 * <p>Its own queries run as a separate role ({@value #OBSERVER}) so that {@code pg_stat_statements}
 * leaves them out; their commits are subtracted from {@code pg_stat_database}'s. Background work that
 * runs whatever the load (timer polls, the stall watch, the catalog refresh) is measured separately
 * as an idle cost per second and is included in each shape's figures, as it is in production.
 *
 * <p>Owned by {@link BenchCommand}; not thread-safe.
 */
final class BenchProfile {

    static final String OBSERVER = "bench_observer";
    /** Clock ticks per second of /proc/PID/stat's CPU fields (USER_HZ, 100 on Linux). */
    private static final double TICKS_PER_S = 100;
    private static final long SETTLE_MS = 2000;

    private final DataSource ds;
    private final OnceflowConfig config;
    private final Engine engine;
    private final PrintStream out;
    private Connection observer;
    private long observerStatements;
    private boolean statements;
    private Path postmasterPid;

    BenchProfile(DataSource ds, OnceflowConfig config, Engine engine, PrintStream out) {
        this.ds = ds;
        this.config = config;
        this.engine = engine;
        this.out = out;
    }

    /** One workload shape: its workflow, how many executions, and each trigger's data. */
    private record Shape(String name, String description, Workflow workflow, int executions, ArrayNode items) {
    }

    Map<String, Object> run(KafkaProducer<byte[], byte[]> producer, WorkflowStore store, int n) throws Exception {
        prepare();
        Map<String, Object> report = new LinkedHashMap<>();
        report.put("method", Map.of(
                "postgres", statements ? "pg_stat_statements (calls, rows; own queries excluded by role), pg_stat_database "
                        + "(xact_commit minus own, tup_inserted+updated+deleted), WAL insert position (bytes), pg_stat_wal (records)"
                        : "pg_stat_statements unavailable: pg_stat_database and WAL only",
                "kafka", "in-JVM broker JMX: BrokerTopicMetrics MessagesInPerSec/BytesInPerSec counts (all topics, internal included), "
                        + "RequestMetrics EndTxn requests (engine and dispatcher transactions, commits and aborts)",
                "cpu", "per thread in this JVM (engine: its loop, client and helper threads; dispatcher: stream threads and "
                        + "sources; broker: the in-JVM broker's named threads; bench: the publisher), the rest of the JVM (JIT "
                        + "compilers, GC, unnamed threads) as process minus those, with the JIT's elapsed compilation time "
                        + "(CompilationMXBean, not CPU) beside it; "
                        + "PostgreSQL: postmaster and its children from /proc, exited backends included via cutime",
                "settle_ms", SETTLE_MS));
        LocalReceiver receiver = LocalReceiver.start();
        Map<String, BenchCost> table = new LinkedHashMap<>();
        Map<String, BenchCost> marginalTable = new LinkedHashMap<>();
        Map<String, Object> shapes = new LinkedHashMap<>();
        try {
            BenchCost before = snapshot();
            Thread.sleep(5000);
            BenchCost after = snapshot();
            BenchCost idle = after.minus(before).per(5);
            report.put("idle_per_s", idle.values());
            for (Shape shape : shapes(store, receiver, n)) {
                out.printf("profile %s: %,d executions of %s%n", shape.name(), shape.executions(), shape.description());
                Map<Long, Object[]> stmts0 = statements ? statementCalls() : Map.of();
                BenchCost start = snapshot();
                long t0 = System.nanoTime();
                publish(producer, shape);
                await(shape.workflow().id(), shape.executions());
                double seconds = (System.nanoTime() - t0) / 1e9;
                Thread.sleep(SETTLE_MS);
                BenchCost end = snapshot();
                BenchCost per = end.minus(start).per(shape.executions());
                table.put(shape.name(), per);
                // What the same seconds would have cost idle (timer polls, the stall watch, the broker's own work)
                // is left out of the marginal cost: at small N it is a large part of the CPU figures.
                double elapsedS = seconds + SETTLE_MS / 1000.0;
                BenchCost marginal = end.minus(start).minus(idle.times(elapsedS)).per(shape.executions());
                marginalTable.put(shape.name(), marginal);
                Map<String, Object> r = new LinkedHashMap<>();
                r.put("executions", shape.executions());
                r.put("description", shape.description());
                r.put("seconds_to_finish", BenchCommand.round(seconds, 2));
                r.put("executions_per_s", BenchCommand.round(shape.executions() / seconds, 1));
                r.put("per_execution", per.values());
                r.put("marginal_per_execution", marginal.values());
                r.put("kafka_records_per_execution_by_topic", perTopic(start, end, shape.executions()));
                if (statements) {
                    r.put("top_statements_per_execution", topStatements(stmts0, statementCalls(), shape.executions()));
                }
                shapes.put(shape.name(), r);
            }
        } finally {
            receiver.close();
            observer.close();
        }
        report.put("workloads", shapes);
        List<String> lines = new ArrayList<>(BenchCost.table(table));
        lines.add("");
        lines.add("marginal: the same less what the system spends idle in as many seconds (idle_per_s x seconds)");
        lines.addAll(BenchCost.table(marginalTable));
        report.put("table", lines);
        out.println("Cost per execution (from PostgreSQL's, the broker's and the CPU's own counters):");
        lines.forEach(l -> out.println("  " + l));
        return report;
    }

    /** pg_stat_statements when it was preloaded, the observer role, and the postmaster's pid file. */
    private void prepare() throws SQLException {
        try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
            try {
                s.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
                s.executeQuery("SELECT 1 FROM pg_stat_statements LIMIT 1").close();
                statements = true;
            } catch (SQLException e) {
                out.println("  pg_stat_statements is not available (" + e.getMessage().lines().findFirst().orElse("") + "); "
                        + "statements are not counted");
            }
            s.execute("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '" + OBSERVER + "') THEN "
                    + "CREATE ROLE " + OBSERVER + " LOGIN; END IF; END $$");
            s.execute("GRANT pg_read_all_stats TO " + OBSERVER);
            s.execute("GRANT SELECT ON executions TO " + OBSERVER);
        }
        postmasterPid = postmasterPid(ds);
        observer = DriverManager.getConnection(config.get(OnceflowConfig.DB_URL), OBSERVER, "");
        observer.setAutoCommit(true);
    }

    private List<Shape> shapes(WorkflowStore store, LocalReceiver receiver, int n) throws Exception {
        List<Shape> shapes = new ArrayList<>();
        shapes.add(new Shape("w1", "3 sql nodes (one INSERT each)", store.deploy(chain("profile-w1", 3)), n, null));
        shapes.add(new Shape("waits", "sql → delay 1 s → http (local receiver) → sql", store.deploy(Workflows.parse("profile-waits.json", """
                {"id": "profile-waits", "trigger": {"type": "kafka"}, "nodes": [
                  {"type": "sql", "id": "before", "sql": "INSERT INTO bench_effects (event_key, node) VALUES (?, 'before')",
                   "params": ["event.key"], "next": "wait"},
                  {"type": "delay", "id": "wait", "ms": 1000, "next": "notify"},
                  {"type": "http", "id": "notify", "method": "POST", "url": "%s/notify", "body": {"key": "${event.key}"}, "next": "after"},
                  {"type": "sql", "id": "after", "sql": "INSERT INTO bench_effects (event_key, node) VALUES (?, 'after')",
                   "params": ["event.key"]}
                ]}""".formatted(receiver.url()).getBytes(StandardCharsets.UTF_8))), Math.max(50, n / 4), null));
        shapes.add(new Shape("ten-nodes", "10 sql nodes in a row (one INSERT each)", store.deploy(chain("profile-ten", 10)),
                Math.max(50, n / 2), null));
        ArrayNode items = Json.MAPPER.createArrayNode();
        for (int i = 0; i < 100; i++) {
            items.add(i);
        }
        shapes.add(new Shape("loop-100", "a loop over 100 items, one INSERT per iteration, then end", store.deploy(Workflows.parse(
                "profile-loop.json", """
                {"id": "profile-loop", "trigger": {"type": "kafka"}, "start": "each", "nodes": [
                  {"type": "loop", "id": "each", "items": "trigger.items", "do": "book", "maxItems": 100, "next": "done"},
                  {"type": "sql", "id": "book", "sql": "INSERT INTO bench_effects (event_key, node) VALUES (?, 'book')",
                   "params": ["event.key"]},
                  {"type": "end", "id": "done"}
                ]}""".getBytes(StandardCharsets.UTF_8))), Math.max(10, n / 20), items));
        return shapes;
    }

    /** {@code count} sql nodes in a row, each one INSERT into bench_effects. */
    static Workflow chain(String id, int count) throws dev.onceflow.common.workflow.DefinitionException {
        StringBuilder nodes = new StringBuilder();
        for (int i = 0; i < count; i++) {
            nodes.append(i == 0 ? "" : ",\n").append("{\"type\": \"sql\", \"id\": \"n").append(i)
                    .append("\", \"sql\": \"INSERT INTO bench_effects (event_key, node) VALUES (?, 'n").append(i)
                    .append("')\", \"params\": [\"event.key\"]").append(i + 1 < count ? ", \"next\": \"n" + (i + 1) + "\"" : "").append("}");
        }
        String json = "{\"id\": \"" + id + "\", \"trigger\": {\"type\": \"kafka\"}, \"nodes\": [\n" + nodes + "\n]}";
        return Workflows.parse(id + ".json", json.getBytes(StandardCharsets.UTF_8));
    }

    private void publish(KafkaProducer<byte[], byte[]> producer, Shape shape) {
        for (int i = 0; i < shape.executions(); i++) {
            String id = "p" + i;
            ObjectNode data = Json.MAPPER.createObjectNode().put("n", i);
            if (shape.items() != null) {
                data.set("items", shape.items());
            }
            byte[] value = new TriggerRecord(shape.workflow().id(), id, Instant.ofEpochMilli(3_000_000 + i), data).toBytes();
            producer.send(new ProducerRecord<>(Topics.TRIGGERS, id.getBytes(StandardCharsets.UTF_8), value));
        }
        producer.flush();
    }

    private void await(String workflow, int n) throws Exception {
        long last = -1;
        long lastChange = System.currentTimeMillis();
        while (true) {
            Thread.sleep(500);
            long finished;
            try (Statement s = observer.createStatement();
                 ResultSet rs = s.executeQuery("SELECT count(*) FROM executions WHERE workflow_id = '" + workflow
                         + "' AND finished_at IS NOT NULL")) {
                observerStatements++;
                rs.next();
                finished = rs.getLong(1);
            }
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

    /** Every counter, now. */
    BenchCost snapshot() throws Exception {
        Map<String, Double> v = new LinkedHashMap<>();
        try (Statement s = observer.createStatement()) {
            if (statements) {
                try (ResultSet rs = s.executeQuery("SELECT coalesce(sum(calls), 0), coalesce(sum(rows), 0) FROM pg_stat_statements "
                        + "WHERE userid <> (SELECT oid FROM pg_roles WHERE rolname = current_user)")) {
                    observerStatements++;
                    rs.next();
                    v.put("pg_statements", rs.getDouble(1));
                    v.put("pg_rows", rs.getDouble(2));
                }
            }
            // Commits of the database, less this observer's own (each autocommit statement is one).
            try (ResultSet rs = s.executeQuery("SELECT xact_commit, tup_inserted + tup_updated + tup_deleted FROM pg_stat_database "
                    + "WHERE datname = current_database()")) {
                observerStatements++;
                rs.next();
                v.put("pg_commits", rs.getDouble(1) - observerStatements);
                v.put("pg_tup_written", rs.getDouble(2));
            }
            try (ResultSet rs = s.executeQuery("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0'), "
                    + "(SELECT wal_records FROM pg_stat_wal)")) {
                observerStatements++;
                rs.next();
                v.put("pg_wal_bytes", rs.getDouble(1));
                v.put("pg_wal_records", rs.getDouble(2));
            }
        }
        Map<String, double[]> topics = brokerTopics();
        if (!topics.isEmpty()) { // none without a broker in this JVM (bench --brokers 3): absent, not zero
            v.put("kafka_records", topics.values().stream().mapToDouble(x -> x[0]).sum());
            v.put("kafka_bytes", topics.values().stream().mapToDouble(x -> x[1]).sum());
            v.put("kafka_transactions", requestCount("EndTxn"));
            topics.forEach((t, x) -> v.put("kafka_records." + t, x[0]));
        }
        cpu(v);
        return new BenchCost(v);
    }

    private void cpu(Map<String, Double> v) {
        v.putAll(cpuMs(engine.name(), config, postmasterPid));
    }

    /**
     * CPU milliseconds so far of the engine's, the dispatcher's and the broker's threads in this JVM,
     * of the PostgreSQL server ({@code postmasterPid}: its pid file), and of the rest of this JVM.
     */
    static Map<String, Double> cpuMs(String engineName, OnceflowConfig config, Path postmasterPid) {
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        String group = config.get(OnceflowConfig.ENGINE_GROUP);
        String appId = config.get(OnceflowConfig.DISPATCHER_APP_ID);
        double engineMs = 0;
        double dispatcherMs = 0;
        double brokerMs = 0;
        double benchMs = 0;
        int brokerThreads = 0;
        for (ThreadInfo t : threads.getThreadInfo(threads.getAllThreadIds())) {
            if (t == null) {
                continue;
            }
            long ns = threads.getThreadCpuTime(t.getThreadId());
            if (ns < 0) {
                continue;
            }
            switch (ThreadRole.of(t.getThreadName(), engineName, group, appId)) {
                case ENGINE -> engineMs += ns / 1e6;
                case DISPATCHER -> dispatcherMs += ns / 1e6;
                case BROKER -> {
                    brokerMs += ns / 1e6;
                    brokerThreads++;
                }
                case BENCH -> benchMs += ns / 1e6;
                default -> { }
            }
        }
        double processMs = ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
                .getProcessCpuTime() / 1e6;
        Map<String, Double> v = new LinkedHashMap<>();
        v.put("cpu_ms_engine", engineMs);
        v.put("cpu_ms_dispatcher", dispatcherMs);
        if (brokerThreads > 0) { // none when the brokers are processes of their own (bench --brokers 3): absent, not zero
            v.put("cpu_ms_broker", brokerMs);
        }
        v.put("cpu_ms_postgres", postgresCpuMs(postmasterPid));
        // The JIT's compiler threads are not Java threads: their CPU is in the rest of the JVM. Their elapsed
        // compilation time is reported beside it as a hint, not subtracted: on a loaded machine it exceeds their CPU.
        java.lang.management.CompilationMXBean jit = ManagementFactory.getCompilationMXBean();
        double jitMs = jit != null && jit.isCompilationTimeMonitoringSupported() ? jit.getTotalCompilationTime() : 0;
        v.put("cpu_ms_bench", benchMs);
        v.put("cpu_ms_jvm_other", processMs - engineMs - dispatcherMs - brokerMs - benchMs);
        v.put("jit_elapsed_ms", jitMs);
        return v;
    }

    /** The pid file of the PostgreSQL server behind {@code ds} (asks as the data source's user, a superuser here). */
    static Path postmasterPid(DataSource ds) throws SQLException {
        try (Connection c = ds.getConnection(); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT current_setting('data_directory')")) {
            rs.next();
            return Path.of(rs.getString(1), "postmaster.pid");
        }
    }

    /** Whose CPU a thread's time is, by its name. */
    enum ThreadRole {
        ENGINE, DISPATCHER, BROKER, BENCH, OTHER;

        private static final List<String> BROKER_THREADS = List.of("kafka-request-handler", "kafka-network-thread", "data-plane",
                "TxnMarkerSender", "group-coordinator", "transaction-coordinator", "share-coordinator", "kafka-scheduler", "raft",
                "quorum", "controller", "broker-", "ExpirationReaper", "kafka-log-cleaner", "LogDirFailureHandler", "ReplicaFetcher",
                "kafka-producer-state", "executor-", "metadata-loader", "socket-server", "AlterPartition", "ForwardingManager");

        /**
         * Engine: the loop threads ({@code onceflow-<engine name>-wN}) and their clients' threads (client ids
         * start with the engine's name), the group's heartbeat thread and the engine's helpers. Dispatcher:
         * Kafka Streams' threads and clients (named after the application id) and the sources.
         */
        static ThreadRole of(String thread, String engineName, String engineGroup, String appId) {
            if (thread.contains(engineName) || thread.endsWith("| " + engineGroup) || thread.equals("onceflow-statement")
                    || thread.equals("onceflow-retention") || thread.equals("onceflow-stall-watch")) {
                return ENGINE;
            }
            if (thread.contains(appId) || thread.startsWith("onceflow-schedule-source") || thread.startsWith("onceflow-catalog-refresh")
                    || thread.startsWith("onceflow-rowchange") || thread.startsWith("onceflow-slot-watch")
                    || thread.startsWith("onceflow-figures") || thread.contains("onceflow-record-lag")) {
                return DISPATCHER;
            }
            if (thread.equals("main") || thread.startsWith("kafka-producer-network-thread | producer-")) {
                return BENCH; // the bench's publisher, its own producer and its waits
            }
            return BROKER_THREADS.stream().anyMatch(thread::contains) ? BROKER : OTHER;
        }
    }

    /** CPU ms of the postmaster (with its reaped children's) and its live children, from /proc. */
    private static double postgresCpuMs(Path postmasterPid) {
        try {
            long pid = Long.parseLong(Files.readAllLines(postmasterPid).get(0).trim());
            double ticks = procTicks(pid, true);
            try (var procs = Files.list(Path.of("/proc"))) {
                for (Path p : (Iterable<Path>) procs::iterator) {
                    String name = p.getFileName().toString();
                    if (!name.chars().allMatch(Character::isDigit)) {
                        continue;
                    }
                    long[] stat = stat(Long.parseLong(name));
                    if (stat != null && stat[0] == pid) {
                        ticks += stat[1] + stat[2];
                    }
                }
            }
            return ticks / TICKS_PER_S * 1000;
        } catch (Exception e) {
            return -1;
        }
    }

    private static double procTicks(long pid, boolean withChildren) {
        long[] s = stat(pid);
        return s == null ? 0 : s[1] + s[2] + (withChildren ? s[3] + s[4] : 0);
    }

    /** ppid, utime, stime, cutime, cstime of /proc/PID/stat, or null when the process is gone. */
    static long[] stat(long pid) {
        try {
            return parseStat(Files.readString(Path.of("/proc", String.valueOf(pid), "stat")));
        } catch (Exception e) {
            return null;
        }
    }

    /** The fields after the command name (which may hold spaces and parentheses): ppid is the 4th, utime the 14th. */
    static long[] parseStat(String stat) {
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).trim().split(" ");
        // f[0] is state (field 3); field k is f[k - 3].
        return new long[] {Long.parseLong(f[1]), Long.parseLong(f[11]), Long.parseLong(f[12]), Long.parseLong(f[13]),
                Long.parseLong(f[14])};
    }

    /** Topic → {records, bytes} appended, from the in-JVM broker's JMX counters. */
    private static Map<String, double[]> brokerTopics() throws Exception {
        MBeanServer mbs = ManagementFactory.getPlatformMBeanServer();
        Map<String, double[]> topics = new TreeMap<>();
        for (String metric : List.of("MessagesInPerSec", "BytesInPerSec")) {
            int i = metric.startsWith("Messages") ? 0 : 1;
            for (ObjectName on : mbs.queryNames(new ObjectName("kafka.server:type=BrokerTopicMetrics,name=" + metric + ",*"), null)) {
                String topic = on.getKeyProperty("topic");
                if (topic == null) {
                    continue;
                }
                topics.computeIfAbsent(topic, t -> new double[2])[i] += ((Number) mbs.getAttribute(on, "Count")).doubleValue();
            }
        }
        return topics;
    }

    /** Requests of one type the in-JVM broker handled, all versions. */
    private static double requestCount(String request) throws Exception {
        MBeanServer mbs = ManagementFactory.getPlatformMBeanServer();
        double sum = 0;
        for (ObjectName on : mbs.queryNames(new ObjectName("kafka.network:type=RequestMetrics,name=RequestsPerSec,request=" + request
                + ",*"), null)) {
            sum += ((Number) mbs.getAttribute(on, "Count")).doubleValue();
        }
        return sum;
    }

    private static Map<String, Double> perTopic(BenchCost start, BenchCost end, int n) {
        Map<String, Double> r = new TreeMap<>();
        end.minus(start).per(n).values().forEach((k, v) -> {
            if (k.startsWith("kafka_records.") && v != 0) {
                r.put(k.substring("kafka_records.".length()), v);
            }
        });
        return r;
    }

    /** queryid → {calls, rows, query text} of every statement but the observer's. */
    private Map<Long, Object[]> statementCalls() throws SQLException {
        Map<Long, Object[]> m = new LinkedHashMap<>();
        try (Statement s = observer.createStatement();
             ResultSet rs = s.executeQuery("SELECT queryid, calls, rows, query FROM pg_stat_statements "
                     + "WHERE userid <> (SELECT oid FROM pg_roles WHERE rolname = current_user) AND queryid IS NOT NULL")) {
            observerStatements++;
            while (rs.next()) {
                m.put(rs.getLong(1), new Object[] {rs.getLong(2), rs.getLong(3), rs.getString(4)});
            }
        }
        return m;
    }

    private static List<Map<String, Object>> topStatements(Map<Long, Object[]> before, Map<Long, Object[]> after, int n) {
        List<Map<String, Object>> rows = new ArrayList<>();
        after.forEach((id, a) -> {
            Object[] b = before.get(id);
            long calls = (Long) a[0] - (b == null ? 0 : (Long) b[0]);
            long rowCount = (Long) a[1] - (b == null ? 0 : (Long) b[1]);
            if (calls > 0) {
                Map<String, Object> r = new LinkedHashMap<>();
                r.put("calls", BenchCost.round((double) calls / n));
                r.put("rows", BenchCost.round((double) rowCount / n));
                String q = ((String) a[2]).replaceAll("\\s+", " ").trim();
                r.put("query", q.length() > 160 ? q.substring(0, 160) + "…" : q);
                rows.add(r);
            }
        });
        rows.sort((x, y) -> Double.compare((Double) y.get("calls"), (Double) x.get("calls")));
        return rows.subList(0, Math.min(12, rows.size()));
    }
}
