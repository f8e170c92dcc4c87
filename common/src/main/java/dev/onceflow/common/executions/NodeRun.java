package dev.onceflow.common.executions;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Instant;
import java.util.List;

/**
 * One row of {@code processed_keys}: one run (one attempt) of one node of an execution.
 *
 * @param path       the loop iteration or branch, empty on the main path
 * @param status     as stored (the engine's)
 * @param shown      the status an operator reads, derived with the execution's status ({@link ShownStatus#ofNode})
 * @param finishedAt null while started or waiting
 * @param output     null when the node wrote none
 * @param next       the follow-up node ids it chose (empty while it runs, or when it chose none)
 */
public record NodeRun(String processedKey, String nodeId, String path, int attempt, NodeStatus status, ShownStatus shown,
                      Instant startedAt, Instant finishedAt, JsonNode output, String error, List<String> next) {

    public NodeRun {
        next = next == null ? List.of() : List.copyOf(next);
    }
}
