package dev.onceflow.dispatcher;

import dev.onceflow.common.metrics.MeterNames;
import dev.onceflow.common.metrics.OnceflowMeters;
import io.micrometer.core.instrument.Counter;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * Counters of one dispatcher: its topology, shared by all its stream threads, and its sources.
 * With {@link OnceflowMeters}, the same counts, with their labels, go to the process's
 * Prometheus meters too ({@link MeterNames}). Thread-safe.
 *
 * <p>The topology's counters count processing attempts: under exactly-once a transaction that
 * aborts is processed again, so after a failure a record may be counted twice although its output
 * was written once. Use them for rates and alerts, not for reconciliation. The sources count what
 * Kafka acknowledged.
 */
public final class DispatcherMetrics {

    private final LongAdder accepted = new LongAdder();
    private final LongAdder deduplicated = new LongAdder();
    private final LongAdder dlq = new LongAdder();
    /** The Prometheus side, or null. */
    private final OnceflowMeters meters;
    private final Counter absorbed;
    private final Map<String, Counter> counters = new ConcurrentHashMap<>();

    /** Counters only, no Prometheus meters. */
    public DispatcherMetrics() {
        this(null);
    }

    /** Counters that also feed {@code meters} (null: none). */
    public DispatcherMetrics(OnceflowMeters meters) {
        this.meters = meters;
        this.absorbed = meters == null ? null : meters.counter(MeterNames.DUPLICATES_ABSORBED,
                "Duplicates absorbed, by the layer that absorbed them", MeterNames.LAYER, MeterNames.LAYER_DISPATCHER);
        // Every reason this role can give, present from the start at 0 (Prometheus advice for
        // known label values): an alert on a rate, or a dashboard panel, works before the first one.
        for (String reason : DLQ_REASONS) {
            countDlqMeter(reason, 0);
        }
    }

    /** The error classes the dispatcher dead-letters with (its {@code error-class} headers). */
    static final java.util.List<String> DLQ_REASONS = dlqReasons();

    private static java.util.List<String> dlqReasons() {
        java.util.List<String> reasons = new java.util.ArrayList<>();
        for (dev.onceflow.common.InvalidInputException.Reason r : dev.onceflow.common.InvalidInputException.Reason.values()) {
            if (r != dev.onceflow.common.InvalidInputException.Reason.UNKNOWN_NODE
                    && r != dev.onceflow.common.InvalidInputException.Reason.PROCESSING_FAILED) { // the engine's
                reasons.add(r.name());
            }
        }
        reasons.addAll(java.util.List.of(ValidateTrigger.WRONG_TRIGGER_TYPE, ValidateTrigger.RECORD_TOO_LARGE,
                DedupeByKey.MISSING_KEY, TableRouting.CONDITION_FAILED, TableRouting.DEPTH_LIMIT, RowChangeSource.MALFORMED_CHANGE));
        return java.util.List.copyOf(reasons);
    }

    /** Events written to {@code onceflow.events}. */
    public long accepted() {
        return accepted.sum();
    }

    /** Repeats of an event key seen within the dedupe retention, dropped. */
    public long deduplicated() {
        return deduplicated.sum();
    }

    /** Records this dispatcher sent to {@code onceflow.dlq}: trigger records, and row changes it could not publish. */
    public long dlq() {
        return dlq.sum();
    }

    void countAccepted() {
        accepted.increment();
    }

    void countDeduplicated() {
        deduplicated.increment();
        if (absorbed != null) {
            absorbed.increment();
        }
    }

    private final LongAdder unrouted = new LongAdder();

    /** Records on a subscribed user topic that no enabled workflow names (skipped). */
    public long unrouted() {
        return unrouted.sum();
    }

    void countUnrouted() {
        unrouted.increment();
    }

    /** A record sent to {@code onceflow.dlq}; {@code reason} is its error-class header. */
    void countDlq(String reason) {
        dlq.increment();
        countDlqMeter(reason, 1);
    }

    private void countDlqMeter(String reason, long n) {
        count(MeterNames.DEAD_LETTERED, "Records sent to onceflow.dlq, by role and reason", n,
                MeterNames.ROLE, MeterNames.ROLE_DISPATCHER, MeterNames.REASON, reason);
    }

    /** Ticks of {@code workflow} that Kafka acknowledged. */
    void countTicksFired(String workflow, long n) {
        count(MeterNames.SCHEDULE_TICKS_FIRED, "Schedule ticks this dispatcher fired (Kafka acknowledged them), before dedupe", n,
                MeterNames.WORKFLOW, workflow);
    }

    /** Ticks of {@code workflow} due while no dispatcher ran that its misfire policy did not fire. */
    void countTicksMissed(String workflow, long n) {
        count(MeterNames.SCHEDULE_TICKS_MISSED, "Schedule ticks due while no dispatcher ran that the misfire policy skipped", n,
                MeterNames.WORKFLOW, workflow);
    }

    private final LongAdder orderFallbacks = new LongAdder();

    /** Events of ordered workflows that got no ordering key (sequences of one). */
    public long orderFallbacks() {
        return orderFallbacks.sum();
    }

    /** An event of ordered {@code workflow} for which no ordering key could be derived (ADR 0020). */
    void countOrderFallback(String workflow) {
        orderFallbacks.increment();
        count(MeterNames.ORDER_FALLBACK, "Events of ordered workflows without a derivable ordering key (sequences of one)", 1,
                MeterNames.WORKFLOW, workflow);
    }

    private void count(String name, String description, long n, String... tags) {
        if (meters == null) {
            return;
        }
        counters.computeIfAbsent(name + '\u0000' + String.join("\u0000", tags), k -> meters.counter(name, description, tags))
                .increment(n);
    }

    @Override
    public String toString() {
        return "accepted=" + accepted() + " deduplicated=" + deduplicated() + " dlq=" + dlq();
    }
}
