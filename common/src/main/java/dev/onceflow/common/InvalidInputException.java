package dev.onceflow.common;

/**
 * Input that can never be processed, whatever is retried: it goes to the DLQ with {@link #reason()}
 * as the error class header and the message naming the cause. Kept apart from system errors
 * (broker or database down), which are retried and never dead-lettered.
 */
public final class InvalidInputException extends Exception {

    /** Why a record was rejected; the DLQ header {@value Topics#H_ERROR_CLASS} carries the name. */
    public enum Reason {
        MALFORMED_JSON, MISSING_FIELD, INVALID_FIELD, UNKNOWN_WORKFLOW, DISABLED_WORKFLOW, UNKNOWN_NODE,
        /** The engine failed on this record, by a permanent error, as often as it may (engine.poison.max.attempts). */
        PROCESSING_FAILED
    }

    private final Reason reason;

    public InvalidInputException(Reason reason, String message) {
        super(message);
        this.reason = reason;
    }

    public Reason reason() {
        return reason;
    }
}
