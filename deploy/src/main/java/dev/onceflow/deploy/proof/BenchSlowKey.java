package dev.onceflow.deploy.proof;

import com.sun.net.httpserver.HttpServer;
import dev.onceflow.common.Json;
import dev.onceflow.common.Topics;
import dev.onceflow.common.TriggerRecord;
import dev.onceflow.common.WorkflowStore;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.common.workflow.Workflows;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import javax.sql.DataSource;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * The {@code slow-key} workload of {@code onceflow bench} (issue 19): one workflow of one {@code http}
 * node against an endpoint served by the bench process. The calls of one "slow" key are answered
 * after {@value #SLOW_ANSWER_MS} ms (by default; 0 makes a control run), every other call at once.
 * Events of {@value #OTHER_KEYS} other keys are published at a steady rate while the slow key gets
 * one every {@value #SLOW_EVERY_MS} ms, so a slow call is nearly always in flight. The figure is the latency (trigger record timestamp →
 * {@code executions.finished_at}) of the other, unaffected keys' executions: with the engine
 * scheduling by key, a slow call holds only its own key's lane, and their p99 stays under 1 s.
 *
 * <p>Trigger records are keyed by their entity key ({@code slow}, {@code k0} … {@code k999}), so that
 * an ordering key taken from the record key puts one key's events in one lane; each event has its
 * own id ({@code k17-3}: key {@code k17}, its 4th event), so each is its own execution.
 */
final class BenchSlowKey {

    static final String WORKFLOW = "bench-slow-key";
    static final String SLOW_KEY = "slow";
    static final int OTHER_KEYS = 1_000;
    static final long SLOW_ANSWER_MS = 5_000;
    static final long SLOW_EVERY_MS = 4_000;
    /** The latency the unaffected keys' p99 should stay under once the engine schedules by key (issue 19). */
    static final long UNAFFECTED_P99_GOAL_MS = 1_000;
    /** Seconds of the warm-up before the measured run: the other keys alone, at the same rate. */
    static final int WARMUP_SECONDS = 10;

    /** One trigger record to publish {@code atMs} after the start. */
    record Publication(long atMs, String key, String id) {
    }

    /** One finished (or not yet finished: {@code finishedMs} &lt; 0) execution of the workload. */
    record Sample(String key, long publishedMs, long finishedMs, String status) {
    }

    private final DataSource ds;
    private final PrintStream out;
    private final long slowAnswerMs;

    BenchSlowKey(DataSource ds, PrintStream out, long slowAnswerMs) {
        this.ds = ds;
        this.out = out;
        this.slowAnswerMs = slowAnswerMs;
    }

    /**
     * The publications of a run of {@code seconds}, in time order: the other keys round-robin at
     * {@code otherRatePerS} (key {@code k(i mod otherKeys)}), and the slow key every {@code slowEveryMs}
     * from the start (first on a tie).
     */
    static List<Publication> schedule(int seconds, double otherRatePerS, int otherKeys, long slowEveryMs) {
        List<Publication> all = new ArrayList<>();
        long endMs = seconds * 1000L;
        for (int j = 0; j * slowEveryMs < endMs; j++) {
            all.add(new Publication(j * slowEveryMs, SLOW_KEY, SLOW_KEY + "-" + j));
        }
        for (int i = 0; ; i++) {
            long at = Math.round(i * 1000.0 / otherRatePerS);
            if (at >= endMs) {
                break;
            }
            String key = "k" + (i % otherKeys);
            all.add(new Publication(at, key, key + "-" + (i / otherKeys)));
        }
        all.sort(Comparator.comparingLong(Publication::atMs)); // stable: the slow key's first on a tie
        return all;
    }

    /** The entity key of an event key {@code workflow@time#key-seq}. */
    static String keyOf(String eventKey) {
        String id = eventKey.substring(eventKey.lastIndexOf('#') + 1);
        int dash = id.lastIndexOf('-');
        return dash < 0 ? id : id.substring(0, dash);
    }

    /**
     * Runs the workload against the started dispatcher and engine and reports its figures. First a
     * warm-up of {@value #WARMUP_SECONDS} s of the other keys alone, to its own workflow, so that
     * the engine's http path is warm when the measured run starts.
     */
    Map<String, Object> run(WorkflowStore store, KafkaProducer<byte[], byte[]> producer, int seconds, double otherRatePerS)
            throws Exception {
        try (Endpoint endpoint = Endpoint.start(slowAnswerMs)) {
            Workflow warmup = deploy(store, WORKFLOW + "-warmup", endpoint);
            List<Publication> warmupPlan = schedule(WARMUP_SECONDS, otherRatePerS, OTHER_KEYS, SLOW_EVERY_MS).stream()
                    .filter(p -> !p.key().equals(SLOW_KEY)).toList();
            out.printf("slow-key warm-up: %,d events of the other keys at %.0f/s, all answered at once%n", warmupPlan.size(), otherRatePerS);
            publishAndAwait(producer, warmup, warmupPlan, endpoint, 60_000);

            Workflow wf = deploy(store, WORKFLOW, endpoint);
            List<Publication> plan = schedule(seconds, otherRatePerS, OTHER_KEYS, SLOW_EVERY_MS);
            long slowPublished = plan.stream().filter(p -> p.key().equals(SLOW_KEY)).count();
            out.printf("slow-key: %,d events of %,d keys at %.0f/s and %d of key '%s' (answered after %d ms, one every %d ms), for %d s%n",
                    plan.size() - slowPublished, OTHER_KEYS, otherRatePerS, slowPublished, SLOW_KEY, slowAnswerMs,
                    SLOW_EVERY_MS, seconds);
            long fast0 = endpoint.fast.get();
            // The slow key's events may queue behind one another (one lane, 5 s each): give them their time.
            publishAndAwait(producer, wf, plan, endpoint, slowPublished * slowAnswerMs + 60_000);
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("seconds", seconds);
            r.put("warmup_seconds", WARMUP_SECONDS);
            r.put("order", wf.effectiveOrder());
            r.put("other_keys", OTHER_KEYS);
            r.put("other_rate_per_s", otherRatePerS);
            r.put("slow_answer_ms", slowAnswerMs);
            r.put("slow_every_ms", SLOW_EVERY_MS);
            r.putAll(figures(samples(wf.id()), plan.size() - (int) slowPublished, (int) slowPublished));
            Map<String, Object> calls = new LinkedHashMap<>();
            calls.put("other", endpoint.fast.get() - fast0);
            calls.put("slow", endpoint.slow.get());
            r.put("calls_answered", calls);
            return r;
        }
    }

    private static Workflow deploy(WorkflowStore store, String id, Endpoint endpoint) throws Exception {
        return store.deploy(Workflows.parse(id + ".json", """
                {"id": "%s", "order": "key", "trigger": {"type": "kafka"}, "nodes": [
                  {"type": "http", "id": "call", "method": "POST", "url": "%s/key/${trigger.k}",
                   "timeoutMs": 15000, "body": {"k": "${trigger.k}"}}
                ]}""".formatted(id, endpoint.url()).getBytes(StandardCharsets.UTF_8)));
    }

    /**
     * Publishes the plan on its schedule, each record keyed by its entity key, then waits until its
     * executions finished or {@code graceMs} passed after the last publication.
     */
    private void publishAndAwait(KafkaProducer<byte[], byte[]> producer, Workflow wf, List<Publication> plan, Endpoint endpoint,
                                 long graceMs) throws Exception {
        long start = System.nanoTime();
        int i = 0;
        for (Publication p : plan) {
            long wait = start + p.atMs() * 1_000_000 - System.nanoTime();
            if (wait > 0) {
                TimeUnit.NANOSECONDS.sleep(wait);
            }
            byte[] value = new TriggerRecord(wf.id(), p.id(), null,
                    Json.MAPPER.createObjectNode().put("k", p.key()).put("n", i++)).toBytes();
            producer.send(new ProducerRecord<>(Topics.TRIGGERS, null, System.currentTimeMillis(),
                    p.key().getBytes(StandardCharsets.UTF_8), value));
            if (i % 1000 == 0) {
                out.printf("  [%3ds] %s: %,d/%,d published, %,d finished; calls answered: %,d other, %,d slow%n",
                        (System.nanoTime() - start) / 1_000_000_000, wf.id(), i, plan.size(), finished(wf.id()), endpoint.fast.get(),
                        endpoint.slow.get());
            }
        }
        producer.flush();
        long deadline = System.currentTimeMillis() + graceMs;
        long done;
        while ((done = finished(wf.id())) < plan.size() && System.currentTimeMillis() < deadline) {
            out.printf("  [%3ds] %s: %,d/%,d finished; calls answered: %,d other, %,d slow%n",
                    (System.nanoTime() - start) / 1_000_000_000, wf.id(), done, plan.size(), endpoint.fast.get(), endpoint.slow.get());
            Thread.sleep(1000);
        }
    }

    /**
     * The workload's figures from its executions: latency percentiles (ms, nearest rank) of the
     * unaffected keys' finished executions and of the slow key's, the counts, and a timeline of the
     * unaffected keys' executions by the second they finished in (from the first publication).
     */
    static Map<String, Object> figures(List<Sample> samples, int otherPublished, int slowPublished) {
        List<Sample> other = samples.stream().filter(s -> !s.key().equals(SLOW_KEY)).toList();
        List<Sample> slow = samples.stream().filter(s -> s.key().equals(SLOW_KEY)).toList();
        Map<String, Object> r = new LinkedHashMap<>();
        Map<String, Object> unaffected = group(other, otherPublished);
        long over = other.stream().filter(s -> s.finishedMs() >= 0 && s.finishedMs() - s.publishedMs() > UNAFFECTED_P99_GOAL_MS).count();
        unaffected.put("over_1s", over);
        r.put("unaffected", unaffected);
        r.put("slow_key", group(slow, slowPublished));
        Object p99 = ((Map<?, ?>) unaffected.get("latency_ms")).get("p99");
        r.put("unaffected_p99_under_1s", p99 != null && ((Number) p99).longValue() < UNAFFECTED_P99_GOAL_MS);
        r.put("timeline", timeline(other));
        return r;
    }

    private static Map<String, Object> group(List<Sample> samples, int published) {
        List<Sample> done = samples.stream().filter(s -> s.finishedMs() >= 0).toList();
        Map<String, Object> g = new LinkedHashMap<>();
        g.put("published", published);
        g.put("finished", done.size());
        g.put("failed", done.stream().filter(s -> !"succeeded".equals(s.status())).count());
        g.put("latency_ms", BenchLatency.percentiles(done.stream().mapToLong(s -> s.finishedMs() - s.publishedMs()).toArray()));
        return g;
    }

    /** Per second of finishing: executions, and their p50 and p99 latency (ms); seconds from the first publication. */
    static List<Map<String, Object>> timeline(List<Sample> samples) {
        long t0 = samples.stream().mapToLong(Sample::publishedMs).min().orElse(0);
        TreeMap<Long, List<Long>> bySecond = new TreeMap<>();
        for (Sample s : samples) {
            if (s.finishedMs() >= 0) {
                bySecond.computeIfAbsent((s.finishedMs() - t0) / 1000, k -> new ArrayList<>()).add(s.finishedMs() - s.publishedMs());
            }
        }
        List<Map<String, Object>> timeline = new ArrayList<>();
        bySecond.forEach((second, latencies) -> {
            Map<String, Object> p = BenchLatency.percentiles(latencies.stream().mapToLong(Long::longValue).toArray());
            Map<String, Object> point = new LinkedHashMap<>();
            point.put("t_s", second);
            point.put("executions", latencies.size());
            point.put("latency_p50_ms", p.get("p50"));
            point.put("latency_p99_ms", p.get("p99"));
            timeline.add(point);
        });
        return timeline;
    }

    private long finished(String workflow) throws SQLException {
        try (Connection c = ds.getConnection();
             PreparedStatement q = c.prepareStatement("SELECT count(*) FROM executions WHERE workflow_id = ? AND finished_at IS NOT NULL")) {
            q.setString(1, workflow);
            try (ResultSet rs = q.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    private List<Sample> samples(String workflow) throws SQLException {
        List<Sample> samples = new ArrayList<>();
        try (Connection c = ds.getConnection();
             PreparedStatement q = c.prepareStatement("SELECT event_key, (extract(epoch FROM published_at) * 1000)::bigint, "
                     + "coalesce((extract(epoch FROM finished_at) * 1000)::bigint, -1), status FROM executions WHERE workflow_id = ?")) {
            q.setString(1, workflow);
            try (ResultSet rs = q.executeQuery()) {
                while (rs.next()) {
                    samples.add(new Sample(keyOf(rs.getString(1)), rs.getLong(2), rs.getLong(3), rs.getString(4)));
                }
            }
        }
        return samples;
    }

    /**
     * The endpoint: {@code POST /key/<key>} answers 200 {@code {"ok": true}}, after
     * {@code slowAnswerMs} for the slow key. A thread per call in flight, so a slow call never
     * holds up another.
     */
    static final class Endpoint implements AutoCloseable {
        private final long slowAnswerMs;
        private final HttpServer server;
        private final ExecutorService threads;
        final AtomicLong fast = new AtomicLong();
        final AtomicLong slow = new AtomicLong();

        private Endpoint(long slowAnswerMs) throws IOException {
            this.slowAnswerMs = slowAnswerMs;
            server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 1024);
            server.createContext("/key/", exchange -> {
                try (exchange) {
                    exchange.getRequestBody().readAllBytes();
                    String path = exchange.getRequestURI().getPath();
                    if (path.substring("/key/".length()).equals(SLOW_KEY)) {
                        try {
                            Thread.sleep(this.slowAnswerMs);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                            return;
                        }
                        slow.incrementAndGet();
                    } else {
                        fast.incrementAndGet();
                    }
                    byte[] body = "{\"ok\": true}".getBytes(StandardCharsets.UTF_8);
                    exchange.getResponseHeaders().add("Content-Type", "application/json");
                    exchange.sendResponseHeaders(200, body.length);
                    exchange.getResponseBody().write(body);
                }
            });
            threads = Executors.newCachedThreadPool(r -> {
                Thread t = new Thread(r, "bench-slow-key-endpoint");
                t.setDaemon(true);
                return t;
            });
            server.setExecutor(threads);
            server.start();
        }

        static Endpoint start(long slowAnswerMs) throws IOException {
            return new Endpoint(slowAnswerMs);
        }

        String url() {
            return "http://127.0.0.1:" + server.getAddress().getPort();
        }

        @Override
        public void close() {
            server.stop(0);
            threads.shutdownNow();
        }
    }
}
