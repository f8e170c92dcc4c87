package dev.onceflow.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.onceflow.common.EventEnvelope;
import dev.onceflow.common.Json;
import dev.onceflow.common.executions.Lanes;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The lost wake-up of ADR 0021, forced with two connections: an inserter counts a lane's running
 * execution while a finisher ends that execution and looks for queued ones to admit. Each sees the
 * lane before the other's commit, so without the lane's lock the new execution stays queued behind
 * nothing, for ever. With the lock, whoever counts second waits for the other's commit and sees it.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class LaneRaceTest {

    static DataSource ds;

    @BeforeAll
    static void database() throws Exception {
        ds = EngineTestDatabase.get();
    }

    @Test
    void aFinishRacingAnInsertIntoItsLaneAdmitsTheNewExecution() throws Exception {
        String lane = race(true);
        assertThat(statuses(lane)).containsExactly("succeeded", "running");
    }

    /** The negative control: the same interleaving without the lock leaves the lane stuck, so the test above can fail. */
    @Test
    void withoutTheLaneLockTheNewExecutionIsLeftQueuedBehindNothing() throws Exception {
        String lane = race(false);
        assertThat(statuses(lane)).as("the lost wake-up the lock prevents").containsExactly("succeeded", "queued");
    }

    /**
     * {@code concurrency.total} across the fleet (ADR 0022): two engines create executions in two
     * lanes of one workflow whose total is 1, the second while the first has not committed. The
     * second waits on the workflow's lock, then counts the first's execution: only one runs.
     */
    @Test
    void twoEnginesStartingTwoLanesOfAWorkflowWithATotalOfOneStartOneOfThem() throws Exception {
        String wf = "total-" + UUID.randomUUID().toString().substring(0, 8);
        try (Connection a = ds.getConnection(); Connection b = ds.getConnection()) {
            ExecutionStore first = new ExecutionStore(a);
            ExecutionStore second = new ExecutionStore(b);
            ExecutionStore.Created one = first.createExecutions(List.of(event(wf, "1", wf + "/a")), List.of(totalOfOne(wf + "/a")), 0, 0);
            assertThat(one.running()).hasSize(1);
            int secondPid = pid(b);
            CompletableFuture<ExecutionStore.Created> two = CompletableFuture.supplyAsync(() -> {
                try {
                    return second.createExecutions(List.of(event(wf, "2", wf + "/b")), List.of(totalOfOne(wf + "/b")), 0, 0);
                } catch (SQLException e) {
                    throw new IllegalStateException(e);
                }
            });
            Awaitility.await().atMost(30, TimeUnit.SECONDS).until(() -> waitsOnAdvisoryLock(secondPid));
            first.commit();
            assertThat(two.get(30, TimeUnit.SECONDS).running()).as("the second engine saw the first one's start").isEmpty();
            second.commit();
        }
        assertThat(statuses(wf + "/a")).containsExactly("running");
        assertThat(statuses(wf + "/b")).containsExactly("queued");
    }

    private static EventEnvelope event(String wf, String n, String lane) {
        return new EventEnvelope(wf + "@" + n, wf, 1, 0, Json.MAPPER.createObjectNode(), "test", 0).withOrderKey(lane);
    }

    private static ExecutionStore.Lane totalOfOne(String lane) {
        return new ExecutionStore.Lane(lane, 1, null, null, false, 1, null);
    }

    /**
     * Execution 1 of a fresh lane runs. The inserter creates execution 2 in its lane (lock, insert,
     * count: 1 runs, so 2 is queued) and holds its transaction open; the finisher then ends 1 and
     * releases the lane, with or without its lock; then the inserter commits.
     */
    private String race(boolean locked) throws Exception {
        String wf = "race-" + UUID.randomUUID().toString().substring(0, 8);
        String lane = wf + "/k";
        long first = running(wf + "@1", wf, lane);

        try (Connection inserting = ds.getConnection(); Connection finishing = ds.getConnection()) {
            ExecutionStore inserter = new ExecutionStore(inserting);
            EventEnvelope second = new EventEnvelope(wf + "@2", wf, 1, 0, Json.MAPPER.createObjectNode(), "test", 0)
                    .withOrderKey(lane);
            ExecutionStore.Created created = inserter.createExecutions(List.of(second), List.of(new ExecutionStore.Lane(lane, 1, null, null)), 0, 0);
            assertThat(created.running()).as("execution 1 runs, so 2 waits").isEmpty();

            finishing.setAutoCommit(false);
            int finishingPid = pid(finishing);
            CompletableFuture<Void> finisher = CompletableFuture.runAsync(() -> {
                try (Statement st = finishing.createStatement()) {
                    st.executeUpdate("UPDATE executions SET status = 'succeeded', finished_at = now() WHERE id = " + first);
                    Lanes lanes = new Lanes(finishing);
                    if (locked) {
                        lanes.release(List.of(lane), List.of(), 0);
                    } else {
                        lanes.admit(List.of(lane), List.of(), 0);
                    }
                    finishing.commit();
                } catch (SQLException e) {
                    throw new IllegalStateException(e);
                }
            });
            if (locked) {
                // The finisher reaches the lane's lock and waits there for the inserter's commit.
                Awaitility.await().atMost(30, TimeUnit.SECONDS).until(() -> waitsOnAdvisoryLock(finishingPid));
            } else {
                finisher.get(30, TimeUnit.SECONDS); // nothing to wait for: it sees no queued execution yet
            }
            inserter.commit();
            finisher.get(30, TimeUnit.SECONDS);
        }
        return lane;
    }

    private static long running(String eventKey, String workflow, String lane) throws SQLException {
        try (Connection c = ds.getConnection();
             PreparedStatement ins = c.prepareStatement("INSERT INTO executions (event_key, workflow_id, workflow_version, status, "
                     + "trigger, ordering_key, per_key) VALUES (?, ?, 1, 'running', '{}'::jsonb, ?, 1) RETURNING id")) {
            ins.setString(1, eventKey);
            ins.setString(2, workflow);
            ins.setString(3, lane);
            try (ResultSet rs = ins.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    private static List<String> statuses(String lane) throws SQLException {
        try (Connection c = ds.getConnection();
             PreparedStatement q = c.prepareStatement("SELECT status FROM executions WHERE ordering_key = ? ORDER BY id")) {
            q.setString(1, lane);
            try (ResultSet rs = q.executeQuery()) {
                java.util.ArrayList<String> s = new java.util.ArrayList<>();
                while (rs.next()) {
                    s.add(rs.getString(1));
                }
                return s;
            }
        }
    }

    private static int pid(Connection c) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT pg_backend_pid()")) {
            rs.next();
            return rs.getInt(1);
        }
    }

    private static boolean waitsOnAdvisoryLock(int pid) throws SQLException {
        try (Connection c = ds.getConnection();
             PreparedStatement q = c.prepareStatement("SELECT count(*) FROM pg_locks WHERE pid = ? AND locktype = 'advisory' "
                     + "AND NOT granted")) {
            q.setInt(1, pid);
            try (ResultSet rs = q.executeQuery()) {
                rs.next();
                return rs.getLong(1) > 0;
            }
        }
    }
}
