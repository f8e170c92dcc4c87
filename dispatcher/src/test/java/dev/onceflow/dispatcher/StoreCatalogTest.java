package dev.onceflow.dispatcher;

import static org.assertj.core.api.Assertions.assertThat;

import dev.onceflow.common.WorkflowStore;
import dev.onceflow.common.workflow.Workflow;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(10)
class StoreCatalogTest {

    private final List<WorkflowStore.Stored> table = new CopyOnWriteArrayList<>();
    private final AtomicInteger loads = new AtomicInteger();
    private final AtomicReference<Exception> failure = new AtomicReference<>();
    private final SettableClock clock = new SettableClock();

    private StoreCatalog catalog() {
        return new StoreCatalog(() -> {
            loads.incrementAndGet();
            Exception e = failure.get();
            if (e != null) {
                throw e;
            }
            return table.stream().map(StoreCatalog.Row::of).toList();
        }, Duration.ofHours(1), clock);
    }

    @Test
    void findsLatestVersionAndEnabledFlag() {
        deploy("a", 2, true);
        deploy("b", 1, false);
        try (StoreCatalog catalog = catalog()) {
            WorkflowCatalog.Entry a = catalog.find("a").orElseThrow();
            assertThat(List.of(a.id(), a.version(), a.enabled())).containsExactly("a", 2, true);
            assertThat(a.trigger()).isInstanceOf(dev.onceflow.common.workflow.Trigger.Kafka.class);
            WorkflowCatalog.Entry b = catalog.find("b").orElseThrow();
            assertThat(List.of(b.id(), b.version(), b.enabled())).containsExactly("b", 1, false);
        }
    }

    @Test
    void missRefreshesAtMostOncePerInterval() {
        try (StoreCatalog catalog = catalog()) {
            int afterStart = loads.get();
            deploy("new", 1, true);

            assertThat(catalog.find("new")).isPresent(); // the miss refreshed at once
            assertThat(catalog.find("ghost")).isEmpty();
            assertThat(catalog.find("ghost")).isEmpty();
            assertThat(loads.get() - afterStart).isEqualTo(1);

            clock.advance(StoreCatalog.MISS_REFRESH_INTERVAL);
            assertThat(catalog.find("ghost")).isEmpty();
            assertThat(loads.get() - afterStart).isEqualTo(2);
        }
    }

    /**
     * A workflow deployed just after another miss refreshed: its first record, published after
     * that refresh read the table, refreshes again at once (was: dead-lettered as unknown for the
     * rest of the interval). An older record naming no workflow does not.
     */
    @Test
    void aRecordNewerThanTheSnapshotRefreshesAgainAtOnceAndOnlyEveryFewMilliseconds() {
        try (StoreCatalog catalog = catalog()) {
            int afterStart = loads.get();
            assertThat(catalog.find("ghost")).isEmpty(); // a miss: refreshes, and the interval starts
            long snapshotRead = clock.millis();
            clock.advance(Duration.ofMillis(30));
            deploy("late", 1, true);

            assertThat(catalog.find("late", snapshotRead - 1)).as("published before the snapshot was read").isEmpty();
            assertThat(loads.get() - afterStart).isEqualTo(1);
            assertThat(catalog.find("late", clock.millis())).as("published after it: refreshed, found").isPresent();
            assertThat(loads.get() - afterStart).isEqualTo(2);

            assertThat(catalog.find("ghost", clock.millis())).isEmpty();
            assertThat(loads.get() - afterStart).as("not again within " + StoreCatalog.NEWER_MISS_REFRESH_INTERVAL).isEqualTo(2);
        }
    }

    @Test
    void failedRefreshKeepsPreviousSnapshot() {
        deploy("a", 1, true);
        try (StoreCatalog catalog = catalog()) {
            failure.set(new SQLException("database down"));
            catalog.refresh();

            assertThat(catalog.find("a")).isPresent();
            failure.set(null);
            table.clear();
            catalog.refresh();
            assertThat(catalog.snapshot()).isEmpty();
        }
    }

    @Test
    void failingFirstLoadStartsEmptyAndRecovers() {
        failure.set(new SQLException("database down"));
        try (StoreCatalog catalog = catalog()) {
            assertThat(catalog.snapshot()).isEmpty();
            failure.set(null);
            deploy("a", 1, true);
            clock.advance(Duration.ofSeconds(1));
            assertThat(catalog.find("a")).isPresent();
        }
    }

    @Test
    void definitionThatNoLongerParsesIsSkippedAndTheOthersRefresh() {
        deploy("a", 1, true);
        List<StoreCatalog.Row> rows = new CopyOnWriteArrayList<>();
        rows.add(StoreCatalog.Row.of(table.get(0)));
        rows.add(new StoreCatalog.Row("broken", 3, true, () -> dev.onceflow.common.workflow.Workflows.parse(
                "stored workflow 'broken' version 3", "{\"id\":\"broken\",\"nodes\":[{\"type\":\"teleport\",\"id\":\"x\"}]}"
                        .getBytes(java.nio.charset.StandardCharsets.UTF_8))));
        try (StoreCatalog catalog = new StoreCatalog(() -> List.copyOf(rows), Duration.ofHours(1), clock)) {
            assertThat(catalog.snapshot()).containsOnlyKeys("a");

            rows.add(StoreCatalog.Row.of(new WorkflowStore.Stored(new Workflow("b", 1, null, null, null, List.of()), true)));
            catalog.refresh();
            assertThat(catalog.snapshot()).containsOnlyKeys("a", "b");
            assertThat(catalog.find("broken")).isEmpty();
        }
    }

    private void deploy(String id, int version, boolean enabled) {
        table.add(new WorkflowStore.Stored(new Workflow(id, version, null, null, null, List.of()), enabled));
    }

    private static final class SettableClock extends Clock {
        private volatile Instant now = Instant.parse("2026-01-10T00:00:00Z");

        void advance(Duration d) {
            now = now.plus(d);
        }

        @Override
        public ZoneOffset getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(java.time.ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return now;
        }
    }
}
