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
