package dev.onceflow.deploy.proof;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.common.EventEnvelope;
import dev.onceflow.common.Json;
import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.common.Topics;
import dev.onceflow.common.WorkflowStore;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.deploy.LocalInfra;
import dev.onceflow.deploy.PublishCommand;
import dev.onceflow.deploy.Scripts;
import dev.onceflow.engine.Engine;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.sql.DataSource;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * {@code bench --only scaling}: w1's executions/s with 1, 2, 4 engine workers on topics of 6, 12, 24
 * partitions, and the CPU each part used meanwhile (engine, broker, PostgreSQL, in cores). Workers
 * are threads of one engine in this JVM, each with its own consumer, transactional producer and
 * connection, exactly as separate engine processes would have (separate JVMs cost 200+ MB and
 * seconds each on this 2-core machine). Events are written straight to {@value Topics#EVENTS} (the
 * engine alone, as {@code w1-engine}): the single dispatcher would otherwise cap every point.
 * Each partition count gets a fresh broker and database (topics are created at start).
 *
 * <p>Owned by {@link BenchCommand}; not thread-safe.
 */
final class BenchScaling {

    private final PrintStream out;
    private final int executions;

    BenchScaling(PrintStream out, int executions) {
        this.out = out;
        this.executions = executions;
    }

    Map<String, Object> run(List<Integer> partitionCounts, List<Integer> workerCounts) throws Exception {
        List<Map<String, Object>> points = new ArrayList<>();
        for (int partitions : partitionCounts) {
            Path dir = Files.createTempDirectory("onceflow-bench-scaling-");
            out.printf("scaling: %d partitions, fresh broker and PostgreSQL%n", partitions);
            LocalInfra infra = LocalInfra.start(dir, Map.of(OnceflowConfig.PARTITIONS.name(), String.valueOf(partitions),
                    OnceflowConfig.DISPATCHER_HTTP_PORT.name(), "-1"));
            try {
                DataSource ds = infra.dataSource();
                Scripts.run(ds, "CREATE TABLE bench_effects (id bigserial PRIMARY KEY, event_key text NOT NULL, node text NOT NULL)");
                WorkflowStore store = new WorkflowStore(ds);
                Path pid = BenchProfile.postmasterPid(ds);
                try (KafkaProducer<byte[], byte[]> producer = PublishCommand.producer(infra.config().with(Map.of(
                        "kafka.producer.linger.ms", "5", "kafka.producer.batch.size", "131072")))) {
                    for (int workers : workerCounts) {
                        points.add(point(infra.config(), ds, store, producer, pid, partitions, workers));
                    }
                }
            } finally {
                infra.close();
                try (var walk = Files.walk(dir)) {
                    walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
                }
            }
        }
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("method", "w1 (3 INSERT nodes) published straight to onceflow.events, " + executions + " executions per point after a "
                + "warm-up of " + Math.max(500, executions / 5) + "; workers are engine worker threads in one JVM (not processes); "
                + "cores = CPU time / wall time of the point, from thread CPU (engine, broker) and /proc (PostgreSQL)");
        r.put("points", points);
        return r;
    }

    private Map<String, Object> point(OnceflowConfig base, DataSource ds, WorkflowStore store, KafkaProducer<byte[], byte[]> producer,
                                      Path pid, int partitions, int workers) throws Exception {
        OnceflowConfig config = base.with(Map.of(OnceflowConfig.ENGINE_WORKERS.name(), String.valueOf(workers)));
        Workflow warm = store.deploy(BenchProfile.chain("scale-warm-p" + partitions + "-w" + workers, 3));
        Workflow wf = store.deploy(BenchProfile.chain("scale-p" + partitions + "-w" + workers, 3));
        try (Engine engine = new Engine(config, ds)) {
            engine.start();
            int warmN = Math.max(500, executions / 5);
            publish(producer, warm, warmN);
            await(ds, warm.id(), warmN);
            Map<String, Double> cpu0 = BenchProfile.cpuMs(engine.name(), config, pid);
            long t0 = System.nanoTime();
            publish(producer, wf, executions);
            await(ds, wf.id(), executions);
            double wallMs = (System.nanoTime() - t0) / 1e6;
            Map<String, Double> cpu1 = BenchProfile.cpuMs(engine.name(), config, pid);
            double rate = rate(ds, wf.id());
            Map<String, Object> p = new LinkedHashMap<>();
            p.put("partitions", partitions);
            p.put("workers", workers);
            p.put("executions_per_s", rate);
            Map<String, Object> cores = new LinkedHashMap<>();
            cpu1.forEach((k, v) -> {
                if (k.startsWith("cpu_ms_")) {
                    cores.put(k.substring("cpu_ms_".length()), BenchCommand.round((v - cpu0.get(k)) / wallMs, 2));
                }
            });
            p.put("cores", cores);
            double engineCores = ((Number) cores.get("engine")).doubleValue();
            p.put("executions_per_engine_core_s", engineCores > 0 ? BenchCommand.round(rate / engineCores, 0) : null);
            p.put("load_average", loadAverage());
            out.printf("  %2d partitions, %d workers: %,.0f executions/s; cores: %s; load %s%n", partitions, workers, rate, cores,
                    p.get("load_average"));
            return p;
        }
    }

    private static void publish(KafkaProducer<byte[], byte[]> producer, Workflow wf, int n) {
        for (int i = 0; i < n; i++) {
            long time = 4_000_000 + i;
            String key = wf.id() + "@" + time + "#s" + i;
            ObjectNode data = Json.MAPPER.createObjectNode().put("n", i);
            byte[] event = Json.bytes(new EventEnvelope(key, wf.id(), wf.version(), time, data, "bench", System.currentTimeMillis()));
            producer.send(new ProducerRecord<>(Topics.EVENTS, key.getBytes(StandardCharsets.UTF_8), event));
        }
        producer.flush();
    }

    private static void await(DataSource ds, String workflow, int n) throws Exception {
        long last = -1;
        long lastChange = System.currentTimeMillis();
        while (true) {
            Thread.sleep(250);
            long finished;
            try (Connection c = ds.getConnection();
                 PreparedStatement q = c.prepareStatement("SELECT count(*) FROM executions WHERE workflow_id = ? AND finished_at IS NOT NULL")) {
                q.setString(1, workflow);
                try (ResultSet rs = q.executeQuery()) {
                    rs.next();
                    finished = rs.getLong(1);
                }
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

    /** Executions over first publish to last finish, as the bench's w1 figure. */
    private static double rate(DataSource ds, String workflow) throws Exception {
        try (Connection c = ds.getConnection();
             PreparedStatement q = c.prepareStatement("SELECT count(*), extract(epoch FROM max(finished_at) - min(published_at)) "
                     + "FROM executions WHERE workflow_id = ?")) {
            q.setString(1, workflow);
            try (ResultSet rs = q.executeQuery()) {
                rs.next();
                return BenchCommand.round(rs.getLong(1) / rs.getDouble(2), 1);
            }
        }
    }

    /** The 1-minute load average, as /proc/loadavg says (null off Linux). */
    static Double loadAverage() {
        try {
            return Double.parseDouble(Files.readString(Path.of("/proc/loadavg")).split(" ")[0]);
        } catch (Exception e) {
            return null;
        }
    }
}
