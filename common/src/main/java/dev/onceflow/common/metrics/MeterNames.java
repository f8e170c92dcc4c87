package dev.onceflow.common.metrics;

/**
 * Onceflow's metric names and labels: a contract that dashboards, alerts and the deploy files are
 * built on, declared in one place. Each constant is the Micrometer name; the Prometheus name it is
 * exposed under (the Prometheus registry turns dots into underscores, adds {@code _total} to
 * counters and {@code _seconds} to timers) is given beside it, with its labels. Labels are of low
 * cardinality only: a workflow id, a node type, a status or reason word, a partition; never an
 * event key.
 */
public final class MeterNames {

    /** {@code onceflow_executions_started_total{workflow}}: executions created (an event whose key had none). */
    public static final String EXECUTIONS_STARTED = "onceflow.executions.started";
    /** {@code onceflow_executions_finished_total{workflow,status}}, status {@value #SUCCEEDED}, {@value #FAILED} or {@value #CANCELLED}. */
    public static final String EXECUTIONS_FINISHED = "onceflow.executions.finished";
    /** {@code onceflow_node_runs_total{type,outcome}}, outcome {@value #SUCCEEDED}, {@value #FAILED} or {@value #WAITING}. */
    public static final String NODE_RUNS = "onceflow.node.runs";
    /** {@code onceflow_duplicates_absorbed_total{layer}}, layer {@value #LAYER_DISPATCHER}, {@value #LAYER_EXECUTION_KEY} or {@value #LAYER_PROCESSED_KEY}. */
    public static final String DUPLICATES_ABSORBED = "onceflow.duplicates.absorbed";
    /** {@code onceflow_dead_lettered_total{role,reason}}: records sent to {@code onceflow.dlq}; reason is the error-class header. */
    public static final String DEAD_LETTERED = "onceflow.dead.lettered";
    /** {@code onceflow_node_duration_seconds{type}} (histogram): how long a node ran. */
    public static final String NODE_DURATION = "onceflow.node.duration";
    /** {@code onceflow_execution_duration_seconds} (histogram): from the trigger record's publication to the execution's finish. */
    public static final String EXECUTION_DURATION = "onceflow.execution.duration";
    /** {@code onceflow_consumer_lag_records{group,topic,partition}} (gauge): records not yet consumed, per partition this process owns. */
    public static final String CONSUMER_LAG = "onceflow.consumer.lag.records";
    /** {@code onceflow_capture_slot_lag_bytes{slot}} (gauge): WAL the replication slot holds back. */
    public static final String CAPTURE_SLOT_LAG = "onceflow.capture.slot.lag.bytes";
    /** {@code onceflow_capture_slot_inactive{slot}} (gauge): 1 when the slot exists and nobody reads it (WAL piles up), else 0. */
    public static final String CAPTURE_SLOT_INACTIVE = "onceflow.capture.slot.inactive";
    /** {@code onceflow_schedule_ticks_fired_total{workflow}}: schedule ticks Kafka acknowledged, per replica, before dedupe. */
    public static final String SCHEDULE_TICKS_FIRED = "onceflow.schedule.ticks.fired";
    /** {@code onceflow_schedule_ticks_missed_total{workflow}}: ticks due while no dispatcher ran that the misfire policy did not fire. */
    public static final String SCHEDULE_TICKS_MISSED = "onceflow.schedule.ticks.missed";
    /**
     * {@code onceflow_dispatcher_order_fallback_total{workflow}}: events of an ordered workflow for which no ordering key
     * could be derived (a record without key and no pointer value, an API call without order key): sequences of one (ADR 0020).
     */
    public static final String ORDER_FALLBACK = "onceflow.dispatcher.order.fallback";
    /** {@code onceflow_executions_stuck} (gauge): executions not finished for longer than {@code engine.stuck.execution.report.ms}. */
    public static final String EXECUTIONS_STUCK = "onceflow.executions.stuck";
    /** Executions queued in their lanes (ADR 0021), per workflow, as of the stall watch's last check. */
    public static final String LANE_QUEUED = "onceflow.engine.lane.queued";
    /** The most executions queued in any one lane, as of the stall watch's last check. */
    public static final String LANE_QUEUED_MAX = "onceflow.engine.lane.queued.max";
    /** {@code onceflow_engine_throttled_total{workflow}}: executions a rate limit made wait for their turn to start (ADR 0022). */
    public static final String THROTTLED = "onceflow.engine.throttled";
    /**
     * {@code onceflow_engine_operator_commands_total{kind,result}}: operator commands (ADR 0025) the engine applied, by kind
     * ({@code cancel}, {@code retry}) and result: {@value #COMMAND_APPLIED} (it changed the execution, or produced that change's
     * records again after its Kafka transaction aborted), {@value #COMMAND_ABSORBED} (the execution already was past what it asks:
     * finished for a cancel, not failed for a retry), {@value #COMMAND_IGNORED} (nothing to act on: the execution is gone, its
     * workflow version is not stored, no node of it failed, or it failed since at another node or attempt).
     */
    public static final String OPERATOR_COMMANDS = "onceflow.engine.operator.commands";
    /** {@code onceflow_http_calls_total}: calls made by http nodes. */
    public static final String HTTP_CALLS = "onceflow.http.calls";
    /** {@code onceflow_long_statements_total}: sql statements run off the poll thread, in transactions of their own (ADR 0021). */
    public static final String LONG_STATEMENTS = "onceflow.long.statements";
    /** {@code onceflow_timers_fired_total}: durable timers whose tasks were produced. */
    public static final String TIMERS_FIRED = "onceflow.timers.fired";
    /** {@code onceflow_partitions_revoked_total}: partitions an engine's workers gave up in rebalances. */
    public static final String PARTITIONS_REVOKED = "onceflow.partitions.revoked";

    public static final String WORKFLOW = "workflow";
    public static final String STATUS = "status";
    public static final String TYPE = "type";
    public static final String OUTCOME = "outcome";
    public static final String LAYER = "layer";
    public static final String ROLE = "role";
    public static final String REASON = "reason";
    public static final String GROUP = "group";
    public static final String TOPIC = "topic";
    public static final String PARTITION = "partition";
    public static final String SLOT = "slot";
    public static final String KIND = "kind";
    public static final String RESULT = "result";

    public static final String COMMAND_APPLIED = "applied";
    public static final String COMMAND_ABSORBED = "absorbed";
    public static final String COMMAND_IGNORED = "ignored";

    public static final String SUCCEEDED = "succeeded";
    public static final String FAILED = "failed";
    public static final String CANCELLED = "cancelled";
    public static final String WAITING = "waiting";

    /** Dropped by the dispatcher's dedupe store (a cheap first filter). */
    public static final String LAYER_DISPATCHER = "dispatcher";
    /** An event whose key already had an execution (the unique {@code executions.event_key}). */
    public static final String LAYER_EXECUTION_KEY = "execution_key";
    /** A node run absorbed by its processed key (the primary key of {@code processed_keys}). */
    public static final String LAYER_PROCESSED_KEY = "processed_key";

    public static final String ROLE_ENGINE = "engine";
    public static final String ROLE_DISPATCHER = "dispatcher";

    private MeterNames() {
    }
}
