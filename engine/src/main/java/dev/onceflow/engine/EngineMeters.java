package dev.onceflow.engine;

import com.fasterxml.jackson.annotation.JsonSubTypes;
import dev.onceflow.common.metrics.MeterNames;
import dev.onceflow.common.metrics.OnceflowMeters;
import dev.onceflow.common.workflow.Node;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * The engine's meters on the process's {@link OnceflowMeters} ({@link MeterNames}), fed by
 * {@link EngineMetrics}: what a batch did, once both its transactions committed
 * ({@link Batch.Counts#addTo}). Meters are looked up once per label set and kept. Thread-safe.
 */
final class EngineMeters {

    /** Node runs: from a millisecond (a condition) to minutes (a statement over a large table, a slow call). */
    static final List<Duration> NODE_BUCKETS = List.of(ms(1), ms(5), ms(10), ms(25), ms(50), ms(100), ms(250), ms(500),
            ms(1_000), ms(2_500), ms(5_000), ms(10_000), ms(30_000), ms(60_000), ms(300_000));
    /** Executions end to end: tens of milliseconds for a few nodes, hours for one that waits on a delay. */
    static final List<Duration> EXECUTION_BUCKETS = List.of(ms(10), ms(25), ms(50), ms(100), ms(250), ms(500), ms(1_000),
            ms(2_500), ms(5_000), ms(10_000), ms(30_000), ms(60_000), ms(300_000), ms(900_000), ms(3_600_000),
            ms(21_600_000), ms(86_400_000));

    /** Node type names as workflow definitions spell them ({@code sql}, {@code http}, ...), from the Jackson tags. */
    private static final Map<Class<?>, String> TYPES = types();

    private final OnceflowMeters meters;
    private final Map<String, Counter> counters = new ConcurrentHashMap<>();
    private final Map<String, Timer> nodeDurations = new ConcurrentHashMap<>();
    private final Timer executionDuration;

    /** The reasons an engine dead-letters records with (the dispatcher checks the others before). */
    static final List<dev.onceflow.common.InvalidInputException.Reason> DLQ_REASONS = List.of(
            dev.onceflow.common.InvalidInputException.Reason.MALFORMED_JSON,
            dev.onceflow.common.InvalidInputException.Reason.UNKNOWN_NODE,
            dev.onceflow.common.InvalidInputException.Reason.PROCESSING_FAILED);

    EngineMeters(OnceflowMeters meters) {
        this.meters = meters;
        this.executionDuration = meters.histogram(MeterNames.EXECUTION_DURATION,
                "Executions from the publication of their trigger record to their finish", EXECUTION_BUCKETS);
        // Present from the start (at 0), so a rate over them is defined before the first duplicate.
        for (String layer : List.of(MeterNames.LAYER_EXECUTION_KEY, MeterNames.LAYER_PROCESSED_KEY)) {
            duplicates(layer, 0);
        }
        for (dev.onceflow.common.InvalidInputException.Reason reason : DLQ_REASONS) {
            deadLettered(reason.name(), 0);
        }
        for (String kind : List.of(dev.onceflow.common.OperatorCommand.CANCEL, dev.onceflow.common.OperatorCommand.RETRY)) {
            for (String result : List.of(MeterNames.COMMAND_APPLIED, MeterNames.COMMAND_ABSORBED, MeterNames.COMMAND_IGNORED)) {
                operatorCommands(kind, result, 0);
            }
        }
        httpCalls(0);
        longStatements(0);
        timersFired(0);
        partitionsRevoked(0);
    }

    /** The type name of a node as its definition spells it. */
    static String type(Node node) {
        return TYPES.getOrDefault(node.getClass(), node.getClass().getSimpleName().toLowerCase(java.util.Locale.ROOT));
    }

    void started(String workflow, long n) {
        count(MeterNames.EXECUTIONS_STARTED, "Executions created: events whose key had no execution", n,
                MeterNames.WORKFLOW, workflow);
    }

    void throttled(String workflow, long n) {
        count(MeterNames.THROTTLED, "Executions a rate limit made wait for their turn to start (ADR 0022)", n,
                MeterNames.WORKFLOW, workflow);
    }

    void finished(String workflow, String status, long n) {
        count(MeterNames.EXECUTIONS_FINISHED, "Executions finished, by workflow and status", n,
                MeterNames.WORKFLOW, workflow, MeterNames.STATUS, status);
    }

    void nodeRuns(String type, String outcome, long n) {
        count(MeterNames.NODE_RUNS, "Node runs recorded under their processed key, by node type and outcome", n,
                MeterNames.TYPE, type, MeterNames.OUTCOME, outcome);
    }

    void duplicates(String layer, long n) {
        count(MeterNames.DUPLICATES_ABSORBED, "Duplicates absorbed, by the layer that absorbed them", n, MeterNames.LAYER, layer);
    }

    void deadLettered(String reason, long n) {
        count(MeterNames.DEAD_LETTERED, "Records sent to onceflow.dlq, by role and reason", n,
                MeterNames.ROLE, MeterNames.ROLE_ENGINE, MeterNames.REASON, reason);
    }

    void operatorCommands(String kind, String result, long n) {
        count(MeterNames.OPERATOR_COMMANDS, "Operator commands (cancel, retry) the engine applied, by kind and result (ADR 0025)", n,
                MeterNames.KIND, kind, MeterNames.RESULT, result);
    }

    void httpCalls(long n) {
        count(MeterNames.HTTP_CALLS, "Calls made by http nodes, each with its Idempotency-Key", n);
    }

    void longStatements(long n) {
        count(MeterNames.LONG_STATEMENTS, "sql statements run off the poll thread, each in a transaction of its own "
                + "(marked long, or past engine.sql.inline.ms)", n);
    }

    void timersFired(long n) {
        count(MeterNames.TIMERS_FIRED, "Durable timers whose tasks were produced (a timer fired again after a crash counts again)", n);
    }

    void partitionsRevoked(long n) {
        count(MeterNames.PARTITIONS_REVOKED, "Partitions the engine's workers gave up in rebalances (revoked or lost)", n);
    }

    void nodeDuration(String type, long nanos) {
        nodeDurations.computeIfAbsent(type, t -> meters.histogram(MeterNames.NODE_DURATION, "How long node runs took, by node type",
                NODE_BUCKETS, MeterNames.TYPE, t)).record(Math.max(0, nanos), TimeUnit.NANOSECONDS);
    }

    void executionDuration(long millis) {
        executionDuration.record(Math.max(0, millis), TimeUnit.MILLISECONDS);
    }

    private void count(String name, String description, long n, String... tags) {
        String key = tags.length == 0 ? name : name + '\u0000' + String.join("\u0000", tags);
        Counter c = counters.computeIfAbsent(key, k -> meters.counter(name, description, tags));
        if (n > 0) {
            c.increment(n);
        }
    }

    private static Duration ms(long ms) {
        return Duration.ofMillis(ms);
    }

    private static Map<Class<?>, String> types() {
        Map<Class<?>, String> types = new java.util.HashMap<>();
        for (JsonSubTypes.Type t : Node.class.getAnnotation(JsonSubTypes.class).value()) {
            types.put(t.value(), t.name());
        }
        return Map.copyOf(types);
    }
}
