package dev.onceflow.dispatcher;

import java.util.Objects;
import java.util.Optional;

/**
 * The dispatcher's view of deployed workflows: the latest version of each id and whether new
 * events may start it. Implementations must be thread-safe: every stream thread calls
 * {@link #find} for every trigger record, so lookups must be cheap (no I/O on a hit).
 */
public interface WorkflowCatalog {

    /** The latest version of {@code workflowId}, or empty when no such workflow is deployed. */
    Optional<Entry> find(String workflowId);

    /** Every deployed workflow (latest versions), for sources that fire on their own (schedules). */
    default java.util.Collection<Entry> all() {
        return java.util.List.of();
    }

    /**
     * One deployed workflow as the dispatcher needs it; {@code trigger} may be null in tests.
     * {@code ordered}: its version's {@code order} is {@code key} (ADR 0020), so its events get an
     * ordering key.
     */
    record Entry(String id, int version, boolean enabled, dev.onceflow.common.workflow.Trigger trigger, boolean ordered) {
        public Entry {
            Objects.requireNonNull(id, "id");
            if (version < 1) {
                throw new IllegalArgumentException("workflow '" + id + "': version must be at least 1, got " + version);
            }
        }

        /** A workflow with its trigger's default order ({@link dev.onceflow.common.workflow.Workflow#effectiveOrder()}). */
        public Entry(String id, int version, boolean enabled, dev.onceflow.common.workflow.Trigger trigger) {
            this(id, version, enabled, trigger, !(trigger instanceof dev.onceflow.common.workflow.Trigger.Schedule));
        }

        public Entry(String id, int version, boolean enabled) {
            this(id, version, enabled, null);
        }
    }
}
