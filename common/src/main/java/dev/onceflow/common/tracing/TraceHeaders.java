package dev.onceflow.common.tracing;

import java.nio.charset.StandardCharsets;
import java.util.Optional;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;

/** Reads and writes the {@value Traceparent#HEADER} header of Kafka records (ADR 0019). Stateless. */
public final class TraceHeaders {

    private TraceHeaders() {
    }

    /** The record's {@code traceparent} when it carries a valid one (the last, if several). */
    public static Optional<Traceparent> read(Headers headers) {
        if (headers == null) {
            return Optional.empty();
        }
        Header h = headers.lastHeader(Traceparent.HEADER);
        return h == null ? Optional.empty() : Traceparent.parse(h.value());
    }

    /** Sets the record's {@code traceparent} (replacing any). */
    public static void write(Headers headers, Traceparent traceparent) {
        headers.remove(Traceparent.HEADER);
        headers.add(Traceparent.HEADER, traceparent.header().getBytes(StandardCharsets.UTF_8));
    }
}
