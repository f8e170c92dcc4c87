package dev.onceflow.dispatcher;

import java.util.Map;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;

/**
 * The largest record the dispatcher can publish, and the size Kafka counts for one record. Every
 * event the dispatcher writes to {@code onceflow.dispatch.bykey} is copied unchanged to
 * {@code onceflow.events}, so its limit is the smallest of the producers' {@code max.request.size}
 * (Kafka Streams' and the sources' producer) and the topics' {@code max.message.bytes}.
 *
 * <p>Why it is checked before sending: a producer refuses a record over {@code max.request.size}
 * with {@code RecordTooLargeException}, and under {@code exactly_once_v2} that error makes the
 * transaction abortable, so the stream thread is replaced and meets the same record again, forever
 * (a {@code ProductionExceptionHandler} cannot help: the transaction is lost either way). So the
 * size is computed where a record enters, with the same framing arithmetic the producer uses, and
 * an oversize record is refused there (dead-lettered, or 413 from the HTTP API).
 *
 * <p>Immutable and thread-safe.
 *
 * @param maxBytes the limit in bytes, as Kafka counts a record (batch header and framing included)
 * @param source   which setting gives the limit, for messages
 */
record RecordSizeLimit(int maxBytes, String source) {

    /** Kafka's default {@code max.request.size}. */
    static final int DEFAULT_MAX_REQUEST_SIZE = 1_048_576;
    static final RecordSizeLimit KAFKA_DEFAULT = new RecordSizeLimit(DEFAULT_MAX_REQUEST_SIZE,
            "max.request.size (Kafka's default)");

    /** A record batch header (magic v2): a record alone in a batch carries it too. */
    static final int BATCH_OVERHEAD = 61;
    /** Length, attributes, timestamp delta and offset delta of one record, at their largest (varints). */
    static final int RECORD_OVERHEAD = 21;
    /** The largest varint for a length. */
    private static final int VARINT = 5;

    RecordSizeLimit {
        if (maxBytes <= BATCH_OVERHEAD + RECORD_OVERHEAD) {
            throw new IllegalArgumentException("record size limit too small: " + maxBytes + " bytes (" + source + ")");
        }
    }

    /**
     * Upper bound of the bytes Kafka counts for one uncompressed record in its own batch, the
     * figure the producer compares with {@code max.request.size} (compression can only shrink the
     * batch the broker compares with {@code max.message.bytes}).
     */
    static int sizeOf(byte[] key, byte[] value, Headers headers) {
        long size = BATCH_OVERHEAD + RECORD_OVERHEAD
                + VARINT + (key == null ? 0 : key.length)
                + VARINT + (value == null ? 0 : value.length)
                + VARINT;
        if (headers != null) {
            for (Header h : headers) {
                size += VARINT + h.key().getBytes(java.nio.charset.StandardCharsets.UTF_8).length
                        + VARINT + (h.value() == null ? 0 : h.value().length);
            }
        }
        return (int) Math.min(Integer.MAX_VALUE, size);
    }

    boolean fits(byte[] key, byte[] value, Headers headers) {
        return sizeOf(key, value, headers) <= maxBytes;
    }

    /** "N bytes, over the limit of M bytes (source)". */
    String over(int size) {
        return size + " bytes, over the limit of " + maxBytes + " bytes (" + source + ")";
    }

    /** The smaller of this limit and {@code other}. */
    RecordSizeLimit min(RecordSizeLimit other) {
        return other == null || maxBytes <= other.maxBytes ? this : other;
    }

    /**
     * The limit of a producer configured with {@code settings} (its {@code max.request.size}, or
     * Kafka's default), named by {@code who} in messages.
     */
    static RecordSizeLimit ofProducer(Map<?, ?> settings, String settingName, String who) {
        Object v = settings.get(settingName);
        if (v == null) {
            return new RecordSizeLimit(DEFAULT_MAX_REQUEST_SIZE, ProducerConfig.MAX_REQUEST_SIZE_CONFIG
                    + " of " + who + " (Kafka's default)");
        }
        try {
            return new RecordSizeLimit(Integer.parseInt(v.toString().trim()), settingName + "=" + v + " of " + who);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(settingName + " of " + who + " must be a whole number, got '" + v + "'", e);
        }
    }
}
