package dev.onceflow.engine;

/**
 * Seams for fault injection in guarantee tests and chaos runs. Production uses {@link #NONE}.
 * Implementations are called from worker threads and must be thread-safe.
 */
public interface EngineHooks {

    EngineHooks NONE = new EngineHooks() {
    };

    /**
     * Called after a batch's PostgreSQL transaction committed and before its Kafka transaction
     * begins. Throwing here is a crash between the two commits: the batch's records are delivered
     * again, and the processed keys must keep every node from running twice.
     */
    default void afterDatabaseCommit(String worker, int records) {
    }

    /**
     * Called after a worker's {@code http} calls were answered and before their outcomes are
     * recorded. Throwing here is an engine that died between call and record: the outcomes are
     * lost, and the calls' lease timers deliver their tasks again (design, "HTTP").
     */
    default void afterHttpCalls(String worker, java.util.List<String> keys) {
    }

    /**
     * Called after long statements committed their own PostgreSQL transactions and before the
     * worker's Kafka transaction produces what they recorded (ADR 0021). Throwing here is an engine
     * that died between those two commits: the records are lost, and the statements' lease timers
     * deliver their tasks again, which find the keys processed and produce the follow-ups.
     */
    default void afterLongStatements(String worker, java.util.List<String> keys) {
    }
}
