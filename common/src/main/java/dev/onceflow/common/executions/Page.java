package dev.onceflow.common.executions;

import java.util.List;

/**
 * One page of executions, newest first.
 *
 * @param nextCursor the id to pass as the next page's cursor, or null on the last page
 */
public record Page(List<ExecutionRow> items, Long nextCursor) {

    public Page {
        items = List.copyOf(items);
    }
}
