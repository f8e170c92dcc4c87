package dev.onceflow.common.tracing;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * A W3C trace context {@code traceparent} ({@code 00-<trace id>-<parent span id>-<flags>}), the
 * one header that carries a trace through Onceflow's records (ADR 0019): on the trigger record or
 * the API call, on {@code onceflow.events}, {@code onceflow.tasks} and {@code onceflow.outcomes},
 * and on an {@code http} node's request. Also the ids Onceflow derives from its own keys, so that
 * every redelivery of an event names the same execution span and every node run the same span.
 *
 * @param traceId 32 lower-case hex digits, not all zero
 * @param spanId  16 lower-case hex digits, not all zero: the span the receiver is a child of
 * @param flags   the trace flags; bit 0 is "sampled"
 */
public record Traceparent(String traceId, String spanId, int flags) {

    /** The header's name, on Kafka records and HTTP requests alike. */
    public static final String HEADER = "traceparent";

    private static final Pattern FORM = Pattern.compile("([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?");
    private static final String ZERO_TRACE = "0".repeat(32);
    private static final String ZERO_SPAN = "0".repeat(16);

    public Traceparent {
        if (traceId == null || !traceId.matches("[0-9a-f]{32}") || traceId.equals(ZERO_TRACE)) {
            throw new IllegalArgumentException("trace id must be 32 lower-case hex digits, not all zero: " + traceId);
        }
        if (spanId == null || !spanId.matches("[0-9a-f]{16}") || spanId.equals(ZERO_SPAN)) {
            throw new IllegalArgumentException("span id must be 16 lower-case hex digits, not all zero: " + spanId);
        }
        if (flags < 0 || flags > 0xff) {
            throw new IllegalArgumentException("trace flags must be one byte, got " + flags);
        }
    }

    /**
     * The header's value when it is a valid {@code traceparent}, else empty: an invalid one is
     * ignored, as the W3C specification asks (the trace restarts; the record is not refused).
     * Later versions are read by their version-00 prefix.
     */
    public static Optional<Traceparent> parse(String value) {
        if (value == null) {
            return Optional.empty();
        }
        var m = FORM.matcher(value.trim());
        if (!m.matches() || m.group(1).equals("ff") || (m.group(1).equals("00") && m.group(5) != null)) {
            return Optional.empty();
        }
        if (m.group(2).equals(ZERO_TRACE) || m.group(3).equals(ZERO_SPAN)) {
            return Optional.empty();
        }
        return Optional.of(new Traceparent(m.group(2), m.group(3), Integer.parseInt(m.group(4), 16)));
    }

    /** The header of one of Onceflow's records, null when absent, invalid or not UTF-8 text. */
    public static Optional<Traceparent> parse(byte[] value) {
        return value == null ? Optional.empty() : parse(new String(value, StandardCharsets.UTF_8));
    }

    /**
     * The context of an event that arrived without one: a trace id and the execution span's id,
     * both derived from the event key, so the dispatcher, the engine and every redelivery agree.
     * The engine recognises it (its span id is the execution span's own) and starts a root span.
     */
    public static Traceparent ofEvent(String eventKey) {
        return new Traceparent(traceId(eventKey), executionSpanId(eventKey), 1);
    }

    /** {@code 00-<trace id>-<span id>-<flags>} */
    public String header() {
        return "00-" + traceId + "-" + spanId + "-" + String.format("%02x", flags);
    }

    public boolean sampled() {
        return (flags & 1) == 1;
    }

    /** The same trace, with {@code span} as the receiver's parent. */
    public Traceparent child(String span) {
        return new Traceparent(traceId, span, flags);
    }

    /** The trace id of an event that came without one: a hash of its key. */
    public static String traceId(String eventKey) {
        return hash("trace\u0000" + eventKey, 16);
    }

    /** The id of the execution span of the event {@code eventKey}: every engine, every redelivery, the same. */
    public static String executionSpanId(String eventKey) {
        return hash("execution\u0000" + eventKey, 8);
    }

    /**
     * The id of the span of the node run {@code processedKey} (attempts have keys of their own):
     * known before the run's outcome, so an {@code http} call made earlier can name it as its parent.
     */
    public static String nodeSpanId(String processedKey) {
        return hash("node\u0000" + processedKey, 8);
    }

    private static String hash(String text, int bytes) {
        byte[] digest;
        try {
            digest = MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every Java platform", e);
        }
        byte[] id = java.util.Arrays.copyOf(digest, bytes);
        boolean zero = true;
        for (byte b : id) {
            zero &= b == 0;
        }
        if (zero) {
            id[bytes - 1] = 1; // all-zero ids are invalid; a chance of 2^-64 at most
        }
        return HexFormat.of().formatHex(id);
    }
}
