package dev.onceflow.dispatcher;

import dev.onceflow.common.EventEnvelope;
import java.util.function.Supplier;

/**
 * Puts the ordering key (ADR 0020) on an event where it is born, once the dispatcher setting
 * {@code dispatcher.order.keys} and the workflow version's {@code order} allow it, and counts the
 * events of ordered workflows that have none ({@code onceflow_dispatcher_order_fallback_total}).
 * The key itself comes from {@link dev.onceflow.common.OrderKey}. Immutable; thread-safe.
 */
final class OrderKeys {

    /** Ordering keys off ({@code dispatcher.order.keys=off}): every event is keyed by its event key. */
    static final OrderKeys OFF = new OrderKeys(false, new DispatcherMetrics());

    private final boolean on;
    private final DispatcherMetrics metrics;

    OrderKeys(boolean on, DispatcherMetrics metrics) {
        this.on = on;
        this.metrics = metrics;
    }

    boolean on() {
        return on;
    }

    /**
     * {@code event} with the ordering key {@code derive} gives, when ordering keys are on and the
     * workflow is ordered; else {@code event} unchanged. A null key from an ordered workflow is a
     * fallback (a sequence of one), counted. {@code derive} is not called otherwise.
     */
    EventEnvelope apply(EventEnvelope event, WorkflowCatalog.Entry workflow, Supplier<String> derive) {
        if (!on || !workflow.ordered()) {
            return event;
        }
        String key = derive.get();
        if (key == null) {
            metrics.countOrderFallback(workflow.id());
            return event;
        }
        return event.withOrderKey(key);
    }
}
