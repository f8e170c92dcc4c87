package dev.onceflow.common.workflow;

import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import dev.onceflow.common.Topics;
import java.time.Instant;

/** What starts executions of a workflow. Tagged by {@code type} in JSON. */
@JsonTypeInfo(use = JsonTypeInfo.Id.NAME, property = "type")
@JsonSubTypes({
        @JsonSubTypes.Type(value = Trigger.Kafka.class, name = "kafka"),
        @JsonSubTypes.Type(value = Trigger.Schedule.class, name = "schedule"),
        @JsonSubTypes.Type(value = Trigger.Api.class, name = "api"),
        @JsonSubTypes.Type(value = Trigger.Table.class, name = "table"),
})
public sealed interface Trigger {

    /**
     * Records on a Kafka topic. On {@value Topics#TRIGGERS} (the default) a record is a trigger
     * record naming its workflow. On any other topic every JSON object record starts this
     * workflow with the record as its data; {@code id} and {@code time} are optional JSON pointers
     * (e.g. {@code /orderId}) to the record's identity and time. Without an id, the source position
     * {@code topic-partition-offset} tells records apart. {@code orderKey}, optional, is a JSON
     * pointer into the event's data (the record on a user topic, the trigger record's {@code data}
     * on {@value Topics#TRIGGERS}) naming the ordering key (ADR 0020); without it, or where it
     * leads nowhere, the record's key is the ordering key.
     */
    record Kafka(String topic, String id, String time, String orderKey) implements Trigger {
        public Kafka {
            topic = topic == null || topic.isBlank() ? Topics.TRIGGERS : topic;
            orderKey = orderKey == null || orderKey.isEmpty() ? null : orderKey;
        }

        /** A kafka trigger whose ordering key is the record's key. */
        public Kafka(String topic, String id, String time) {
            this(topic, id, time, null);
        }

        public boolean userTopic() {
            return !Topics.TRIGGERS.equals(topic);
        }
    }

    /**
     * HTTP: {@code POST /api/workflows/{id}/trigger} on a dispatcher, with an optional
     * {@code Idempotency-Key}. The ordering key (ADR 0020) is the call's {@code Order-Key} header,
     * else the value at {@code orderKey} (optional, a JSON pointer into the body); a call with
     * neither is a sequence of one.
     */
    record Api(String orderKey) implements Trigger {
        public Api {
            orderKey = orderKey == null || orderKey.isEmpty() ? null : orderKey;
        }

        /** An api trigger without a pointer: only the {@code Order-Key} header orders calls. */
        public Api() {
            this(null);
        }
    }

    /**
     * A cron schedule ({@code cron}, 5 fields or 6 with seconds first, in {@code zone}) or a fixed
     * {@code intervalMs}. Every dispatcher replica fires every tick with the event key
     * {@code workflowId@fireTimeMillis}, so replicas agree on the key and duplicates are absorbed.
     * Ticks missed while no dispatcher ran follow {@code misfire}: {@code fire-once} (default: one
     * event for the latest missed tick), {@code fire-all} (at most {@code maxMisfires}, default
     * 100), {@code skip}. Ticks outside [{@code start}, {@code end}) never fire. {@code limit}
     * (optional, needs {@code start}) is the most ticks the schedule ever fires: only the first
     * {@code limit} ticks at or after {@code start} fire, a property of the tick times alone, so
     * every replica agrees without counting executions (NocoBase's schedule {@code limit}).
     */
    record Schedule(String cron, Long intervalMs, String zone, String misfire, Integer maxMisfires, Instant start,
                    Instant end, Integer limit) implements Trigger {
        /** Largest {@code limit}: the last tick is found by walking the ticks once. */
        public static final int MAX_LIMIT = 100_000;
        public static final String FIRE_ONCE = "fire-once";
        public static final String FIRE_ALL = "fire-all";
        public static final String SKIP = "skip";

        public Schedule {
            zone = zone == null || zone.isBlank() ? "UTC" : zone;
            misfire = misfire == null || misfire.isBlank() ? FIRE_ONCE : misfire;
            maxMisfires = maxMisfires == null ? 100 : maxMisfires;
        }

        /** A schedule without a limit. */
        public Schedule(String cron, Long intervalMs, String zone, String misfire, Integer maxMisfires, Instant start,
                        Instant end) {
            this(cron, intervalMs, zone, misfire, maxMisfires, start, end, null);
        }
    }

    /**
     * Row changes on a PostgreSQL table, captured by the dispatcher with Debezium ({@code pgoutput}).
     * {@code table} is {@code schema.table} or a bare name in {@code public}, written as in SQL
     * ({@link TableName}: {@code "orderItems"} quoted keeps its case) and kept in its canonical
     * text ({@code public."orderItems"}). {@code operations}
     * is a subset of {@code insert}, {@code update}, {@code delete} (default: all three). With
     * {@code changed} (column names written as in SQL: {@code "createdAt"}, {@code nickname}),
     * an update fires only when one of those columns changed (the table is given
     * {@code REPLICA IDENTITY FULL} so that the old row is known). {@code condition} is an
     * expression over {@code op}, {@code row} (the new row, or the old one for a delete),
     * {@code before} and {@code after} that must yield true for the change to fire. The event key is
     * {@code workflowId@commitTimeMillis#lsn:txId:table:pk}, the change's source position, so a
     * replay after a crash maps to the same keys.
     */
    record Table(String table, java.util.List<String> operations, java.util.List<String> changed, String condition)
            implements Trigger {
        public static final java.util.List<String> OPERATIONS = java.util.List.of("insert", "update", "delete");

        public Table {
            if (table != null && !table.isBlank()) {
                try {
                    table = TableName.parse(table).toString();
                } catch (IllegalArgumentException e) {
                    // kept as written: the validator reports why it is not a table name
                }
            }
            operations = operations == null || operations.isEmpty() ? OPERATIONS : java.util.List.copyOf(operations);
            changed = changed == null ? java.util.List.of() : changed.stream().map(Table::canonicalColumn).toList();
            condition = condition == null || condition.isBlank() ? null : condition;
        }

        private static String canonicalColumn(String column) {
            try {
                return TableName.quoteIfNeeded(TableName.column(column));
            } catch (IllegalArgumentException e) {
                return column; // kept as written: the validator reports it
            }
        }

        /** The table as the catalog names it. @throws IllegalArgumentException when {@code table} is not a table name */
        public TableName tableName() {
            return TableName.parse(table);
        }

        /**
         * The {@code changed} columns as the catalog names them, i.e. as they appear in the captured
         * rows ({@code "createdAt"} → {@code createdAt}).
         *
         * @throws IllegalArgumentException when one is not a column name (the validator refuses such a definition)
         */
        public java.util.List<String> changedColumns() {
            return changed.stream().map(TableName::column).toList();
        }
    }
}
