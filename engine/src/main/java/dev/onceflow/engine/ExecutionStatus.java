package dev.onceflow.engine;

/** The {@code executions.status} values. Only {@link #RUNNING} executions advance. */
enum ExecutionStatus {
    RUNNING, SUCCEEDED, FAILED, CANCELLED;

    /** The column's spelling. */
    String db() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }

    static ExecutionStatus of(String db) {
        return valueOf(db.toUpperCase(java.util.Locale.ROOT));
    }
}
