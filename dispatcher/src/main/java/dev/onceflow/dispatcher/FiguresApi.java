package dev.onceflow.dispatcher;

import dev.onceflow.common.executions.ExecutionRecords;
import dev.onceflow.common.http.RoleServer;
import dev.onceflow.common.metrics.AbsorbedDuplicatesReport;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code GET /api/figures?minutes=N} (1–60, default 60): the console's charts, in buckets of
 * {@value #STEP_SECONDS} s (ADR 0017). Per bucket: executions finished by status and the latency
 * percentiles of {@code finished_at - published_at} of those that succeeded or failed, read from
 * {@code executions}; and the duplicates absorbed by each layer in the bucket, from samples of the
 * fleet's sums in {@code absorbed_duplicates} taken every {@link #SAMPLE_EVERY} into a ring of the
 * last hour. Settled execution buckets (ended {@link #SETTLE} ago) are kept, so a polling console
 * makes the database read about a minute of executions per call.
 *
 * <p>Thread-safe: the sampler runs on its own daemon thread; the caches are guarded by this
 * object's lock. Owned by its {@link Dispatcher}, which closes it.
 */
final class FiguresApi implements AutoCloseable {

    static final String PATH = "/api/figures";
    static final int STEP_SECONDS = 10;
    static final int MAX_MINUTES = 60;
    static final Duration SAMPLE_EVERY = Duration.ofSeconds(10);
    /** A bucket this long past its end is not read again. */
    static final Duration SETTLE = Duration.ofSeconds(60);
    private static final int RING = MAX_MINUTES * 60 / (int) SAMPLE_EVERY.toSeconds() + 2;
    private static final Logger LOG = LoggerFactory.getLogger(FiguresApi.class);

    /** The fleet's cumulative absorbed duplicates by layer at one moment. */
    record Sample(long atMs, Map<String, Long> sums) {
    }

    /** One bucket of finished executions; latencies in ms, null when none finished with a publication time. */

    private final DataSource db;
    private final ExecutionRecords records;
    private final Clock clock;
    private final ScheduledExecutorService sampler;
    private final ArrayDeque<Sample> samples = new ArrayDeque<>();
    /** Settled buckets by start (epoch s); a bucket in [coveredFrom, coveredUntil) that is absent had no executions. */
    private final TreeMap<Long, ExecutionRecords.FinishedBucket> settled = new TreeMap<>();
    private long coveredFrom;
    private long coveredUntil;

    FiguresApi(DataSource db, Clock clock) {
        this.db = db;
        this.records = new ExecutionRecords(db);
        this.clock = clock;
        this.sampler = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "onceflow-figures-sampler");
            t.setDaemon(true);
            return t;
        });
    }

    FiguresApi start() {
        sampler.scheduleWithFixedDelay(this::sampleSafely, 0, SAMPLE_EVERY.toMillis(), TimeUnit.MILLISECONDS);
        return this;
    }

    void routes(RoutesConfig r) {
        r.get(PATH, this::show);
    }

    /** The endpoints {@link #routes} registers, as {@code "METHOD /path"}. */
    static List<String> endpoints() {
        return List.of("GET " + PATH);
    }

    private void sampleSafely() {
        try {
            Map<String, Long> sums = AbsorbedDuplicatesReport.sums(db);
            synchronized (this) {
                samples.addLast(new Sample(clock.millis(), sums));
                while (samples.size() > RING) {
                    samples.removeFirst();
                }
            }
        } catch (SQLException | RuntimeException e) {
            LOG.debug("Figures: cannot sample absorbed duplicates: {}", e.getMessage());
        }
    }

    private void show(Context ctx) throws SQLException {
        int minutes = AdminApi.intParam(ctx, "minutes", MAX_MINUTES, 1, MAX_MINUTES);
        long now = clock.instant().getEpochSecond();
        long to = bucketOf(now) + STEP_SECONDS;
        long from = to - minutes * 60L;
        Map<Long, ExecutionRecords.FinishedBucket> executions = executions(from, to, now);
        List<Map<String, Object>> buckets = new ArrayList<>();
        List<Sample> ring;
        synchronized (this) {
            ring = List.copyOf(samples);
        }
        for (long t = from; t < to; t += STEP_SECONDS) {
            Map<String, Object> b = new LinkedHashMap<>();
            b.put("t", t);
            ExecutionRecords.FinishedBucket e = executions.getOrDefault(t, ExecutionRecords.FinishedBucket.NONE);
            b.put("succeeded", e.succeeded());
            b.put("failed", e.failed());
            b.put("cancelled", e.cancelled());
            if (e.p50() != null) {
                b.put("latencyMs", Map.of("p50", e.p50(), "p95", e.p95(), "p99", e.p99(), "max", e.max()));
            }
            Map<String, Long> d = absorbedIn(ring, t * 1000, (t + STEP_SECONDS) * 1000);
            if (d != null) {
                b.put("duplicates", d);
            }
            buckets.add(b);
        }
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("stepSeconds", STEP_SECONDS);
        body.put("from", Instant.ofEpochSecond(from).toString());
        body.put("to", Instant.ofEpochSecond(to).toString());
        body.put("buckets", buckets);
        body.put("duplicatesTotal", ring.isEmpty() ? null : ring.get(ring.size() - 1).sums());
        body.put("duplicatesSampledSince", ring.isEmpty() ? null : Instant.ofEpochMilli(ring.get(0).atMs()).toString());
        RoleServer.json(ctx, 200, body);
    }

    static long bucketOf(long epochSecond) {
        return Math.floorDiv(epochSecond, STEP_SECONDS) * STEP_SECONDS;
    }

    /**
     * Absorbed per layer between two moments: the last sample at or before {@code toMs} minus the
     * last at or before {@code fromMs}; null when the ring does not reach back to {@code fromMs}.
     */
    static Map<String, Long> absorbedIn(List<Sample> ring, long fromMs, long toMs) {
        Sample before = null;
        Sample until = null;
        for (Sample s : ring) {
            if (s.atMs() <= fromMs) {
                before = s;
            }
            if (s.atMs() <= toMs) {
                until = s;
            }
        }
        if (before == null || until == null) {
            return null;
        }
        Map<String, Long> d = new LinkedHashMap<>();
        for (String layer : AbsorbedDuplicatesReport.LAYERS) {
            d.put(layer, Math.max(0, until.sums().getOrDefault(layer, 0L) - before.sums().getOrDefault(layer, 0L)));
        }
        return d;
    }

    /** The buckets of [from, to) with executions: the settled ones kept, the rest read now. */
    private synchronized Map<Long, ExecutionRecords.FinishedBucket> executions(long from, long to, long now) throws SQLException {
        long readFrom = coveredUntil > coveredFrom && from >= coveredFrom ? Math.max(from, coveredUntil) : from;
        Map<Long, ExecutionRecords.FinishedBucket> read = read(readFrom, to);
        if (readFrom == from) { // nothing kept was used: start over
            settled.clear();
            coveredFrom = from;
        }
        long settledBefore = bucketOf(now - SETTLE.toSeconds());
        for (Map.Entry<Long, ExecutionRecords.FinishedBucket> e : read.entrySet()) {
            if (e.getKey() < settledBefore) {
                settled.put(e.getKey(), e.getValue());
            }
        }
        coveredUntil = Math.max(coveredUntil, Math.min(to, settledBefore));
        long oldest = to - MAX_MINUTES * 60L;
        settled.headMap(oldest).clear();
        coveredFrom = Math.max(coveredFrom, oldest);
        Map<Long, ExecutionRecords.FinishedBucket> all = new TreeMap<>(settled.subMap(from, to));
        for (Iterator<Map.Entry<Long, ExecutionRecords.FinishedBucket>> i = read.entrySet().iterator(); i.hasNext(); ) {
            Map.Entry<Long, ExecutionRecords.FinishedBucket> e = i.next();
            all.put(e.getKey(), e.getValue());
        }
        return all;
    }

    private Map<Long, ExecutionRecords.FinishedBucket> read(long from, long to) throws SQLException {
        return records.finishedPerBucket(from, to, STEP_SECONDS);
    }

    @Override
    public void close() {
        sampler.shutdownNow();
    }
}
