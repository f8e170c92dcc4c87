package dev.onceflow.common.workflow;

import com.fasterxml.jackson.annotation.JsonIgnore;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A named, versioned workflow definition: one trigger and a graph of nodes. {@code version} is
 * assigned by the store when a definition is deployed; {@code start} defaults to the first node.
 * Immutable; build it through {@link Workflows#parse} so that it is validated.
 */
public record Workflow(String id, Integer version, String description, Trigger trigger, String start, List<Node> nodes,
                       String order, Concurrency concurrency, Debounce debounce, RateLimit rateLimit) {

    /** {@code order: "key"}: events of one ordering key run in order, in lanes (ADRs 0020, 0021). */
    public static final String ORDER_KEY = "key";
    /** {@code order: "none"}: every event is a sequence of one; executions start as their events arrive. */
    public static final String ORDER_NONE = "none";

    /**
     * How many executions may run at once (ADRs 0021, 0022). {@code perKey}: per ordering key, in
     * its lane (default 1: one after the other); only with {@code order: "key"}. {@code total}: of
     * the whole workflow across the fleet (default none); the others wait {@code queued}.
     */
    public record Concurrency(Integer perKey, Integer total) {
        /** Only a per-key limit. */
        public Concurrency(Integer perKey) {
            this(perKey, null);
        }
    }

    /**
     * At most {@code perSecond} starts per second (ADR 0022), of the whole workflow or, with
     * {@code perKey}, of each ordering key; a burst of up to {@code burst} (default: one second's
     * worth, at least 1) starts at once after a quiet spell. Starts beyond it wait {@code queued}
     * for their turn; the fleet shares one bucket in PostgreSQL.
     */
    public record RateLimit(Double perSecond, Boolean perKey, Integer burst) {
        public RateLimit {
            perKey = perKey != null && perKey;
            burst = burst == null && perSecond != null ? Integer.valueOf(Math.max(1, (int) Math.ceil(perSecond))) : burst;
        }
    }

    /**
     * Debounce (ADR 0021): a burst of events of one ordering key becomes one execution. With
     * {@code keep: "last"} (the default) an event waits {@code ms} in its lane, and a later event of
     * the same key within that time replaces it (the earlier execution is recorded
     * {@code superseded}, never run), so the execution that runs has the newest data. A burst that
     * never goes quiet still runs after {@code maxMs} (default 10 × {@code ms}). With
     * {@code keep: "first"} the first event of a burst runs at once and the events of its key
     * within {@code ms} after it are recorded {@code superseded} by it ({@code maxMs} unused).
     */
    public record Debounce(Long ms, String keep, Long maxMs) {
        public static final String KEEP_LAST = "last";
        public static final String KEEP_FIRST = "first";

        public Debounce {
            keep = keep == null ? KEEP_LAST : keep;
            maxMs = maxMs == null && ms != null ? Long.valueOf(ms * 10) : maxMs;
        }
    }

    /** A definition with the default order and concurrency. */
    public Workflow(String id, Integer version, String description, Trigger trigger, String start, List<Node> nodes) {
        this(id, version, description, trigger, start, nodes, null, null, null, null);
    }

    public Workflow {
        nodes = nodes == null ? List.of() : List.copyOf(nodes);
        trigger = trigger == null ? new Trigger.Kafka(null, null, null) : trigger;
        if (start == null && !nodes.isEmpty()) {
            start = nodes.get(0).id();
        }
    }

    public Workflow withVersion(int newVersion) {
        return new Workflow(id, newVersion, description, trigger, start, nodes, order, concurrency, debounce, rateLimit);
    }

    /**
     * The order this workflow's events run in: {@code order} as written, else {@code none} for
     * {@code schedule} triggers and {@code key} for the others (ADR 0020; an {@code api} call
     * without an order key is a sequence of one either way).
     */
    @JsonIgnore
    public String effectiveOrder() {
        if (order != null) {
            return order;
        }
        return trigger instanceof Trigger.Schedule ? ORDER_NONE : ORDER_KEY;
    }

    /** Whether events get an ordering key and run in lanes. */
    @JsonIgnore
    public boolean ordered() {
        return ORDER_KEY.equals(effectiveOrder());
    }

    /** Executions of one ordering key that may run at once (ADR 0021): {@code concurrency.perKey}, default 1. */
    @JsonIgnore
    public int perKey() {
        return concurrency == null || concurrency.perKey() == null ? 1 : concurrency.perKey();
    }

    /** {@code concurrency.total}, or null for no fleet-wide limit (ADR 0022). */
    @JsonIgnore
    public Integer total() {
        return concurrency == null ? null : concurrency.total();
    }

    /**
     * Whether executions wait for admission beyond their lane's order: a {@code total} or a
     * {@code rateLimit}. An unordered workflow's executions then get a lane of one, keyed by their
     * event key (ADR 0022).
     */
    @JsonIgnore
    public boolean limited() {
        return total() != null || rateLimit != null;
    }

    public Optional<Node> node(String nodeId) {
        return nodes.stream().filter(n -> n.id().equals(nodeId)).findFirst();
    }

    @JsonIgnore
    public Map<String, Node> nodesById() {
        Map<String, Node> byId = new LinkedHashMap<>();
        nodes.forEach(n -> byId.putIfAbsent(n.id(), n));
        return byId;
    }
}
