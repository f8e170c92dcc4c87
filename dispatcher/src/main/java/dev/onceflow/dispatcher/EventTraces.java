package dev.onceflow.dispatcher;

import dev.onceflow.common.tracing.TraceHeaders;
import dev.onceflow.common.tracing.Traceparent;
import dev.onceflow.common.tracing.Tracing;
import java.util.Optional;
import org.apache.kafka.common.header.Headers;

/**
 * The {@code traceparent} an event carries to {@code onceflow.events} (ADR 0019): the one its
 * trigger came with (a header on the trigger record, or on the API call), and when none came and
 * this process's {@code OTEL_*} settings turn traces on, one derived from the event key, the same
 * on every copy of the event, naming the execution span the engine will emit. The dispatcher
 * itself emits no span: it decides nothing that lasts (the engine's execution row does).
 * Stateless; thread-safe.
 */
final class EventTraces {

    /** Read once: the environment does not change while the process runs. */
    private static final boolean CREATE = Tracing.requestedByEnvironment();

    private EventTraces() {
    }

    /** Sets the event's {@code traceparent} in {@code headers}: {@code incoming} if valid, else derived when traces are on. */
    static void carry(Optional<Traceparent> incoming, String eventKey, Headers headers) {
        carry(incoming, eventKey, headers, CREATE);
    }

    static void carry(Optional<Traceparent> incoming, String eventKey, Headers headers, boolean create) {
        Optional<Traceparent> t = incoming.isPresent() || !create ? incoming : Optional.of(Traceparent.ofEvent(eventKey));
        t.ifPresent(p -> TraceHeaders.write(headers, p));
    }
}
