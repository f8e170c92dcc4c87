package dev.onceflow.engine;

/**
 * The {@code processed_keys.status} values: {@link #STARTED} while the claiming transaction runs
 * (never seen committed for a node run inside the batch transaction), {@link #WAITING} for a node
 * whose follow-ups wait on a timer (ADR 0013), then {@link #SUCCEEDED} or {@link #FAILED}.
 */
enum NodeStatus {
    STARTED, WAITING, SUCCEEDED, FAILED;

    String db() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }

    static NodeStatus of(String db) {
        return valueOf(db.toUpperCase(java.util.Locale.ROOT));
    }
}
