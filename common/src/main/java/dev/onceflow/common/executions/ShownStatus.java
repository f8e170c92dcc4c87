package dev.onceflow.common.executions;

import java.util.Arrays;
import java.util.Locale;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * The one status vocabulary an operator reads, for executions and their node runs alike, in the
 * admin API, the CLI and the console: {@code running}, {@code waiting}, {@code succeeded},
 * {@code failed}, {@code cancelled}, {@code queued}, {@code superseded}. Derived when reading from what the engine stores
 * ({@link ExecutionStatus}, {@link NodeStatus}); never written back, because the engine's replay
 * reads {@code processed_keys.status} and owns those rows.
 *
 * <ul>
 *   <li>An execution stored {@code running} is {@link #WAITING} while it waits on a timer (a delay
 *       node, or the backoff before a node's next attempt) and nothing of it runs; otherwise
 *       {@link #RUNNING}. The two are disjoint: a filter on either finds what the list shows.</li>
 *   <li>A node run stored {@code started} is {@link #RUNNING} (an http call in flight); one stored
 *       {@code waiting} is {@link #WAITING}; of a cancelled execution, both are
 *       {@link #CANCELLED}: nothing of it runs any more.</li>
 * </ul>
 */
public enum ShownStatus {
    RUNNING, WAITING, SUCCEEDED, FAILED, CANCELLED,
    /** Waiting for the executions ahead of it in its lane (ADR 0021). */
    QUEUED,
    /** Replaced, unrun, by a later event of its ordering key within the workflow's debounce window (ADR 0021). */
    SUPERSEDED;

    /** The word the API, the CLI and the console use. */
    public String word() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** "running, waiting, succeeded, failed, cancelled, queued or superseded", for messages and option descriptions. */
    public static String words() {
        String all = Arrays.stream(values()).map(ShownStatus::word).collect(Collectors.joining(", "));
        int last = all.lastIndexOf(", ");
        return all.substring(0, last) + " or " + all.substring(last + 2);
    }

    /** The status spelled {@code word}, if any. */
    public static Optional<ShownStatus> parse(String word) {
        for (ShownStatus s : values()) {
            if (s.word().equals(word)) {
                return Optional.of(s);
            }
        }
        return Optional.empty();
    }

    /**
     * An execution's status as shown.
     *
     * @param waitsOnTimer whether an unfired delay or retry timer of it exists
     */
    public static ShownStatus ofExecution(ExecutionStatus stored, boolean waitsOnTimer) {
        return switch (stored) {
            case RUNNING -> waitsOnTimer ? WAITING : RUNNING;
            case SUCCEEDED -> SUCCEEDED;
            case FAILED -> FAILED;
            case CANCELLED -> CANCELLED;
            case QUEUED -> QUEUED;
            case SUPERSEDED -> SUPERSEDED;
        };
    }

    /** A node run's status as shown, given the stored status of its execution. */
    public static ShownStatus ofNode(NodeStatus stored, ExecutionStatus execution) {
        boolean unfinished = stored == NodeStatus.STARTED || stored == NodeStatus.WAITING;
        if (unfinished && execution == ExecutionStatus.CANCELLED) {
            return CANCELLED;
        }
        return switch (stored) {
            case STARTED -> RUNNING;
            case WAITING -> WAITING;
            case SUCCEEDED -> SUCCEEDED;
            case FAILED -> FAILED;
        };
    }
}
