package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.onceflow.common.EventEnvelope;
import dev.onceflow.common.Json;
import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.common.Topics;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.engine.Engine;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Retention and the dedupe horizon (ADR 0015) on the real broker and PostgreSQL, with times
 * small enough to watch: history 3 s, horizon 20 s. Events are published straight to
 * {@value Topics#EVENTS}, as a dispatcher replica without the dedupe state would, so that
 * nothing but the engine's event key (and, once the history is gone, its retired key) stands
 * between a republished event and a second execution.
 *
 * <p>The engine's retention removes every finished execution of the shared database older than
 * 3 s, other tests' too: harmless, integration tests run one at a time and check their own
 * workflows while they run.
 */
@Timeout(value = 6, unit = TimeUnit.MINUTES)
class RetentionIT {

    private static final int EVENTS = 60;
    private static final long HISTORY_MS = 3_000;
    /**
     * Past the history (3 s) by far more than the storms take (their last one ends some 5 s after
     * the history is gone, the retired keys are checked right after), short enough that waiting out
     * the horizon does not dominate the test (it was 60 s).
     */
    private static final long HORIZON_MS = 20_000;

    @RegisterExtension
    final Fleet fleet = new Fleet(TestInfra.embedded());

    @Test
    void aRepublishedEventIsAbsorbedAfterItsHistoryIsGoneUntilTheHorizonAndIsANewEventAfterIt() throws Exception {
        Workflow wf = fleet.deploy("""
                {"id": "%s", "trigger": {"type": "kafka"}, "nodes": [
                  {"type": "sql", "id": "first", "sql": "INSERT INTO it_effects (event_key, node) VALUES (?, 'first')",
                   "params": ["event.key"], "next": "wait"},
                  {"type": "delay", "id": "wait", "ms": 200, "next": "second"},
                  {"type": "sql", "id": "second", "sql": "INSERT INTO it_effects (event_key, node) VALUES (?, 'second')",
                   "params": ["event.key"]}
                ]}""".formatted(Fleet.uniqueId("retention")));
        Engine engine = fleet.startEngine(2, Map.of(OnceflowConfig.RETENTION_EXECUTIONS_MS.name(), String.valueOf(HISTORY_MS),
                OnceflowConfig.RETENTION_KEYS_MS.name(), String.valueOf(HORIZON_MS),
                OnceflowConfig.RETENTION_INTERVAL_MS.name(), "250", OnceflowConfig.RETENTION_BATCH_SIZE.name(), "20"));
        String mine = wf.id() + "@%";
        // The history earlier tests of this JVM left goes first (its first passes remove it, oldest first): the
        // horizon is counted from this test's own executions, which must not wait behind that backlog.
        await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofMillis(200)).until(() -> fleet.count(
                "SELECT count(*) FROM executions WHERE finished_at < now() - ? * interval '1 ms'", HISTORY_MS + 1_000) == 0);

        publishAll(wf);
        await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofMillis(200))
                .until(() -> fleet.count("SELECT count(*) FROM it_effects WHERE event_key LIKE ?", mine) == 2L * EVENTS);
        long duplicatesAtStart = engine.metrics().duplicateEvents();

        // The same events again and again while retention removes their history: before, during
        // and after each removal.
        AtomicBoolean storming = new AtomicBoolean(true);
        AtomicInteger storms = new AtomicInteger();
        CompletableFuture<Void> storm = CompletableFuture.runAsync(() -> {
            while (storming.get()) {
                publishAll(wf);
                fleet.flush();
                long copies = (long) storms.incrementAndGet() * EVENTS;
                // The next storm once the engine absorbed this one: paced by the engine, not by a guessed interval.
                await().atMost(Duration.ofMinutes(1)).pollInterval(Duration.ofMillis(20))
                        .until(() -> engine.metrics().duplicateEvents() - duplicatesAtStart >= copies);
            }
        });
        await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofMillis(200))
                .until(() -> fleet.executions(wf.id()) == 0 && retired(mine) == EVENTS);
        int removedAt = storms.get();
        await().atMost(Duration.ofMinutes(1)).until(() -> storms.get() >= removedAt + 3); // more after the last removal
        storming.set(false);
        storm.get(1, TimeUnit.MINUTES);
        publishAll(wf); // and once more, all of them after their history is gone
        fleet.flush();
        awaitEventsHandled();

        assertThat(removedAt).as("duplicates were published while the history was removed").isGreaterThan(3);
        assertThat(engine.metrics().duplicateEvents() - duplicatesAtStart).as("every copy was absorbed")
                .isGreaterThanOrEqualTo((storms.get() + 1L) * EVENTS);
        assertThat(fleet.executions(wf.id())).as("no second execution").isZero();
        assertThat(fleet.count("SELECT count(*) FROM it_effects WHERE event_key LIKE ?", mine)).as("no node ran again")
                .isEqualTo(2L * EVENTS);
        assertThat(fleet.duplicateEffects(wf.id())).isZero();
        assertThat(fleet.count("SELECT count(*) FROM processed_keys WHERE key LIKE ?", mine)).as("node history removed").isZero();
        assertThat(fleet.count("SELECT count(*) FROM timers WHERE key LIKE ?", mine)).as("timers removed").isZero();
        assertThat(retired(mine)).as("every key still inside its horizon").isEqualTo(EVENTS);
        assertThat(engine.metrics().executionsRemoved()).isGreaterThanOrEqualTo(EVENTS);
        assertThat(engine.metrics().eventKeysRetired()).isGreaterThanOrEqualTo(EVENTS);

        // Past the horizon the keys are gone; the same events are new events again.
        await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofMillis(500)).until(() -> retired(mine) == 0);
        assertThat(engine.metrics().eventKeysExpired()).isGreaterThanOrEqualTo(EVENTS);
        publishAll(wf);
        fleet.flush();
        await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofMillis(200))
                .until(() -> fleet.count("SELECT count(*) FROM it_effects WHERE event_key LIKE ? AND node = 'second'", mine)
                        == 2L * EVENTS);
        awaitEventsHandled();
        assertThat(fleet.count("SELECT count(*) FROM (SELECT event_key FROM it_effects WHERE event_key LIKE ? GROUP BY event_key "
                + "HAVING count(*) FILTER (WHERE node = 'first') = 2 AND count(*) FILTER (WHERE node = 'second') = 2) k", mine))
                .as("one new execution per key after the horizon, each node once in it").isEqualTo(EVENTS);
        assertThat(fleet.count("SELECT count(*) FROM it_effects WHERE event_key LIKE ?", mine)).isEqualTo(4L * EVENTS);
    }

    /** Until the engines' group has committed offsets up to the end of every partition of onceflow.events as it is now. */
    private void awaitEventsHandled() throws Exception {
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, fleet.infra.bootstrap()))) {
            Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
            admin.describeTopics(List.of(Topics.EVENTS)).allTopicNames().get().get(Topics.EVENTS).partitions()
                    .forEach(p -> latest.put(new TopicPartition(Topics.EVENTS, p.partition()), OffsetSpec.latest()));
            Map<TopicPartition, Long> ends = new HashMap<>();
            admin.listOffsets(latest, new ListOffsetsOptions(IsolationLevel.READ_COMMITTED)).all().get()
                    .forEach((tp, info) -> ends.put(tp, info.offset()));
            await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofMillis(200)).until(() -> {
                Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets(fleet.group)
                        .partitionsToOffsetAndMetadata().get();
                return ends.entrySet().stream().allMatch(e -> e.getValue() == 0
                        || (committed.get(e.getKey()) != null && committed.get(e.getKey()).offset() >= e.getValue()));
            });
        }
    }

    private long retired(String pattern) throws Exception {
        return fleet.count("SELECT count(*) FROM retired_event_keys WHERE event_key LIKE ?", pattern);
    }

    /** Every event of the test, with the same key and content each time, keyed as the dispatcher keys them. */
    private void publishAll(Workflow wf) {
        for (int i = 0; i < EVENTS; i++) {
            String key = wf.id() + "@1700000000000#r-" + i;
            EventEnvelope event = new EventEnvelope(key, wf.id(), wf.version(), 1_700_000_000_000L, Fleet.data(i), "test",
                    1_700_000_000_500L);
            fleet.publishRaw(Topics.EVENTS, key, Json.bytes(event));
        }
    }
}
