package dev.onceflow.common.executions;

import java.time.Instant;

/**
 * One row of {@code executions} as listed: without its trigger and variables.
 *
 * @param finishedAt null while the execution runs or waits
 * @param error      null unless it failed or was cancelled
 */
public record ExecutionRow(long id, String eventKey, String workflowId, int workflowVersion, ExecutionStatus status,
                           Instant createdAt, Instant finishedAt, String error) {
}
