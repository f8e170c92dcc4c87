package dev.onceflow.common.workflow;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.regex.Pattern;

/**
 * A node's retry policy ({@code "retry": {...}} on any node): how many attempts in all, how long
 * to wait between them, and which errors are worth another attempt. The compact constructor only
 * fills in defaults, so after construction no component is null; {@link WorkflowValidator} checks
 * the ranges at deploy. Immutable and pure, hence thread-safe.
 *
 * <p>{@code on} lists error classes: {@code timeout}, {@code connection}, {@code 5xx}, {@code 4xx},
 * {@code 429} (HTTP statuses), a SQLSTATE ({@code 40001}), a SQLSTATE class ({@code 08} covers
 * every {@code 08xxx}), or {@code any}. The engine names a failure's class with
 * {@link #retries(String)}'s vocabulary: {@code timeout}, {@code connection}, the HTTP status as
 * three digits ({@code 503}), the SQLSTATE as five characters ({@code 40001}), or another word for
 * a failure none of those describe (which only {@code any} retries).
 *
 * @param attempts     attempts in all, the first included (1 = never retry); default {@value #DEFAULT_ATTEMPTS}
 * @param backoffMs    the wait before the second attempt; default {@value #DEFAULT_BACKOFF_MS}
 * @param maxBackoffMs the longest wait before jitter; default {@value #DEFAULT_MAX_BACKOFF_MS}
 * @param jitter       the spread around each wait, 0.0 to 1.0; default {@value #DEFAULT_JITTER}
 * @param on           the error classes that are retried; default {@link #DEFAULT_ON}
 */
public record RetryPolicy(Integer attempts, Long backoffMs, Long maxBackoffMs, Double jitter, List<String> on) {

    public static final int DEFAULT_ATTEMPTS = 3;
    public static final long DEFAULT_BACKOFF_MS = 1_000;
    public static final long DEFAULT_MAX_BACKOFF_MS = 60_000;
    public static final double DEFAULT_JITTER = 0.2;
    public static final List<String> DEFAULT_ON = List.of("timeout", "connection", "5xx", "429");

    public static final int MAX_ATTEMPTS = 100;
    /** Longest wait between attempts: a backoff is a durable timer, as a delay is, and has the same bound. */
    public static final long MAX_WAIT_MS = Node.Delay.MAX_MS;

    /** The words {@code on} accepts besides SQLSTATEs and SQLSTATE classes. */
    static final List<String> WORDS = List.of("timeout", "connection", "5xx", "429", "4xx", "any");
    static final Pattern SQLSTATE = Pattern.compile("[0-9A-Z]{5}");
    static final Pattern SQLSTATE_CLASS = Pattern.compile("[0-9A-Z]{2}");
    private static final Pattern HTTP_STATUS = Pattern.compile("[1-5][0-9]{2}");

    public RetryPolicy {
        attempts = attempts == null ? DEFAULT_ATTEMPTS : attempts;
        backoffMs = backoffMs == null ? DEFAULT_BACKOFF_MS : backoffMs;
        maxBackoffMs = maxBackoffMs == null ? DEFAULT_MAX_BACKOFF_MS : maxBackoffMs;
        jitter = jitter == null ? DEFAULT_JITTER : jitter;
        // a copy that keeps null entries, so that the validator can name them
        on = on == null ? DEFAULT_ON : Collections.unmodifiableList(new ArrayList<>(on));
    }

    /** The defaults: 3 attempts, 1 s doubling up to 60 s, jitter 0.2, on timeout, connection, 5xx and 429. */
    public static RetryPolicy defaults() {
        return new RetryPolicy(null, null, null, null, null);
    }

    /**
     * The wait after failed attempt {@code attempt} (1 for the first), before the next one:
     * {@code backoffMs * 2^(attempt-1)}, capped at {@code maxBackoffMs}, then multiplied by
     * {@code 1 - jitter + 2 * jitter * random01}, so it lands within ±jitter of the capped value;
     * never below 0. Pure: the caller draws {@code random01} (0 to 1).
     */
    public long backoffMs(int attempt, double random01) {
        if (attempt < 1) {
            throw new IllegalArgumentException("attempt must be 1 or more, got " + attempt);
        }
        if (!(random01 >= 0 && random01 <= 1)) {
            throw new IllegalArgumentException("random01 must be between 0 and 1, got " + random01);
        }
        long base = Math.max(0, backoffMs);
        long cap = Math.max(0, maxBackoffMs);
        int doublings = attempt - 1;
        // base * 2^doublings > cap exactly when base > floor(cap / 2^doublings); so no overflow
        long exponential = doublings >= 63 ? (base == 0 ? 0 : cap)
                : base > (cap >> doublings) ? cap : base << doublings;
        double spread = Math.min(1, Math.max(0, jitter));
        double jittered = exponential * (1 - spread + 2 * spread * random01);
        return Math.max(0, Math.round(jittered));
    }

    /** Whether a failure of this class gets another attempt (attempts left aside): see the class comment for the names. */
    public boolean retries(String errorClass) {
        if (errorClass == null) {
            return on.contains("any");
        }
        for (String entry : on) {
            if (entry == null) {
                continue;
            }
            if (entry.equals("any") || entry.equals(errorClass)) {
                return true;
            }
            boolean status = HTTP_STATUS.matcher(errorClass).matches();
            if (status && (entry.equals("5xx") || entry.equals("4xx")) && errorClass.charAt(0) == entry.charAt(0)) {
                return true;
            }
            if (SQLSTATE_CLASS.matcher(entry).matches() && SQLSTATE.matcher(errorClass).matches()
                    && errorClass.startsWith(entry)) {
                return true;
            }
        }
        return false;
    }
}
