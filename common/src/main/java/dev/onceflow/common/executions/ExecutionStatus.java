package dev.onceflow.common.executions;

import java.util.Optional;

/**
 * The {@code executions.status} values (migration {@code V1__core.sql}'s check constraint). Only
 * {@link #RUNNING} executions advance; {@link #CANCELLED} is set by an operator (ADR 0016).
 */
public enum ExecutionStatus {
    RUNNING, SUCCEEDED, FAILED, CANCELLED,
    /** Waiting for its turn in its lane (ADR 0021): created, nothing of it ran yet. Not finished. */
    QUEUED,
    /** Replaced by a later event of its lane within its workflow's debounce window (ADR 0021); never ran. Finished. */
    SUPERSEDED;

    /** Whether the execution has ended (its {@code finished_at} is set). */
    public boolean finished() {
        return this != RUNNING && this != QUEUED;
    }

    /** The column's spelling. */
    public String db() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }

    /** The value spelled {@code db} exactly as the column holds it, if any. */
    public static Optional<ExecutionStatus> parse(String db) {
        for (ExecutionStatus s : values()) {
            if (s.db().equals(db)) {
                return Optional.of(s);
            }
        }
        return Optional.empty();
    }

    /** The value of a column read from the database (the check constraint admits no other). */
    public static ExecutionStatus of(String db) {
        return parse(db).orElseThrow(() -> new IllegalStateException("executions.status '" + db + "' is not one Onceflow writes"));
    }
}
