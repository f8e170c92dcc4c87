package dev.onceflow.dispatcher;

import dev.onceflow.common.EventEnvelope;
import dev.onceflow.common.EventKey;
import dev.onceflow.common.OrderKey;
import dev.onceflow.common.workflow.Expressions;
import dev.onceflow.common.workflow.Trigger;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/**
 * Decides which enabled {@code table} workflows a row change starts, and builds their events.
 * Pure: no I/O. A condition that fails to evaluate is not a match but a {@link Routed#failures()
 * failure}, which the capture sends to the DLQ with the reason, so the change is not lost silently.
 */
final class TableRouting {

    /** The outcome of routing one change: events to publish and conditions that failed. */
    record Routed(List<EventEnvelope> events, List<Failure> failures) {
    }

    /** A workflow this change matched but must not start: its condition failed, or the depth limit. */
    record Failure(String workflowId, String eventKey, String errorClass, String reason) {
    }

    static final String CONDITION_FAILED = "ConditionFailed";
    static final String DEPTH_LIMIT = "DEPTH_LIMIT";

    private TableRouting() {
    }

    static Routed route(RowChange change, Collection<WorkflowCatalog.Entry> workflows) {
        return route(change, workflows, 0, Integer.MAX_VALUE);
    }

    /**
     * @param depth    the change's depth: 0 when no execution made it, else its execution's depth + 1 (ADR 0011)
     * @param maxDepth the deepest execution a change may start ({@code dispatcher.table.max.depth})
     */
    static Routed route(RowChange change, Collection<WorkflowCatalog.Entry> workflows, int depth, int maxDepth) {
        return route(change, workflows, depth, maxDepth, new OrderKeys(true, new DispatcherMetrics()));
    }

    /**
     * @param orderKeys gives events of ordered workflows the ordering key {@code workflowId/schema.table/pk}
     *                  ({@link OrderKey#table}, ADR 0020): one row's changes stay in commit order
     */
    static Routed route(RowChange change, Collection<WorkflowCatalog.Entry> workflows, int depth, int maxDepth, OrderKeys orderKeys) {
        List<EventEnvelope> events = new ArrayList<>();
        List<Failure> failures = new ArrayList<>();
        // Built at most once per change, not once per matching workflow.
        java.util.Map<String, Object> vars = null;
        com.fasterxml.jackson.databind.node.ObjectNode data = null;
        for (WorkflowCatalog.Entry entry : workflows) {
            if (!entry.enabled() || !(entry.trigger() instanceof Trigger.Table t) || !t.table().equals(change.table())) {
                continue;
            }
            if (!t.operations().contains(change.op())) {
                continue;
            }
            if ("update".equals(change.op()) && !t.changed().isEmpty() && !change.changedAny(t.changedColumns())) {
                continue;
            }
            String key = EventKey.of(entry.id(), change.commitMs(), change.position()).toString();
            if (t.condition() != null) {
                try {
                    vars = vars == null ? change.conditionVariables() : vars;
                    if (!Expressions.test(t.condition(), vars)) {
                        continue;
                    }
                } catch (IllegalArgumentException e) {
                    failures.add(new Failure(entry.id(), key, CONDITION_FAILED, "table trigger condition of workflow '"
                            + entry.id() + "': " + e.getMessage()));
                    continue;
                }
            }
            if (depth > maxDepth) {
                failures.add(new Failure(entry.id(), key, DEPTH_LIMIT, "change of " + change.table() + " made by an execution "
                        + "at depth " + (depth - 1) + " would start workflow '" + entry.id() + "' at depth " + depth
                        + ", past dispatcher.table.max.depth " + maxDepth + ": a workflow that triggers itself, directly or "
                        + "through other workflows? Nothing started"));
                continue;
            }
            data = data == null ? change.data() : data;
            events.add(orderKeys.apply(new EventEnvelope(key, entry.id(), entry.version(), change.commitMs(), data,
                    "table:" + change.table() + "@" + change.lsn(), change.commitMs(), depth), entry,
                    () -> OrderKey.table(entry.id(), entry.ordered(), change.table(), change.pk())));
        }
        return new Routed(events, failures);
    }

    /** The tables that enabled table workflows watch, and whether any of them needs the old row. */
    static java.util.Map<String, Boolean> watchedTables(Collection<WorkflowCatalog.Entry> workflows) {
        java.util.Map<String, Boolean> tables = new java.util.TreeMap<>();
        for (WorkflowCatalog.Entry entry : workflows) {
            if (entry.enabled() && entry.trigger() instanceof Trigger.Table t) {
                tables.merge(t.table(), !t.changed().isEmpty(), Boolean::logicalOr);
            }
        }
        return tables;
    }
}
