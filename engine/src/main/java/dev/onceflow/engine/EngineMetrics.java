package dev.onceflow.engine;

import dev.onceflow.common.metrics.OnceflowMeters;
import java.util.concurrent.atomic.LongAdder;

/**
 * Counters of one engine process (all its workers). Thread-safe. Counts are of work committed to
 * PostgreSQL; a batch replayed after a failed Kafka commit counts its absorbed repeats again,
 * which is what they are. With {@link OnceflowMeters}, the same counts, with their labels, go to
 * the process's Prometheus meters too ({@link EngineMeters}).
 */
public final class EngineMetrics {

    /** The Prometheus side, or null (a sum, a test). */
    private final EngineMeters meters;

    /** Counters only, no Prometheus meters. */
    public EngineMetrics() {
        this.meters = null;
    }

    /** Counters that also feed {@code meters}. */
    public EngineMetrics(OnceflowMeters meters) {
        this.meters = new EngineMeters(meters);
    }

    final LongAdder events = new LongAdder();
    final LongAdder duplicateEvents = new LongAdder();
    final LongAdder nodeRuns = new LongAdder();
    final LongAdder duplicateNodeRuns = new LongAdder();
    final LongAdder executionsSucceeded = new LongAdder();
    final LongAdder executionsFailed = new LongAdder();
    final LongAdder deadLettered = new LongAdder();
    final LongAdder batches = new LongAdder();
    final LongAdder batchFailures = new LongAdder();
    final LongAdder poisonRetries = new LongAdder();
    final LongAdder timersSet = new LongAdder();
    final LongAdder timersFired = new LongAdder();
    final LongAdder httpCalls = new LongAdder();
    final LongAdder longStatements = new LongAdder();
    final LongAdder partitionsRevoked = new LongAdder();
    final LongAdder executionsRemoved = new LongAdder();
    final LongAdder eventKeysRetired = new LongAdder();
    final LongAdder eventKeysExpired = new LongAdder();

    /** Finished executions whose history retention removed (ADR 0015), counted once their transaction committed. */
    public long executionsRemoved() {
        return executionsRemoved.sum();
    }

    /** Event keys of removed executions kept in {@code retired_event_keys}, absorbing duplicates until the horizon. */
    public long eventKeysRetired() {
        return eventKeysRetired.sum();
    }

    /** Retired event keys deleted past the dedupe horizon: a record with such a key is a new event again. */
    public long eventKeysExpired() {
        return eventKeysExpired.sum();
    }

    /** What a batch did, committed: the counters, then the labelled meters. */
    void add(Batch.Counts c) {
        events.add(c.events);
        duplicateEvents.add(c.duplicateEvents);
        nodeRuns.add(c.nodeRuns);
        duplicateNodeRuns.add(c.duplicateNodeRuns);
        executionsSucceeded.add(c.succeeded);
        executionsFailed.add(c.failed);
        deadLettered.add(c.deadLettered);
        timersSet.add(c.timersSet);
        if (meters != null) {
            c.recordTo(meters);
        }
    }

    void countLongStatement() {
        longStatements.increment();
        if (meters != null) {
            meters.longStatements(1);
        }
    }

    void countHttpCalls(int n) {
        httpCalls.add(n);
        if (meters != null) {
            meters.httpCalls(n);
        }
    }

    void countTimersFired(int n) {
        timersFired.add(n);
        if (meters != null) {
            meters.timersFired(n);
        }
    }

    void countPartitionsRevoked(int n) {
        partitionsRevoked.add(n);
        if (meters != null) {
            meters.partitionsRevoked(n);
        }
    }

    /** Partitions this engine's workers gave up in rebalances (revoked or lost). */
    public long partitionsRevoked() {
        return partitionsRevoked.sum();
    }

    /**
     * Statements run off the poll thread (ADR 0021), each in a transaction of its own: marked
     * {@code long}, or past {@code engine.sql.inline.ms}; counted once their transaction committed.
     */
    public long longStatements() {
        return longStatements.sum();
    }

    /** Calls made by http nodes (each with its Idempotency-Key). */
    public long httpCalls() {
        return httpCalls.sum();
    }

    /** Timers set (delays, retry backoffs), counted once their batch committed. */
    public long timersSet() {
        return timersSet.sum();
    }

    /** Timers fired: their tasks produced (a timer fired again after a crash counts again). */
    public long timersFired() {
        return timersFired.sum();
    }

    /** Event records that created an execution. */
    public long events() {
        return events.sum();
    }

    /** Event records whose key already had an execution: absorbed by the unique event key. */
    public long duplicateEvents() {
        return duplicateEvents.sum();
    }

    /** Nodes run (processed key inserted by this engine). */
    public long nodeRuns() {
        return nodeRuns.sum();
    }

    /** Task records whose processed key existed: absorbed, the stored outcome reused. */
    public long duplicateNodeRuns() {
        return duplicateNodeRuns.sum();
    }

    public long executionsSucceeded() {
        return executionsSucceeded.sum();
    }

    public long executionsFailed() {
        return executionsFailed.sum();
    }

    public long deadLettered() {
        return deadLettered.sum();
    }

    /** Batches committed to both PostgreSQL and Kafka. */
    public long batches() {
        return batches.sum();
    }

    /** Batches rolled back and delivered again (database or broker errors, fencing, injected faults). */
    public long batchFailures() {
        return batchFailures.sum();
    }

    /** Batches delivered again because one record failed with a permanent error and had tries left. */
    public long poisonRetries() {
        return poisonRetries.sum();
    }

    /** Sums several engines' metrics (for a dev process running several engines). */
    public static EngineMetrics sum(Iterable<EngineMetrics> all) {
        EngineMetrics total = new EngineMetrics();
        for (EngineMetrics m : all) {
            total.events.add(m.events());
            total.duplicateEvents.add(m.duplicateEvents());
            total.nodeRuns.add(m.nodeRuns());
            total.duplicateNodeRuns.add(m.duplicateNodeRuns());
            total.executionsSucceeded.add(m.executionsSucceeded());
            total.executionsFailed.add(m.executionsFailed());
            total.deadLettered.add(m.deadLettered());
            total.batches.add(m.batches());
            total.batchFailures.add(m.batchFailures());
            total.poisonRetries.add(m.poisonRetries());
            total.timersSet.add(m.timersSet());
            total.timersFired.add(m.timersFired());
            total.httpCalls.add(m.httpCalls());
            total.longStatements.add(m.longStatements());
            total.partitionsRevoked.add(m.partitionsRevoked());
            total.executionsRemoved.add(m.executionsRemoved());
            total.eventKeysRetired.add(m.eventKeysRetired());
            total.eventKeysExpired.add(m.eventKeysExpired());
        }
        return total;
    }
}
