package dev.onceflow.dispatcher;

import java.util.concurrent.atomic.LongAdder;

/**
 * Counters of one dispatcher topology, shared by all its stream threads. Thread-safe.
 *
 * <p>The counters count processing attempts: under exactly-once a transaction that aborts is
 * processed again, so after a failure a record may be counted twice although its output was
 * written once. Use them for rates and alerts, not for reconciliation.
 */
public final class DispatcherMetrics {

    private final LongAdder accepted = new LongAdder();
    private final LongAdder deduplicated = new LongAdder();
    private final LongAdder dlq = new LongAdder();

    /** Events written to {@code onceflow.events}. */
    public long accepted() {
        return accepted.sum();
    }

    /** Repeats of an event key seen within the dedupe retention, dropped. */
    public long deduplicated() {
        return deduplicated.sum();
    }

    /** Trigger records sent to {@code onceflow.dlq}. */
    public long dlq() {
        return dlq.sum();
    }

    void countAccepted() {
        accepted.increment();
    }

    void countDeduplicated() {
        deduplicated.increment();
    }

    private final LongAdder unrouted = new LongAdder();

    /** Records on a subscribed user topic that no enabled workflow names (skipped). */
    public long unrouted() {
        return unrouted.sum();
    }

    void countUnrouted() {
        unrouted.increment();
    }

    void countDlq() {
        dlq.increment();
    }

    @Override
    public String toString() {
        return "accepted=" + accepted() + " deduplicated=" + deduplicated() + " dlq=" + dlq();
    }
}
