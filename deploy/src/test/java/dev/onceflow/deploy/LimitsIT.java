package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.onceflow.common.Topics;
import dev.onceflow.common.TriggerRecord;
import dev.onceflow.common.shards.ShardMap;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.engine.Engine;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The limits of ADR 0022 hold across a fleet: several engines' worth of workers (each its own
 * PostgreSQL connection and Kafka consumer, sharing nothing but the broker and the database) take
 * the events of one workflow. {@code concurrency.total} bounds what runs at once across two
 * engines, {@code rateLimit} paces the starts of three from one bucket.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class LimitsIT {

    @RegisterExtension
    final Fleet fleet = new Fleet(TestInfra.embedded());

    /** Each execution's first node stamps PostgreSQL's clock as it runs; its last ends 300 ms later. */
    private static final String STAMPED = """
            [{"type": "sql", "id": "in", "sql": "INSERT INTO it_effects (event_key, node, created_at) VALUES (?, 'in', clock_timestamp())",
              "params": ["event.key"], "next": "wait"},
             {"type": "delay", "id": "wait", "ms": 300, "next": "out"},
             {"type": "sql", "id": "out", "sql": "INSERT INTO it_effects (event_key, node) VALUES (?, 'out')", "params": ["event.key"]}]""";

    /**
     * One of the two engines fails every third batch after its PostgreSQL commit (as
     * {@link CrashBetweenCommitsIT}): a finish's admission of the next execution is then lost with
     * its Kafka transaction and made good by the admitted execution's start timer.
     */
    @Test
    void aTotalBoundsWhatRunsAtOnceAcrossEnginesThroughCrashesBetweenTheCommits() throws Exception {
        Workflow wf = fleet.deploy("""
                {"id": "%s", "trigger": {"type": "kafka"}, "concurrency": {"total": 2}, "nodes": %s}"""
                .formatted(Fleet.uniqueId("total"), STAMPED));
        CrashBetweenCommitsIT.FailBetweenCommits crashes = new CrashBetweenCommitsIT.FailBetweenCommits(6);
        fleet.startEngine(2, crashes, false, 10);
        fleet.startEngine(2);
        fleet.startDispatcher();
        fleet.awaitStableGroup(4);
        int events = 24;
        for (int i = 0; i < events; i++) {
            fleet.publish(wf.id(), "e" + i, Fleet.data(i)); // each its own record key: its own lane
        }
        fleet.flush();
        await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofMillis(200)).until(() -> fleet.succeeded(wf.id()) == events);

        // An execution runs from its first node to its finish; at no instant may more than 2 overlap.
        List<long[]> runs = intervals(wf);
        assertThat(runs).hasSize(events);
        assertThat(maxOverlap(runs)).as("executions running at once, across both engines").isBetween(1, 2);
        assertThat(crashes.injected.get()).as("crashes injected between the commits").isGreaterThanOrEqualTo(2);
        assertThat(fleet.duplicateEffects(wf.id())).isZero();
        assertThat(fleet.count("SELECT count(DISTINCT event_key) FROM it_effects WHERE node = 'out' AND event_key LIKE ? || '@%'",
                wf.id())).isEqualTo(events);
    }

    /**
     * Three engines (each its own consumers, producers and PostgreSQL connections) take the events
     * of one rate-limited workflow, and each creates some of its executions: the starts of all
     * three are paced by the one bucket row in PostgreSQL, not by one per engine.
     */
    @Test
    void aRateLimitPacesTheStartsOfAllThreeEnginesFromOneBucket() throws Exception {
        double perSecond = 5;
        int burst = 2;
        Workflow wf = fleet.deploy("""
                {"id": "%s", "trigger": {"type": "kafka"}, "rateLimit": {"perSecond": %s, "burst": %d}, "nodes": %s}"""
                .formatted(Fleet.uniqueId("rate"), perSecond, burst, STAMPED));
        List<Engine> engines = List.of(fleet.startEngine(2), fleet.startEngine(2), fleet.startEngine(2));
        fleet.startDispatcher();
        fleet.awaitStableGroup(6);
        int events = 20;
        for (int i = 0; i < events; i++) {
            fleet.publish(wf.id(), "e" + i, Fleet.data(i));
        }
        fleet.flush();
        await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofMillis(200)).until(() -> fleet.succeeded(wf.id()) == events);

        List<long[]> runs = intervals(wf);
        long first = runs.stream().mapToLong(r -> r[0]).min().orElseThrow();
        long last = runs.stream().mapToLong(r -> r[0]).max().orElseThrow();
        // One bucket for the fleet: after a burst of 2, one start per 200 ms, so the 20th start is
        // reserved 18 intervals after the burst's. The first start ran some ms after its
        // reservation, so measured from it, at least 17 (3.4 s), however many engines took them;
        // three buckets (one per engine, about 7 events each) would take about a third of that.
        assertThat(last - first).as("µs from the first start to the last")
                .isGreaterThanOrEqualTo((long) ((events - burst - 1) / perSecond * 1e6));
        assertThat(fleet.count("SELECT count(*) FROM executions e JOIN it_effects f ON f.event_key = e.event_key AND f.node = 'in' "
                + "WHERE e.workflow_id = ? AND e.not_before IS NOT NULL AND f.created_at < e.not_before", wf.id()))
                .as("no throttled execution started before its turn").isZero();
        assertThat(fleet.count("SELECT count(*) FROM executions WHERE workflow_id = ? AND not_before IS NOT NULL", wf.id()))
                .as("the starts past the burst waited for their turn").isGreaterThanOrEqualTo(events - burst - 1);
        assertThat(fleet.duplicateEffects(wf.id())).isZero();
        // 20 ordering keys over the events topic's 6 partitions, 2 per engine (range assignor): an
        // engine owns none of them with odds (4/6)^20, about 1 in 1,000 that any of the three does.
        assertThat(engines.stream().map(e -> e.metrics().events()).toList())
                .as("executions created, per engine: the pace checked is that of all three").doesNotContain(0L);
    }

    /**
     * {@code concurrency: {perKey: 1}} (the default, written out) is never exceeded while tasks and
     * events are delivered again. One ordering key per partition of {@value Topics#EVENTS} (the
     * record key of a kafka trigger is its ordering key: ADR 0020, {@code OrderKey#kafka}), so each
     * of the four workers of the two engines owns a key whatever the assignment; several events
     * per key, published interleaved. One engine fails every third batch after its PostgreSQL
     * commit: the batch comes again, and a finish's admission of its key's next execution is lost
     * with its Kafka transaction and made good by the start timer.
     */
    @Test
    void perKeyOneIsNeverExceededThroughCrashesBetweenTheCommits() throws Exception {
        Workflow wf = fleet.deploy("""
                {"id": "%s", "trigger": {"type": "kafka"}, "concurrency": {"perKey": 1}, "nodes": %s}"""
                .formatted(Fleet.uniqueId("perkey"), STAMPED));
        int partitions;
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, fleet.infra.bootstrap()))) {
            partitions = admin.describeTopics(List.of(Topics.EVENTS)).allTopicNames().get().get(Topics.EVENTS).partitions().size();
        }
        // Record keys whose ordering keys (wf/<record key>) fall one on each partition of the events topic.
        Map<Integer, String> keyOf = new TreeMap<>();
        for (int i = 0; keyOf.size() < partitions; i++) {
            keyOf.putIfAbsent(ShardMap.partition(wf.id() + "/k" + i, partitions), "k" + i);
        }
        List<String> keys = List.copyOf(keyOf.values());
        int perKey = 6;
        CrashBetweenCommitsIT.FailBetweenCommits crashes = new CrashBetweenCommitsIT.FailBetweenCommits(6);
        fleet.startEngine(2, crashes, false, 10);
        fleet.startEngine(2);
        fleet.startDispatcher();
        fleet.awaitStableGroup(4);
        for (int n = 0; n < perKey; n++) {
            for (String key : keys) {
                String id = key + "-" + n; // the event's id; the record key is the key
                fleet.publishRaw(Topics.TRIGGERS, key, new TriggerRecord(wf.id(), id, Instant.ofEpochMilli(1_700_000_000_000L),
                        Fleet.data(n)).toBytes());
            }
        }
        fleet.flush();
        int events = keys.size() * perKey;
        await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofMillis(200)).until(() -> fleet.succeeded(wf.id()) == events);

        Map<String, List<long[]>> byKey = intervalsByKey(wf);
        assertThat(byKey.keySet()).as("ordering keys: the workflow id and the record key")
                .containsExactlyInAnyOrderElementsOf(keys.stream().map(k -> wf.id() + "/" + k).toList());
        byKey.forEach((key, runs) -> {
            assertThat(runs).as("executions of %s", key).hasSize(perKey);
            assertThat(maxOverlap(runs)).as("executions of %s running at once", key).isEqualTo(1);
        });
        // The limit is per key: the keys' lanes ran side by side, so the check above is not met by a fleet that runs one at a time.
        assertThat(maxOverlap(byKey.values().stream().flatMap(List::stream).toList()))
                .as("executions running at once, all keys").isGreaterThanOrEqualTo(2);
        assertThat(crashes.injected.get()).as("crashes injected between the commits").isGreaterThanOrEqualTo(2);
        assertThat(fleet.executions(wf.id())).isEqualTo(events);
        assertThat(fleet.duplicateEffects(wf.id())).isZero();
        assertThat(fleet.count("SELECT count(DISTINCT event_key) FROM it_effects WHERE node = 'out' AND event_key LIKE ? || '@%'",
                wf.id())).isEqualTo(events);
    }

    /** Per execution: when its first node ran and when it finished, epoch µs, by PostgreSQL's clock. */
    private List<long[]> intervals(Workflow wf) throws Exception {
        List<long[]> runs = new ArrayList<>();
        try (Connection c = TestInfra.embedded().dataSource().getConnection();
             PreparedStatement q = c.prepareStatement("SELECT (extract(epoch FROM f.created_at) * 1000000)::bigint, "
                     + "(extract(epoch FROM e.finished_at) * 1000000)::bigint FROM executions e "
                     + "JOIN it_effects f ON f.event_key = e.event_key AND f.node = 'in' WHERE e.workflow_id = ?")) {
            q.setString(1, wf.id());
            try (ResultSet rs = q.executeQuery()) {
                while (rs.next()) {
                    runs.add(new long[] {rs.getLong(1), rs.getLong(2)});
                }
            }
        }
        return runs;
    }

    /** {@link #intervals}, by the execution's ordering key. */
    private Map<String, List<long[]>> intervalsByKey(Workflow wf) throws Exception {
        Map<String, List<long[]>> byKey = new TreeMap<>();
        try (Connection c = TestInfra.embedded().dataSource().getConnection();
             PreparedStatement q = c.prepareStatement("SELECT e.ordering_key, (extract(epoch FROM f.created_at) * 1000000)::bigint, "
                     + "(extract(epoch FROM e.finished_at) * 1000000)::bigint FROM executions e "
                     + "JOIN it_effects f ON f.event_key = e.event_key AND f.node = 'in' WHERE e.workflow_id = ?")) {
            q.setString(1, wf.id());
            try (ResultSet rs = q.executeQuery()) {
                while (rs.next()) {
                    byKey.computeIfAbsent(rs.getString(1), k -> new ArrayList<>()).add(new long[] {rs.getLong(2), rs.getLong(3)});
                }
            }
        }
        return byKey;
    }

    /** The most intervals that hold one instant (an end and a start at the same instant do not overlap). */
    static int maxOverlap(List<long[]> runs) {
        List<long[]> edges = new ArrayList<>();
        for (long[] r : runs) {
            edges.add(new long[] {r[0], 1});
            edges.add(new long[] {r[1], -1});
        }
        edges.sort((a, b) -> a[0] != b[0] ? Long.compare(a[0], b[0]) : Long.compare(a[1], b[1]));
        int open = 0;
        int most = 0;
        for (long[] e : edges) {
            open += (int) e[1];
            most = Math.max(most, open);
        }
        return most;
    }
}
