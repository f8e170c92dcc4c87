package dev.onceflow.engine;

import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the off-thread steps finished, recorded on the poll thread (ADR 0021): the answers of
 * {@code http} calls ({@link HttpCalls}) and what long statements committed
 * ({@link LongStatements}), each through {@link TwoCommits} without offsets, then their lease
 * timers (and the start timers of executions they admitted) marked fired. What fails is not
 * retried here: the lease timers deliver the tasks again. Not thread-safe: the poll thread's.
 */
final class OffThreadResults {

    private static final Logger LOG = LoggerFactory.getLogger(OffThreadResults.class);

    /** {@link EngineLoop}'s common rung: rolls PostgreSQL back, rethrows what ends the clients, else returns the recovery. */
    interface RollBack {
        Failures.Recovery apply(Throwable e) throws Exception;
    }

    private final String name;
    private final WorkerDatabase db;
    private final WorkerClients kafka;
    private final EngineHooks hooks;
    private final ExecutionTraces traces;
    private final EngineMetrics metrics;
    private final HttpCalls calls;
    private final LongStatements statements;
    private final RollBack rollBack;

    OffThreadResults(String name, WorkerDatabase db, WorkerClients kafka, EngineHooks hooks, ExecutionTraces traces,
                     EngineMetrics metrics, HttpCalls calls, LongStatements statements, RollBack rollBack) {
        this.name = name;
        this.db = db;
        this.kafka = kafka;
        this.hooks = hooks;
        this.traces = traces;
        this.metrics = metrics;
        this.calls = calls;
        this.statements = statements;
        this.rollBack = rollBack;
    }

    /**
     * Records the answers of the calls made so far (design, "HTTP"): their outcomes and what
     * follows them through PostgreSQL, then a Kafka transaction without offsets, then the calls'
     * lease timers marked fired. Calls that recording claims are queued in turn. Whatever fails
     * is not retried here: the lease timers deliver the tasks again, and a key without an outcome
     * then follows its node's {@code onUnknownOutcome}. Partitions this worker lost meanwhile do
     * not matter: a key that is no longer {@code started} keeps the outcome it has ({@link BatchPipeline#record}).
     */
    void recordAnswers() throws Exception {
        List<BatchPipeline.CallResult> results = calls.answered();
        boolean careful = false;
        while (!results.isEmpty()) {
            BatchPipeline pipeline = db.pipeline();
            Batch.Counts counts = new Batch.Counts(traces.on());
            try {
                hooks.afterHttpCalls(name, keys(results));
                List<ProducerRecord<byte[], byte[]>> out = pipeline.record(results, careful, counts);
                List<String> leases = keys(results.subList(0, pipeline.appliedRecords()));
                List<String> starts = pipeline.takeStartTimers();
                kafka.commits().commit(db.store(), out, Map.of(), () -> traces.committed(counts), s -> {
                    markStartsFired(s, starts);
                    s.markLeasesFired(leases);
                });
                counts.addTo(metrics);
                calls.queue(pipeline.takeCalls());
                statements.queue(pipeline.takeStatements());
                // A careful replay stopped at its savepoint budget: the rest in a new transaction.
                results = new ArrayList<>(results.subList(leases.size(), results.size()));
            } catch (BatchPipeline.ReplayCarefully e) {
                db.rollBack();
                careful = true;
            } catch (Throwable e) {
                Failures.Recovery recovery = rollBack.apply(e);
                LOG.warn("Engine worker {}: recording the outcomes of {} http calls failed ({}, {}); their lease timers "
                        + "deliver them again", name, results.size(), recovery, Failures.describe(e));
                db.dropIfBroken();
                return;
            }
        }
    }

    /**
     * Produces what the long statements that ended committed (ADR 0021): one Kafka transaction
     * without offsets (their PostgreSQL transactions committed on their own connections), then
     * their lease timers and admitted start timers marked fired. A failure is not retried here: the
     * lease timers deliver the tasks again, whose keys then produce the follow-ups from their outcomes.
     */
    void recordStatements() throws Exception {
        List<RunLongStatement.Done> done = statements.done();
        if (done.isEmpty()) {
            return;
        }
        List<ProducerRecord<byte[], byte[]>> out = new ArrayList<>();
        List<String> leases = new ArrayList<>();
        List<String> starts = new ArrayList<>();
        for (RunLongStatement.Done d : done) {
            out.addAll(d.out());
            leases.add(d.key());
            starts.addAll(d.starts());
        }
        try {
            kafka.commits().commit(db.store(), out, Map.of(), () -> {
                done.forEach(d -> traces.committed(d.counts()));
                hooks.afterLongStatements(name, leases);
            }, s -> {
                markStartsFired(s, starts);
                s.markLeasesFired(leases);
            });
            done.forEach(d -> d.counts().addTo(metrics));
        } catch (Throwable e) {
            Failures.Recovery recovery = rollBack.apply(e);
            LOG.warn("Engine worker {}: producing what {} long statements recorded failed ({}, {}); their lease timers "
                    + "deliver them again", name, done.size(), recovery, Failures.describe(e));
            db.dropIfBroken();
        }
    }

    /**
     * After a Kafka commit: the start timers of the queued executions the work admitted are
     * marked fired, their start tasks being out (ADR 0021). A crash before this fires them after
     * their grace, and the start node's processed key absorbs the second start.
     */
    static void markStartsFired(ExecutionStore s, List<String> starts) throws SQLException {
        if (!starts.isEmpty()) {
            s.markStartsFired(starts);
        }
    }

    private static List<String> keys(List<BatchPipeline.CallResult> results) {
        return results.stream().map(r -> r.call().step().key()).toList();
    }
}
