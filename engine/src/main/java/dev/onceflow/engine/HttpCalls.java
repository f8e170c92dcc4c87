package dev.onceflow.engine;

import java.net.http.HttpClient;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The http step of a worker (design, "HTTP"; ADR 0021): the calls claimed by committed
 * transactions are made here, off the poll thread, at most {@code engine.http.concurrency} at a
 * time; the rest wait in memory, in claim order. Their claims and lease timers are already
 * durable, so nothing here needs to survive the process: a call lost with it (waiting, in flight,
 * or answered and not yet recorded) comes back through its lease timer, and its key's
 * {@code onUnknownOutcome} decides.
 *
 * <p>A call that waited here past half of its lease's grace ({@code engine.lease.grace.ms})
 * is not made: its answer might come after the lease ran out and a redelivery decided for it. Its
 * lease timer delivers it instead.
 *
 * <p>Threads: {@link #queue} and {@link #answered} are called by the worker's thread only (it
 * alone starts calls, so the bound holds without a lock); answers arrive on the http client's
 * threads through a concurrent queue. Owned by one worker for its life; {@link #close} drops what
 * is left.
 */
final class HttpCalls implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(HttpCalls.class);

    /** The longest a call waits here before it is left to its lease timer, under the default lease grace. */
    static final long MAX_WAIT_MS = ApplyOutcome.DEFAULT_LEASE_GRACE_MS / 2;

    private record Waiting(Batch.PendingCall call, long queuedAtMs) {
    }

    private final int concurrency;
    /** The longest a call waits here before it is left to its lease timer: half the lease's grace. */
    private final long maxWaitMs;
    /** A call waiting this long means the worker claims calls faster than it can make them: {@link #backlogged()}. */
    private final long backlogMs;
    private final Clock clock;
    private final EngineMetrics metrics;
    private final ExecutionTraces traces;
    private final Queue<Waiting> waiting = new ArrayDeque<>();
    private final AtomicInteger inFlight = new AtomicInteger();
    private final Queue<BatchPipeline.CallResult> answers = new ConcurrentLinkedQueue<>();
    private HttpClient client;
    private volatile boolean closed;

    HttpCalls(int concurrency, Clock clock, EngineMetrics metrics, ExecutionTraces traces) {
        this(concurrency, MAX_WAIT_MS, clock, metrics, traces);
    }

    /** @param maxWaitMs the longest a call waits for a slot before it is left to its lease timer (half its grace) */
    HttpCalls(int concurrency, long maxWaitMs, Clock clock, EngineMetrics metrics, ExecutionTraces traces) {
        if (concurrency < 1) {
            throw new IllegalArgumentException("concurrency must be at least 1: " + concurrency);
        }
        this.concurrency = concurrency;
        this.maxWaitMs = maxWaitMs;
        this.backlogMs = maxWaitMs / 3;
        this.clock = clock;
        this.metrics = metrics;
        this.traces = traces;
    }

    /** Takes calls whose claims committed; makes as many as the bound allows now. Worker thread. */
    void queue(List<Batch.PendingCall> calls) {
        long now = clock.millis();
        for (Batch.PendingCall call : calls) {
            waiting.add(new Waiting(call, now));
        }
        startWaiting();
    }

    /** The calls answered since the last call, in no particular order; makes waiting ones in their place. Worker thread. */
    List<BatchPipeline.CallResult> answered() {
        List<BatchPipeline.CallResult> out = new ArrayList<>();
        for (BatchPipeline.CallResult r = answers.poll(); r != null; r = answers.poll()) {
            out.add(r);
        }
        startWaiting();
        return out;
    }

    /** Whether nothing waits, runs or waits to be recorded: the worker may poll at its idle pace. */
    boolean idle() {
        return waiting.isEmpty() && inFlight.get() == 0 && answers.isEmpty();
    }

    int inFlight() {
        return inFlight.get();
    }

    /**
     * Whether the oldest waiting call has waited a third of its longest wait: the worker should take no new
     * work until it has not, or calls would wait past that longest wait and be left to their
     * leases (an {@code onUnknownOutcome: fail} node would then fail without having been called).
     * Worker thread.
     */
    boolean backlogged() {
        Waiting oldest = waiting.peek();
        return oldest != null && clock.millis() - oldest.queuedAtMs() >= backlogMs;
    }

    private void startWaiting() {
        List<Batch.PendingCall> stale = new ArrayList<>();
        int started = 0;
        while (inFlight.get() < concurrency && !waiting.isEmpty()) {
            Waiting w = waiting.poll();
            if (clock.millis() - w.queuedAtMs() > maxWaitMs) {
                stale.add(w.call());
                continue;
            }
            send(w.call());
            started++;
        }
        if (started > 0) {
            metrics.countHttpCalls(started);
        }
        if (!stale.isEmpty()) {
            LOG.warn("{} http calls waited over {} ms for one of {} slots (engine.http.concurrency) and are not made now; "
                    + "their lease timers deliver them again", stale.size(), maxWaitMs, concurrency);
        }
    }

    private void send(Batch.PendingCall call) {
        if (client == null) {
            client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10))
                    .followRedirects(HttpClient.Redirect.NEVER).build();
        }
        inFlight.incrementAndGet();
        long sent = System.nanoTime();
        HttpCall.send(client, call.request(), call.idempotencyKey(), call.node().id(), traces.callHeader(call.step().task()))
                .whenComplete((result, never) -> {
                    // The future never fails: a failed call is a Failed result.
                    if (!closed) {
                        answers.add(new BatchPipeline.CallResult(call, result, System.nanoTime() - sent));
                    }
                    inFlight.decrementAndGet();
                });
    }

    /** Drops the waiting calls and the answers not yet taken; their lease timers deliver them again. */
    @Override
    public void close() {
        closed = true;
        int dropped = waiting.size() + inFlight.get() + answers.size();
        waiting.clear();
        answers.clear();
        if (dropped > 0) {
            LOG.info("Dropped {} http calls not yet recorded (waiting, in flight or answered); their lease timers deliver them again",
                    dropped);
        }
    }
}
