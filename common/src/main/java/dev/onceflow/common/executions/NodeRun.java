package dev.onceflow.common.executions;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Instant;

/**
 * One row of {@code processed_keys}: one run (one attempt) of one node of an execution.
 *
 * @param path       the loop iteration or branch, empty on the main path
 * @param finishedAt null while started or waiting
 * @param output     null when the node wrote none
 */
public record NodeRun(String processedKey, String nodeId, String path, int attempt, NodeStatus status, Instant startedAt,
                      Instant finishedAt, JsonNode output, String error) {
}
