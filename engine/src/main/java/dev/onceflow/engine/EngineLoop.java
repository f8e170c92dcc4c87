package dev.onceflow.engine;

import dev.onceflow.common.Topics;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import javax.sql.DataSource;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One engine worker: a {@code read_committed} consumer of {@value Topics#EVENTS} and
 * {@value Topics#TASKS}, one transactional producer ({@link WorkerClients}), and one PostgreSQL
 * connection ({@link WorkerDatabase}). One loop over three kinds of work, each handed to
 * {@link TwoCommits} (PostgreSQL commit, then one Kafka transaction, then the marks that follow it):
 * <ul>
 *   <li>a poll batch ({@link BatchPipeline#apply}), whose Kafka transaction carries its offsets;</li>
 *   <li>the answers of {@code http} calls, made off this thread by {@link HttpCalls} and recorded
 *       by {@link BatchPipeline#record}: no offsets, their lease timers marked fired after;</li>
 *   <li>what long statements committed, run off this thread by {@link LongStatements} in
 *       transactions of their own: their records produced, then their lease timers marked fired
 *       (both recorded by {@link OffThreadResults});</li>
 *   <li>due timers ({@link DueTimers}): tasks produced, then the timers marked fired.</li>
 * </ul>
 * The loop polls every iteration and never pauses a partition for one call: a slow endpoint holds
 * its own executions only (ADR 0021). It pauses all of them only while calls wait for a slot for
 * too long ({@link HttpCalls#backlogged()}: back-pressure), or while {@link LongStatements#BACKLOG}
 * long statements wait for a slot.
 *
 * <p>Why the commits come in this order: the PostgreSQL commit is the durable proof that each node
 * ran (its processed key); the Kafka commit only moves the offsets and publishes follow-ups. A
 * crash between the two redelivers the batch (for a call's outcome: its lease timer delivers the
 * task again), whose nodes are found processed and whose follow-ups are produced again. A zombie
 * that lost its partitions cannot commit offsets: the group generation fences it.
 *
 * <p>Every failure is classified once ({@link Failures#classify}; {@link TwoCommits.Failed} adds
 * whether PostgreSQL had committed): transient (roll back, abort, rewind the batch to its first
 * offsets, back off; a call's outcome or a timer is left to its timer; a lost connection is
 * replaced); poison (replay the batch record by record to find the record, which gets
 * {@code engine.poison.max.attempts} tries and is then dead-lettered with the reason); fenced, or a
 * failed abort (close the clients and rejoin the group, which restarts from the committed
 * offsets). No failure of one record ends the worker: only {@link #stop()} or an interrupt does.
 * Runs on its own thread; {@link #stop()} may be called from any thread.
 */
final class EngineLoop implements Runnable {

    private static final Logger LOG = LoggerFactory.getLogger(EngineLoop.class);

    /** Poll timeout while nothing waits on this worker. */
    static final Duration IDLE_POLL = Duration.ofMillis(200);
    /** Poll timeout while calls are out or answered: their answers are recorded at about this pace. */
    static final Duration BUSY_POLL = Duration.ofMillis(10);

    enum State { CREATED, RUNNING, STOPPING, STOPPED }

    private final String name;
    private final EngineSettings settings;
    private final EngineMetrics metrics;
    private final EngineHooks hooks;
    private final ExecutionTraces traces;
    private final AtomicReference<State> state = new AtomicReference<>(State.CREATED);
    private final CountDownLatch stopped = new CountDownLatch(1);
    private final Ownership ownership;
    private final WorkerClients kafka;
    private final WorkerDatabase db;
    /** The worker's http step, for its life: calls survive a reconnect and are recorded after it. */
    private final HttpCalls calls;
    /** The worker's long-statement step, for its life, like {@link #calls}. */
    private final LongStatements statements;
    /** Records what {@link #calls} and {@link #statements} finished, on this thread. */
    private final OffThreadResults results;
    private int consecutiveFailures;

    /**
     * @param traces  the spans of what each committed PostgreSQL transaction recorded (ADR 0019)
     * @param clients makes the worker's Kafka clients (tests: Kafka's mock clients)
     */
    EngineLoop(String name, EngineSettings settings, DataSource dataSource, WorkflowCache workflows, EngineMetrics metrics,
               EngineHooks hooks, java.time.Clock clock, ExecutionTraces traces, KafkaClients clients) {
        this.name = name;
        this.settings = settings;
        this.metrics = metrics;
        this.hooks = hooks;
        this.traces = traces;
        this.ownership = new Ownership(metrics);
        this.kafka = new WorkerClients(name, settings, clients, ownership);
        NodeRunner runner = new NodeRunner(settings.sqlTimeoutMs(), clock, settings.httpAllowedHosts(), settings.sqlInlineMs(),
                settings.leaseGraceMs());
        this.db = new WorkerDatabase(name, dataSource, settings, workflows, runner, clock);
        this.calls = new HttpCalls(settings.httpConcurrency(), settings.leaseGraceMs() / 2, clock, metrics, traces);
        this.statements = new LongStatements(name, settings.sqlLongConcurrency(), db::openLongStatement, metrics, traces.on());
        this.results = new OffThreadResults(name, db, kafka, hooks, traces, metrics, calls, statements, this::rollBack);
    }

    State state() {
        return state.get();
    }

    /** Its partitions, their lag and its heartbeat, for gauges and readiness; any thread. */
    Ownership ownership() {
        return ownership;
    }

    /** The worker's one ladder for what escapes a unit of work: the clients are closed and opened again. */
    @Override
    public void run() {
        if (!state.compareAndSet(State.CREATED, State.RUNNING)) {
            throw new IllegalStateException(name + " was already started");
        }
        LOG.info("Engine worker {} starting", name);
        try {
            while (state.get() == State.RUNNING) {
                try {
                    db.store();
                    kafka.open();
                    pollLoop();
                } catch (WakeupException e) {
                    // stop() woke us up; the loop condition ends the worker
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                } catch (Throwable e) {
                    // Whatever escaped a unit of work (fenced, a broker or database outage while
                    // connecting, a failed abort, even a Java Error): the worker never ends on it.
                    Failures.Recovery recovery = Failures.classify(e);
                    if (recovery == Failures.Recovery.STOP && state.get() != State.RUNNING) {
                        break;
                    }
                    closeClients();
                    if (recovery == Failures.Recovery.REJOIN) {
                        LOG.warn("Engine worker {} was fenced ({}); closed its clients, rejoining the group", name, Failures.describe(e));
                        continue;
                    }
                    if (e instanceof Error) {
                        LOG.error("Engine worker {} caught {}; closed its clients, starting again after a back-off",
                                name, Failures.describe(e), e);
                    } else {
                        LOG.warn("Engine worker {} lost its clients ({}); reconnecting after a back-off", name, Failures.describe(e));
                    }
                    try {
                        backOff();
                    } catch (InterruptedException ie) {
                        Thread.currentThread().interrupt();
                        break;
                    }
                }
            }
        } finally {
            closeClients();
            calls.close(); // what was not recorded comes back through its lease timer
            statements.close(); // the same
            state.set(State.STOPPED);
            stopped.countDown();
            LOG.info("Engine worker {} stopped", name);
        }
    }

    /** Asks the worker to finish its unit of work (or abort its open transaction) and leave the group. */
    void stop() {
        if (state.compareAndSet(State.RUNNING, State.STOPPING) || state.compareAndSet(State.CREATED, State.STOPPED)) {
            kafka.wakeup();
        }
    }

    boolean awaitStopped(Duration timeout) throws InterruptedException {
        return stopped.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    private void pollLoop() throws Exception {
        long nextTimerCheck = System.nanoTime();
        while (state.get() == State.RUNNING) {
            kafka.holdBack(calls.backlogged() || statements.backlogged());
            // Long statements do not quicken the pace: at most IDLE_POLL more on a statement that ran for seconds.
            ConsumerRecords<byte[], byte[]> records = kafka.consumer().poll(calls.idle() ? IDLE_POLL : BUSY_POLL);
            ownership.afterPoll();
            if (!records.isEmpty()) {
                runBatch(records);
            }
            results.recordAnswers();
            results.recordStatements();
            // Pacing, not business time: the wall clock paces the loop even under a test's fixed clock.
            long now = System.nanoTime();
            if (now - nextTimerCheck >= 0) {
                nextTimerCheck = now + TimeUnit.MILLISECONDS.toNanos(settings.timerPollMs());
                fireDueTimers();
            }
        }
    }

    /**
     * Runs one poll batch through both commits; the calls it claimed go to {@link HttpCalls} once
     * they are committed. The batch's catch ladder: every failure takes the recovery its class needs.
     */
    private void runBatch(ConsumerRecords<byte[], byte[]> polled) throws Exception {
        List<ConsumerRecord<byte[], byte[]>> records = new ArrayList<>(polled.count());
        polled.forEach(records::add);
        boolean careful = false;
        while (true) {
            // The connection may have been dropped by an earlier failure: the consumer keeps its
            // partitions while a new one is opened.
            BatchPipeline pipeline = db.pipeline();
            Batch.Counts counts = new Batch.Counts(traces.on());
            try {
                List<ProducerRecord<byte[], byte[]>> out = pipeline.apply(records, careful, counts);
                int applied = pipeline.appliedRecords();
                List<ConsumerRecord<byte[], byte[]>> done = records.subList(0, applied);
                List<String> starts = pipeline.takeStartTimers();
                kafka.commits().commit(db.store(), out, offsets(done), () -> {
                    traces.committed(counts); // what the commit recorded lasts: its spans may go (never throws)
                    hooks.afterDatabaseCommit(name, done.size());
                }, s -> OffThreadResults.markStartsFired(s, starts));
                counts.addTo(metrics);
                metrics.batches.increment();
                consecutiveFailures = 0;
                calls.queue(pipeline.takeCalls());
                statements.queue(pipeline.takeStatements());
                if (applied == records.size()) {
                    return;
                }
                // A careful replay stopped at its savepoint budget: the rest, record by record, in a new transaction.
                LOG.debug("Engine worker {}: committed {} records of a careful replay; {} to go", name, applied,
                        records.size() - applied);
                records = new ArrayList<>(records.subList(applied, records.size()));
            } catch (BatchPipeline.ReplayCarefully e) {
                // A node's SQL failed and aborted the transaction: replay with a savepoint per record.
                db.rollBack();
                careful = true;
            } catch (BatchPipeline.RetryBatch e) {
                metrics.batchFailures.increment();
                metrics.poisonRetries.increment();
                LOG.warn("Engine worker {}: {} ({}); rolling the batch back and delivering it again", name, e.getMessage(),
                        Failures.describe(e.getCause()));
                rollBackAndRewind(records);
                return;
            } catch (Throwable e) {
                Failures.Recovery recovery = rollBack(e);
                // After the PostgreSQL commit no record is to blame: the Kafka side failed, and the
                // batch is delivered again (its nodes are found processed).
                boolean databaseCommitted = e instanceof TwoCommits.Failed f && f.stage == TwoCommits.Stage.DATABASE_COMMITTED;
                if (recovery == Failures.Recovery.POISON && !careful && !databaseCommitted) {
                    // Some record of the batch cannot be processed: find it, record by record.
                    LOG.warn("Engine worker {}: batch of {} records failed ({}); replaying it record by record",
                            name, records.size(), Failures.describe(e));
                    careful = true;
                    continue;
                }
                // Transient, or a poison failure outside any one record (the commits): deliver again.
                metrics.batchFailures.increment();
                LOG.warn("Engine worker {}: batch of {} records failed ({}, {}); rolling back and delivering it again",
                        name, records.size(), recovery, Failures.describe(e));
                rollBackAndRewind(records);
                return;
            }
        }
    }

    /** The timer step ({@link DueTimers}); a failure is tried again at the next round, after a back-off. */
    private void fireDueTimers() throws Exception {
        try {
            metrics.countTimersFired(DueTimers.fire(db.store(), kafka.commits(),
                    DueTimers.taskPartitions(kafka.consumer().assignment())));
        } catch (Throwable e) {
            Failures.Recovery recovery = rollBack(e);
            LOG.warn("Engine worker {}: firing due timers failed ({}, {}); trying again", name, recovery, Failures.describe(e));
            db.dropIfBroken();
            backOff();
        }
    }

    /**
     * The common rung of the ladders: rolls PostgreSQL back, and rethrows what ends the clients
     * (stop, fenced, a failed abort) to {@link #run}; otherwise returns the failure's recovery.
     */
    private Failures.Recovery rollBack(Throwable e) throws Exception {
        Failures.Recovery recovery = e instanceof TwoCommits.Failed f ? f.recovery : Failures.classify(e);
        db.rollBack();
        if (recovery == Failures.Recovery.STOP || recovery == Failures.Recovery.REJOIN) {
            if (e instanceof Error err) {
                throw err;
            }
            throw (Exception) e;
        }
        return recovery;
    }

    /** Rolls back, drops a lost connection, aborts, seeks back to the batch, backs off: the batch comes again. */
    private void rollBackAndRewind(List<ConsumerRecord<byte[], byte[]>> records) throws InterruptedException {
        db.rollBack();
        db.dropIfBroken();
        kafka.rewind(records);
        backOff();
    }

    private static Map<TopicPartition, OffsetAndMetadata> offsets(List<ConsumerRecord<byte[], byte[]>> records) {
        Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
        for (ConsumerRecord<byte[], byte[]> r : records) {
            offsets.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
        }
        return offsets;
    }

    private void backOff() throws InterruptedException {
        consecutiveFailures++;
        long ms = Math.min(5_000, 50L << Math.min(consecutiveFailures, 7));
        Thread.sleep(ms);
    }

    /** Closes the Kafka clients and the connection; the http step keeps its calls, recorded after the reconnect. */
    private void closeClients() {
        kafka.close();
        db.close();
    }
}
