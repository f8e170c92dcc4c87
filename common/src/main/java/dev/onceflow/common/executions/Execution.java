package dev.onceflow.common.executions;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Instant;

/**
 * One row of {@code executions} in full: the listed columns plus what a task of it carries.
 *
 * @param trigger     the trigger data ({@code executions.trigger}, a JSON object)
 * @param vars        the variables ({@code executions.vars}, a JSON object)
 * @param depth       row changes by executions that led to this one (ADR 0011)
 * @param publishedAt when its event was published, or null when unknown
 */
public record Execution(ExecutionRow row, JsonNode trigger, JsonNode vars, int depth, Instant publishedAt, String orderingKey) {

    /** An execution without a lane. */
    public Execution(ExecutionRow row, JsonNode trigger, JsonNode vars, int depth, Instant publishedAt) {
        this(row, trigger, vars, depth, publishedAt, null);
    }

    public long id() {
        return row.id();
    }

    public String eventKey() {
        return row.eventKey();
    }

    public ExecutionStatus status() {
        return row.status();
    }

    /** The status an operator reads ({@link ShownStatus}). */
    public ShownStatus shown() {
        return row.shown();
    }
}
