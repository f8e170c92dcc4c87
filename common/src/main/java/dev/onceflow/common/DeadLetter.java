package dev.onceflow.common;

import java.nio.charset.StandardCharsets;
import java.util.Objects;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;

/**
 * Why and from where one record went to {@value Topics#DLQ}: the reason headers every
 * dead-letter record carries ({@value Topics#H_ERROR_CLASS}, {@value Topics#H_ERROR_MESSAGE},
 * {@value Topics#H_SOURCE_TOPIC}, {@value Topics#H_SOURCE_PARTITION}, {@value Topics#H_SOURCE_OFFSET}),
 * built in one place. A record dead-lettered again carries one reason: each header replaces any
 * header of the same name. Immutable and thread-safe.
 *
 * @param errorClass   the cause's type: an {@link InvalidInputException.Reason} name, an
 *                     exception class name, or another stable word operators can filter on
 * @param message      what went wrong, naming the cause
 * @param sourceTopic  where the record was read ({@code postgres:schema.table} for row changes)
 * @param sourceOffset the offset in that topic (the lsn for row changes)
 */
public record DeadLetter(String errorClass, String message, String sourceTopic, int sourcePartition, long sourceOffset) {

    public DeadLetter {
        Objects.requireNonNull(errorClass, "errorClass");
        message = String.valueOf(message);
        sourceTopic = String.valueOf(sourceTopic);
    }

    /** A copy of {@code original} (may be null) with this reason's headers in place of any of the same name. */
    public Headers headers(Headers original) {
        Headers headers = new RecordHeaders(original == null ? new Header[0] : original.toArray());
        put(headers, Topics.H_ERROR_CLASS, errorClass);
        put(headers, Topics.H_ERROR_MESSAGE, message);
        put(headers, Topics.H_SOURCE_TOPIC, sourceTopic);
        put(headers, Topics.H_SOURCE_PARTITION, String.valueOf(sourcePartition));
        put(headers, Topics.H_SOURCE_OFFSET, String.valueOf(sourceOffset));
        return headers;
    }

    /** The record for {@value Topics#DLQ}: the original key and value with the reason headers. */
    public ProducerRecord<byte[], byte[]> record(byte[] key, byte[] value, Headers original) {
        return new ProducerRecord<>(Topics.DLQ, null, key, value, headers(original));
    }

    /** The same for text key and value (UTF-8), e.g. a row change. */
    public ProducerRecord<byte[], byte[]> record(String key, String value) {
        return record(key == null ? null : key.getBytes(StandardCharsets.UTF_8),
                value == null ? null : value.getBytes(StandardCharsets.UTF_8), null);
    }

    private static void put(Headers headers, String name, String value) {
        headers.remove(name);
        headers.add(name, value.getBytes(StandardCharsets.UTF_8));
    }
}
