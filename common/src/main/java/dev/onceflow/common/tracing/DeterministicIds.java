package dev.onceflow.common.tracing;

import io.opentelemetry.sdk.trace.IdGenerator;
import java.util.function.Supplier;

/**
 * An {@link IdGenerator} that hands out the ids a caller asked for on its own thread
 * ({@link #starting}), and random ids otherwise. The SDK has no way to give one span a chosen id;
 * Onceflow's spans need them (ADR 0019): an execution span is emitted when the execution finishes,
 * but its node spans, emitted earlier, name it as their parent, and an {@code http} node's request
 * names its node span before that span exists. Thread-safe.
 */
public final class DeterministicIds implements IdGenerator {

    public static final DeterministicIds INSTANCE = new DeterministicIds();

    private static final ThreadLocal<String[]> NEXT = new ThreadLocal<>();
    private static final IdGenerator RANDOM = IdGenerator.random();

    private DeterministicIds() {
    }

    /**
     * Runs {@code start} (which starts one span) so that the span gets {@code spanId} and, when it
     * is a root span, {@code traceId}.
     */
    public static <T> T starting(String traceId, String spanId, Supplier<T> start) {
        NEXT.set(new String[] {traceId, spanId});
        try {
            return start.get();
        } finally {
            NEXT.remove();
        }
    }

    @Override
    public String generateSpanId() {
        String[] next = NEXT.get();
        if (next == null || next[1] == null) {
            return RANDOM.generateSpanId();
        }
        String id = next[1];
        next[1] = null; // one span per call of starting()
        return id;
    }

    @Override
    public String generateTraceId() {
        String[] next = NEXT.get();
        if (next == null || next[0] == null) {
            return RANDOM.generateTraceId();
        }
        String id = next[0];
        next[0] = null;
        return id;
    }
}
