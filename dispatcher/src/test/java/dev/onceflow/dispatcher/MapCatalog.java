package dev.onceflow.dispatcher;

import dev.onceflow.common.workflow.Trigger;
import java.util.Collection;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/** A catalog held in a map, for tests. */
final class MapCatalog implements WorkflowCatalog {

    private final Map<String, Entry> entries = new ConcurrentHashMap<>();

    MapCatalog with(String id, int version, boolean enabled) {
        entries.put(id, new Entry(id, version, enabled));
        return this;
    }

    /** A kafka-triggered workflow with {@code order: "none"}: its events keep the event key as record key. */
    MapCatalog unordered(String id, int version) {
        entries.put(id, new Entry(id, version, true, new Trigger.Kafka(null, null, null), false));
        return this;
    }

    MapCatalog with(String id, int version, boolean enabled, Trigger trigger) {
        entries.put(id, new Entry(id, version, enabled, trigger));
        return this;
    }

    @Override
    public Optional<Entry> find(String workflowId) {
        return Optional.ofNullable(entries.get(workflowId));
    }

    @Override
    public Collection<Entry> all() {
        return entries.values();
    }
}
