package dev.onceflow.common.executions;

/**
 * The {@code processed_keys.status} values (migrations {@code V1__core.sql} and
 * {@code V4__waiting_executions.sql}): {@link #STARTED} while the claiming transaction runs (never
 * seen committed for a node run inside the batch transaction), {@link #WAITING} for a node whose
 * follow-ups wait on a timer (ADR 0013), then {@link #SUCCEEDED} or {@link #FAILED}.
 */
public enum NodeStatus {
    STARTED, WAITING, SUCCEEDED, FAILED;

    /** The column's spelling. */
    public String db() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }

    /** The value of a column read from the database (the check constraint admits no other). */
    public static NodeStatus of(String db) {
        for (NodeStatus s : values()) {
            if (s.db().equals(db)) {
                return s;
            }
        }
        throw new IllegalStateException("processed_keys.status '" + db + "' is not one Onceflow writes");
    }
}
