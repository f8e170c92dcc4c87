package dev.onceflow.engine;

import dev.onceflow.common.WorkflowStore;
import dev.onceflow.common.workflow.Workflow;
import java.sql.SQLException;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Workflow versions by (id, version). Versions are immutable once deployed, so a loaded version is
 * cached for the life of the process. Thread-safe; shared by an engine's workers.
 */
final class WorkflowCache {

    private record Id(String id, int version) {
    }

    private final WorkflowStore store;
    private final ConcurrentHashMap<Id, Workflow> cache = new ConcurrentHashMap<>();

    WorkflowCache(WorkflowStore store) {
        this.store = store;
    }

    Optional<Workflow> get(String id, int version) throws SQLException {
        Id key = new Id(id, version);
        Workflow wf = cache.get(key);
        if (wf != null) {
            return Optional.of(wf);
        }
        Optional<Workflow> loaded = store.load(id, version);
        loaded.ifPresent(w -> cache.putIfAbsent(key, w));
        return loaded;
    }
}
