package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.onceflow.common.workflow.Workflow;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The limits of ADR 0022 hold across a fleet: two engine processes' worth of workers (each its own
 * PostgreSQL connection and Kafka consumer, sharing nothing but the broker and the database) take
 * the events of one workflow. {@code concurrency.total} bounds what runs at once across both, and
 * {@code rateLimit} paces the starts of both from one bucket.
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

    @Test
    void aRateLimitPacesTheStartsOfBothEnginesFromOneBucket() throws Exception {
        double perSecond = 5;
        int burst = 2;
        Workflow wf = fleet.deploy("""
                {"id": "%s", "trigger": {"type": "kafka"}, "rateLimit": {"perSecond": %s, "burst": %d}, "nodes": %s}"""
                .formatted(Fleet.uniqueId("rate"), perSecond, burst, STAMPED));
        fleet.startEngine(2);
        fleet.startEngine(2);
        fleet.startDispatcher();
        fleet.awaitStableGroup(4);
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
        // two buckets (one per engine) would take about half that.
        assertThat(last - first).as("µs from the first start to the last")
                .isGreaterThanOrEqualTo((long) ((events - burst - 1) / perSecond * 1e6));
        assertThat(fleet.count("SELECT count(*) FROM executions e JOIN it_effects f ON f.event_key = e.event_key AND f.node = 'in' "
                + "WHERE e.workflow_id = ? AND e.not_before IS NOT NULL AND f.created_at < e.not_before", wf.id()))
                .as("no throttled execution started before its turn").isZero();
        assertThat(fleet.count("SELECT count(*) FROM executions WHERE workflow_id = ? AND not_before IS NOT NULL", wf.id()))
                .as("the starts past the burst waited for their turn").isGreaterThanOrEqualTo(events - burst - 1);
        assertThat(fleet.duplicateEffects(wf.id())).isZero();
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
