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

    /** One deployed workflow as the dispatcher needs it; {@code trigger} may be null in tests. */
    record Entry(String id, int version, boolean enabled, dev.onceflow.common.workflow.Trigger trigger) {
        public Entry {
            Objects.requireNonNull(id, "id");
            if (version < 1) {
                throw new IllegalArgumentException("workflow '" + id + "': version must be at least 1, got " + version);
            }
        }

        public Entry(String id, int version, boolean enabled) {
            this(id, version, enabled, null);
        }
    }
}
