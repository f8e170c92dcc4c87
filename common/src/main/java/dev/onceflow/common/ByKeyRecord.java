package dev.onceflow.common;

import java.nio.charset.StandardCharsets;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;

/**
 * A record of {@value Topics#BY_KEY}, built in one place for every source that writes there (the
 * topology's {@code validate}, the schedule, row-change and API sources) and read back by the
 * dedupe (ADR 0020). Its record key is the event's {@link EventEnvelope#partitionKey() ordering key,
 * else its event key}, so one key's events share one by-key partition, one dedupe task and one
 * events partition, in order; its header {@value Topics#H_EVENT_KEY} carries the event key, the
 * dedupe's identity. Records written before ADR 0020 have no header: their record key is the event
 * key. Stateless; thread-safe.
 */
public final class ByKeyRecord {

    private ByKeyRecord() {
    }

    /** The record key: the envelope's partition key in UTF-8. */
    public static byte[] key(EventEnvelope event) {
        return event.partitionKey().getBytes(StandardCharsets.UTF_8);
    }

    /** Adds the event-key header to {@code headers} (replacing one already there) and returns them. */
    public static Headers withEventKey(EventEnvelope event, Headers headers) {
        headers.remove(Topics.H_EVENT_KEY);
        headers.add(Topics.H_EVENT_KEY, event.eventKey().getBytes(StandardCharsets.UTF_8));
        return headers;
    }

    /** The record of {@code event} for {@value Topics#BY_KEY}, with the event-key header; more headers may be added. */
    public static ProducerRecord<byte[], byte[]> of(EventEnvelope event) {
        return new ProducerRecord<>(Topics.BY_KEY, null, key(event), Json.bytes(event), withEventKey(event, new RecordHeaders()));
    }

    /** The event key of a {@value Topics#BY_KEY} record: its header, else (records written before ADR 0020) its key; null when neither. */
    public static String eventKey(byte[] recordKey, Headers headers) {
        Header h = headers == null ? null : headers.lastHeader(Topics.H_EVENT_KEY);
        if (h != null && h.value() != null && h.value().length > 0) {
            return new String(h.value(), StandardCharsets.UTF_8);
        }
        return recordKey == null ? null : new String(recordKey, StandardCharsets.UTF_8);
    }
}
