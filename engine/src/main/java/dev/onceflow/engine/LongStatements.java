package dev.onceflow.engine;

import java.sql.SQLException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The long-statement step of a worker (ADR 0021): {@code sql} nodes marked {@code long}, or that
 * overran {@code engine.sql.inline.ms} on this worker, run here, off the poll thread, each in a
 * transaction of its own ({@link RunLongStatement}) on one of {@code engine.sql.long.concurrency}
 * connections of their own. The consumer keeps polling and no partition is paused for them: a
 * long statement holds its own execution (and lane) only.
 *
 * <p>The batch that claimed a statement committed its key {@code started} and a lease timer, so
 * nothing here needs to survive the process: a statement lost with it (waiting, running, or
 * committed and its records not yet produced) comes back through its lease timer, and its runner's
 * lock on the key keeps it to one run. Statements wait in memory in claim order; one already
 * waiting or running here is not queued twice (a lease that fired while it waited). While
 * {@link #BACKLOG} wait, the worker takes no new records ({@link #backlogged()}).
 *
 * <p>Threads: {@link #queue}, {@link #done} and {@link #backlogged} are called by
 * the worker's thread only (it alone starts statements, so the bound holds without a lock); the
 * statements run on this step's threads and come back through a concurrent queue. Owned by one
 * worker for its life; {@link #close} cancels what runs and drops what is left.
 */
final class LongStatements implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(LongStatements.class);

    /** Statements waiting for a slot at which the worker takes no new records until fewer wait. */
    static final int BACKLOG = 1_000;

    /** Opens a long-statement slot's connection and its transaction step. */
    interface Opener {
        RunLongStatement open() throws SQLException;
    }

    /** A statement's end as the poll thread learns it: {@code done} null when nothing committed. */
    private record Ended(String key, RunLongStatement.Done done) {
    }

    /** One connection; opened on first use, and again after it broke. */
    private final class Slot {
        private volatile RunLongStatement run;

        RunLongStatement run() throws SQLException {
            if (run == null) {
                run = opener.open();
            }
            return run;
        }

        void drop() {
            RunLongStatement r = run;
            run = null;
            if (r != null) {
                r.close();
            }
        }
    }

    private final int concurrency;
    private final Opener opener;
    private final EngineMetrics metrics;
    private final boolean tracing;
    private final ExecutorService threads;
    private final BlockingQueue<Slot> free;
    private final List<Slot> slots = new ArrayList<>();
    private final Queue<Batch.PendingStatement> waiting = new ArrayDeque<>();
    /** Keys waiting or running here (not yet taken back by {@link #done}). */
    private final Set<String> here = new HashSet<>();
    private final Queue<Ended> ended = new ConcurrentLinkedQueue<>();
    private int running;
    private volatile boolean closed;

    LongStatements(String worker, int concurrency, Opener opener, EngineMetrics metrics, boolean tracing) {
        if (concurrency < 1) {
            throw new IllegalArgumentException("concurrency must be at least 1: " + concurrency);
        }
        this.concurrency = concurrency;
        this.opener = opener;
        this.metrics = metrics;
        this.tracing = tracing;
        this.free = new ArrayBlockingQueue<>(concurrency);
        for (int i = 0; i < concurrency; i++) {
            Slot slot = new Slot();
            slots.add(slot);
            free.add(slot);
        }
        this.threads = Executors.newFixedThreadPool(concurrency, r -> {
            Thread t = new Thread(r, worker + "-long-sql");
            t.setDaemon(true);
            return t;
        });
    }

    /** Takes statements whose claims committed; starts as many as the bound allows now. Worker thread. */
    void queue(List<Batch.PendingStatement> handed) {
        for (Batch.PendingStatement p : handed) {
            if (here.add(p.step().key())) {
                waiting.add(p);
            }
        }
        startWaiting();
    }

    /** What the statements that ended since the last call committed; starts waiting ones in their place. Worker thread. */
    List<RunLongStatement.Done> done() {
        List<RunLongStatement.Done> out = new ArrayList<>();
        for (Ended e = ended.poll(); e != null; e = ended.poll()) {
            running--;
            here.remove(e.key());
            if (e.done() != null) {
                out.add(e.done());
            }
        }
        startWaiting();
        return out;
    }

    /** Whether so many statements wait that the worker should take no new records now. Worker thread. */
    boolean backlogged() {
        return waiting.size() >= BACKLOG;
    }

    private void startWaiting() {
        while (running < concurrency && !waiting.isEmpty()) {
            Batch.PendingStatement p = waiting.poll();
            running++;
            threads.execute(() -> runOnSlot(p));
        }
    }

    /** On a step thread: never throws; whatever happens, the statement ends in {@link #ended}. */
    private void runOnSlot(Batch.PendingStatement p) {
        RunLongStatement.Done done = null;
        Slot slot = null;
        try {
            slot = free.take();
            done = runClassified(slot, p);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            if (slot != null) {
                free.add(slot);
            }
            if (!closed) {
                ended.add(new Ended(p.step().key(), done));
            }
        }
    }

    /**
     * The step's one ladder: transient failures (the database, the moment) and a stop leave the
     * statement to its lease timer; anything else fails its node with the reason.
     */
    private RunLongStatement.Done runClassified(Slot slot, Batch.PendingStatement p) {
        String what = "long statement of node '" + p.step().task().node() + "' of " + p.step().task().eventKey();
        RunLongStatement run = null;
        try {
            run = slot.run();
            RunLongStatement.Done done = run.run(p, tracing, () -> closed);
            metrics.countLongStatement();
            return done;
        } catch (Throwable e) {
            if (run != null) {
                run.rollBack();
            }
            Failures.Recovery recovery = Failures.classify(e);
            if (closed || recovery != Failures.Recovery.POISON) {
                if (!closed) {
                    LOG.warn("The {} failed ({}, {}); its lease timer delivers it again", what, recovery, Failures.describe(e));
                }
                if (run != null && !run.usable()) {
                    slot.drop();
                }
                return null;
            }
            LOG.error("The {} failed unexpectedly; failing the node: {}", what, Failures.describe(e), e);
            try {
                return run == null ? null : run.fail(p, e, tracing);
            } catch (Throwable again) {
                run.rollBack();
                LOG.warn("Could not record the failure of the {} ({}); its lease timer delivers it again", what,
                        Failures.describe(again));
                return null;
            }
        }
    }

    /** Cancels the running statements (rolled back) and drops the waiting ones; their lease timers deliver them again. */
    @Override
    public void close() {
        closed = true;
        int dropped = waiting.size() + running;
        waiting.clear();
        for (Slot slot : slots) {
            RunLongStatement r = slot.run;
            if (r != null) {
                r.cancel();
            }
        }
        threads.shutdownNow();
        for (Slot slot : slots) {
            slot.drop();
        }
        if (dropped > 0) {
            LOG.info("Dropped {} long statements not yet recorded (waiting or running); their lease timers deliver them again",
                    dropped);
        }
    }
}
