package dev.onceflow.dispatcher;

import dev.onceflow.common.DeadLetter;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.streams.processor.api.Record;

/** Dead-letter records of the topology's processors, kept within the size Kafka accepts. Stateless. */
final class DeadLetters {

    private DeadLetters() {
    }

    /**
     * {@code record} with {@code reason}'s headers. A record the broker accepted can grow too large
     * with the reason headers, and a dead letter the producer refuses would stop the stream thread
     * as surely as the event: then the value (and, if still too large, the key and the original
     * headers) is left out, and the message says so. The source position still finds the original.
     */
    static Record<byte[], byte[]> fitted(Record<byte[], byte[]> record, DeadLetter reason, RecordSizeLimit limit) {
        Headers headers = reason.headers(record.headers());
        int size = RecordSizeLimit.sizeOf(record.key(), record.value(), headers);
        if (size <= limit.maxBytes()) {
            return record.withHeaders(headers);
        }
        int valueBytes = record.value() == null ? 0 : record.value().length;
        DeadLetter trimmed = new DeadLetter(reason.errorClass(), reason.message() + " (the value, " + valueBytes
                + " bytes, is left out of this dead letter: with it the record would be " + limit.over(size)
                + "; read it at the source position)", reason.sourceTopic(), reason.sourcePartition(), reason.sourceOffset());
        headers = trimmed.headers(record.headers());
        if (RecordSizeLimit.sizeOf(record.key(), null, headers) <= limit.maxBytes()) {
            return new Record<>(record.key(), (byte[]) null, record.timestamp(), headers);
        }
        return new Record<>((byte[]) null, (byte[]) null, record.timestamp(), trimmed.headers(null));
    }
}
