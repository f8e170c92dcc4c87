package dev.onceflow.engine;

import static dev.onceflow.engine.RetentionTest.DAY;
import static dev.onceflow.engine.RetentionTest.count;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.onceflow.common.EventEnvelope;
import dev.onceflow.common.Json;
import dev.onceflow.common.Topics;
import dev.onceflow.common.workflow.Workflow;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import javax.sql.DataSource;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The race of ADR 0015, forced step by step on two connections: retention's batch has deleted a
 * finished execution and retired its key but not committed; the engine decodes a duplicate of
 * that event, and its insert waits on the unique index for retention's transaction (seen in
 * {@code pg_stat_activity}, not guessed with a sleep); retention commits; the insert goes on,
 * finds no conflicting row any more, and would create a second execution unless something newer
 * than the insert's snapshot looks at the retired keys. The negative control runs the same
 * interleaving against a filter inside the insert (one statement, one snapshot) and shows the
 * duplicate getting in: the interleaving is the race, and the engine's tests would fail if its
 * check were of that kind.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class RetentionRaceTest {

    static DataSource ds;

    @BeforeAll
    static void database() throws Exception {
        ds = EngineTestDatabase.newDatabase("retention_race");
    }

    @BeforeEach
    void empty() throws SQLException {
        RetentionTest.sql(ds, "TRUNCATE executions, retired_event_keys, test_effects CASCADE");
    }

    @Test
    void aDuplicateDecodedWhileRetentionDeletesItsExecutionIsAbsorbedOnTheBatchPath() throws Exception {
        duplicateDuringRemoval(false);
    }

    @Test
    void aDuplicateDecodedWhileRetentionDeletesItsExecutionIsAbsorbedOnTheCarefulPath() throws Exception {
        duplicateDuringRemoval(true);
    }

    private void duplicateDuringRemoval(boolean careful) throws Exception {
        Workflow wf = RetentionTest.deploy(ds);
        String key = wf.id() + "@1700000000000#race";
        try (ExecutionStore engine = new ExecutionStore(ds.getConnection());
             RetentionStore retention = new RetentionStore(ds.getConnection())) {
            BatchPipeline pipeline = RetentionTest.pipeline(ds, engine);
            PipelineTest.commit(pipeline, engine, List.of(event(wf, key)), new Batch.Counts());
            assertThat(RetentionTest.effects(ds, key)).isEqualTo(1);
            RetentionTest.sql(ds, "UPDATE executions SET finished_at = now() - interval '2 days' WHERE event_key = '" + key + "'");
            int enginePid = backendPid(engine.connection());
            engine.commit();

            // 1. Retention deletes the execution and retires its key; not committed yet.
            RetentionStore.Removed removed = retention.removeFinished(DAY, 10 * DAY, 100);
            assertThat(removed).isEqualTo(new RetentionStore.Removed(1, 1));

            // 2. The engine decodes the duplicate: its insert meets the row retention is deleting and waits.
            Batch.Counts counts = new Batch.Counts();
            Future<List<ProducerRecord<byte[], byte[]>>> decoding = CompletableFuture.supplyAsync(() -> {
                try {
                    return pipeline.apply(List.of(event(wf, key)), careful, counts);
                } catch (Exception e) {
                    throw new CompletionException(e);
                }
            });
            awaitLockWait(ds, enginePid);
            assertThat(decoding.isDone()).as("the engine waits for retention").isFalse();

            // 3. Retention commits; the engine's insert goes on.
            retention.commit();
            List<ProducerRecord<byte[], byte[]>> out = decoding.get(1, TimeUnit.MINUTES);
            engine.commit();

            assertThat(counts.events).as("no execution created").isZero();
            assertThat(counts.duplicateEvents).isEqualTo(1);
            assertThat(counts.nodeRuns).isZero();
            assertThat(out).as("nothing produced").isEmpty();
            assertThat(count(ds, "SELECT count(*) FROM executions WHERE event_key = '" + key + "'")).isZero();
            assertThat(count(ds, "SELECT count(*) FROM retired_event_keys WHERE event_key = '" + key + "'")).isEqualTo(1);
            assertThat(RetentionTest.effects(ds, key)).as("the node did not run again").isEqualTo(1);
        }
    }

    @Test
    void negativeControlAFilterInsideTheInsertLetsTheDuplicateIn() throws Exception {
        String key = "naive@1700000000000#race";
        RetentionTest.execution(ds, key, "succeeded", "2 days");
        try (Connection engine = ds.getConnection(); RetentionStore retention = new RetentionStore(ds.getConnection())) {
            engine.setAutoCommit(false);
            int enginePid = backendPid(engine);
            engine.commit();
            assertThat(retention.removeFinished(DAY, 10 * DAY, 100)).isEqualTo(new RetentionStore.Removed(1, 1));

            Future<Boolean> inserting = CompletableFuture.supplyAsync(() -> {
                try (PreparedStatement ps = engine.prepareStatement("INSERT INTO executions (event_key, workflow_id, "
                        + "workflow_version, status, trigger) SELECT ?, 'ret-test', 1, 'running', '{}' "
                        + "WHERE NOT EXISTS (SELECT 1 FROM retired_event_keys r WHERE r.event_key = ?) "
                        + "ON CONFLICT (event_key) DO NOTHING RETURNING id")) {
                    ps.setString(1, key);
                    ps.setString(2, key);
                    try (ResultSet rs = ps.executeQuery()) {
                        return rs.next();
                    }
                } catch (SQLException e) {
                    throw new CompletionException(e);
                }
            });
            awaitLockWait(ds, enginePid);
            retention.commit();
            boolean inserted = inserting.get(1, TimeUnit.MINUTES);
            engine.commit();

            assertThat(inserted).as("the filter read a snapshot older than the retirement").isTrue();
            assertThat(count(ds, "SELECT count(*) FROM executions WHERE event_key = '" + key + "'")).isEqualTo(1);
            assertThat(count(ds, "SELECT count(*) FROM retired_event_keys WHERE event_key = '" + key + "'")).isEqualTo(1);
        }
    }

    static int backendPid(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT pg_backend_pid()"); ResultSet rs = ps.executeQuery()) {
            rs.next();
            return rs.getInt(1);
        }
    }

    /**
     * Until the backend waits for a lock (here: for the transaction deleting the row its insert
     * conflicts with), as {@code pg_stat_activity} on {@code ds}'s server shows it; fails after 60 s.
     */
    static void awaitLockWait(DataSource ds, int pid) throws Exception {
        try (Connection c = ds.getConnection();
             PreparedStatement ps = c.prepareStatement("SELECT wait_event_type, wait_event FROM pg_stat_activity WHERE pid = ?")) {
            ps.setInt(1, pid);
            AtomicReference<String> waitEvent = new AtomicReference<>();
            await("backend " + pid + " waits for a lock").atMost(Duration.ofSeconds(60)).pollInSameThread()
                    .pollInterval(Duration.ofMillis(10)).until(() -> {
                        try (ResultSet rs = ps.executeQuery()) {
                            if (rs.next() && "Lock".equals(rs.getString(1))) {
                                waitEvent.set(rs.getString(2));
                                return true;
                            }
                            return false;
                        }
                    });
            assertThat(waitEvent.get()).as("waits for a transaction to end").isEqualTo("transactionid");
        }
    }

    private static ConsumerRecord<byte[], byte[]> event(Workflow wf, String key) {
        EventEnvelope e = new EventEnvelope(key, wf.id(), wf.version(), 1_700_000_000_000L, Json.MAPPER.createObjectNode(),
                "test", 1_700_000_000_500L);
        return new ConsumerRecord<>(Topics.EVENTS, 0, 0, key.getBytes(StandardCharsets.UTF_8), Json.bytes(e));
    }
}
