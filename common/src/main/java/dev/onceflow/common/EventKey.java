package dev.onceflow.common;

import java.util.Objects;
import java.util.regex.Pattern;

/**
 * The identity of one event, identical on every redelivery: {@code workflowId@timestamp[#discriminator]}.
 *
 * <p>For a schedule tick the timestamp is the tick's fire time in epoch milliseconds
 * ({@code nightly-report@1736442000000}). Where several distinct events can share a time, a
 * discriminator follows {@code #}: the publisher's event id when it sends one, else the source
 * position ({@code topic-partition-offset} for Kafka). Workflow ids cannot contain {@code @} or
 * {@code #}, so the first {@code @} and the first {@code #} after it delimit the parts; the
 * discriminator itself may contain any character.
 *
 * <p>Immutable and thread-safe.
 */
public record EventKey(String workflowId, long timestamp, String discriminator) {

    /** Workflow ids: letters, digits, '.', '_' and '-', starting with a letter or digit, at most 128 characters. */
    public static final Pattern WORKFLOW_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");

    public EventKey {
        Objects.requireNonNull(workflowId, "workflowId");
        if (!WORKFLOW_ID.matcher(workflowId).matches()) {
            throw new IllegalArgumentException("invalid workflow id '" + workflowId
                    + "': use letters, digits, '.', '_' and '-' (at most 128, starting with a letter or digit)");
        }
        if (timestamp < 0) {
            throw new IllegalArgumentException("event timestamp must not be negative: " + timestamp);
        }
        if (discriminator != null && discriminator.isEmpty()) {
            discriminator = null;
        }
    }

    public static EventKey of(String workflowId, long timestamp) {
        return new EventKey(workflowId, timestamp, null);
    }

    public static EventKey of(String workflowId, long timestamp, String discriminator) {
        return new EventKey(workflowId, timestamp, discriminator);
    }

    /** Parses the printed form; the inverse of {@link #toString()}. */
    public static EventKey parse(String text) {
        Objects.requireNonNull(text, "event key");
        int at = text.indexOf('@');
        if (at <= 0) {
            throw new IllegalArgumentException("invalid event key '" + text + "': expected workflowId@timestamp[#discriminator]");
        }
        int hash = text.indexOf('#', at + 1);
        String time = hash < 0 ? text.substring(at + 1) : text.substring(at + 1, hash);
        if (time.isEmpty() || !time.chars().allMatch(Character::isDigit) || time.length() > 19) {
            throw new IllegalArgumentException("invalid event key '" + text + "': timestamp '" + time + "' is not epoch milliseconds");
        }
        long ts;
        try {
            ts = Long.parseLong(time);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("invalid event key '" + text + "': timestamp out of range", e);
        }
        String disc = hash < 0 ? null : text.substring(hash + 1);
        if (disc != null && disc.isEmpty()) {
            throw new IllegalArgumentException("invalid event key '" + text + "': empty discriminator after '#'");
        }
        return new EventKey(text.substring(0, at), ts, disc);
    }

    /** The discriminator for a record read from Kafka without a publisher id. */
    public static String sourcePosition(String topic, int partition, long offset) {
        return topic + "-" + partition + "-" + offset;
    }

    @Override
    public String toString() {
        return discriminator == null
                ? workflowId + "@" + timestamp
                : workflowId + "@" + timestamp + "#" + discriminator;
    }
}
