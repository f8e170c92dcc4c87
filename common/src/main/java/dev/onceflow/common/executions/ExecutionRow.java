package dev.onceflow.common.executions;

import java.time.Instant;

/**
 * One row of {@code executions} as listed: without its trigger and variables.
 *
 * @param status       as stored (the engine's)
 * @param waitsOnTimer whether an unfired delay or retry timer of it exists (read with the row)
 * @param finishedAt   null while the execution runs or waits
 * @param error        null unless it failed or was cancelled
 */
public record ExecutionRow(long id, String eventKey, String workflowId, int workflowVersion, ExecutionStatus status,
                           boolean waitsOnTimer, Instant createdAt, Instant finishedAt, String error) {

    /** The status an operator reads ({@link ShownStatus}). */
    public ShownStatus shown() {
        return ShownStatus.ofExecution(status, waitsOnTimer);
    }
}
