package dev.onceflow.common;

/** A record of {@value Topics#OUTCOMES}, keyed by event key: one per finished execution. */
public record Outcome(String eventKey, long executionId, String workflow, int version, String status, String error,
                      long finishedAt, long publishedAt) {
}
