package dev.onceflow.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.onceflow.common.EventEnvelope;
import dev.onceflow.common.Json;
import dev.onceflow.common.TaskEnvelope;
import dev.onceflow.common.Topics;
import dev.onceflow.common.WorkflowStore;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.common.workflow.Workflows;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A long statement's own transaction ({@link RunLongStatement}, ADR 0021) on a real PostgreSQL:
 * the batch claims and hands off; two runners of the same key (the worker that handed it off and
 * a redelivery after its lease, or a new owner after a rebalance) race, and the statement's effect
 * happens once, the second runner producing the follow-ups again from the stored outcome. The
 * negative control runs the same race without the claim ({@link ClaimPolicy#UNSAFE}): twice.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class RunLongStatementTest {

    /**
     * A database of its own: the leases these tests leave come due later, and the shared database's
     * other tests fire the due timers of partition 0.
     */
    private static DataSource ds;

    @org.junit.jupiter.api.BeforeAll
    static void database() throws Exception {
        ds = EngineTestDatabase.newDatabase("runlong");
    }

    private static long count(DataSource ds, String sql, String arg) throws Exception {
        try (Connection c = ds.getConnection(); java.sql.PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setString(1, arg);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    private static RunLongStatement runner(DataSource ds, ClaimPolicy policy) throws Exception {
        ExecutionStore store = new ExecutionStore(ds.getConnection());
        NodeRunner nodes = new NodeRunner(10_000);
        return new RunLongStatement(store, new ApplyOutcome(store, new WorkflowCache(new WorkflowStore(ds)), policy,
                Clock.systemUTC(), nodes), nodes, policy);
    }

    /** Hands off the long node of a new execution of {@code wf} through a batch; returns what the batch handed off. */
    private static Batch.PendingStatement handOff(DataSource ds, Workflow wf, String eventKey, ClaimPolicy policy) throws Exception {
        try (ExecutionStore store = new ExecutionStore(ds.getConnection())) {
            BatchPipeline pipeline = EngineTestDatabase.pipeline(ds, store, Clock.systemUTC(), policy);
            EventEnvelope e = new EventEnvelope(eventKey, wf.id(), wf.version(), 1_700_000_000_000L, Json.MAPPER.createObjectNode(),
                    "test", 1_700_000_000_500L);
            List<ProducerRecord<byte[], byte[]>> out = pipeline.apply(List.of(new ConsumerRecord<>(Topics.EVENTS, 0, 0L,
                    eventKey.getBytes(StandardCharsets.UTF_8), Json.bytes(e))), false, new Batch.Counts());
            store.commit();
            assertThat(out).as("nothing to produce: the statement has not run").isEmpty();
            List<Batch.PendingStatement> handed = pipeline.takeStatements();
            assertThat(handed).hasSize(1);
            return handed.get(0);
        }
    }

    private Workflow deploy(DataSource ds) throws Exception {
        String id = "rl-" + UUID.randomUUID().toString().substring(0, 8);
        return new WorkflowStore(ds).deploy(Workflows.parse(id + ".json", ("""
                {"id": "%s", "trigger": {"type": "kafka"}, "nodes": [
                  {"type": "sql", "id": "long", "long": true,
                   "sql": "INSERT INTO test_effects (event_key, node) SELECT ?, 'long' FROM pg_sleep(1.5)", "params": ["event.key"],
                   "next": "after"},
                  {"type": "sql", "id": "after", "sql": "INSERT INTO test_effects (event_key, node) VALUES (?, 'after')",
                   "params": ["event.key"]}
                ]}""".formatted(id)).getBytes(StandardCharsets.UTF_8)));
    }

    private static String nextNode(ProducerRecord<byte[], byte[]> r) throws Exception {
        return Json.read(r.value(), TaskEnvelope.class).node();
    }

    /** Both runners of one key at once: the second waits on the first's lock. Returns their results. */
    private static List<RunLongStatement.Done> race(DataSource ds, Batch.PendingStatement handed, ClaimPolicy policy)
            throws Exception {
        try (RunLongStatement first = runner(ds, policy); RunLongStatement second = runner(ds, policy)) {
            CompletableFuture<RunLongStatement.Done> a = CompletableFuture.supplyAsync(() -> run(first, handed));
            // The second starts once the first's statement runs (it holds the key's lock by then).
            await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(20)).until(() -> count(ds,
                    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE ? AND state = 'active'",
                    "INSERT INTO test_effects%pg_sleep%") >= 1);
            CompletableFuture<RunLongStatement.Done> b = CompletableFuture.supplyAsync(() -> run(second, handed));
            return List.of(a.get(30, TimeUnit.SECONDS), b.get(30, TimeUnit.SECONDS));
        }
    }

    private static RunLongStatement.Done run(RunLongStatement r, Batch.PendingStatement handed) {
        try {
            return r.run(handed, false, () -> false);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void twoRunnersOfOneKeyRunTheStatementOnceAndBothProduceItsFollowUp() throws Exception {
        Workflow wf = deploy(ds);
        String key = wf.id() + "@1700000000000#r-1";
        Batch.PendingStatement handed = handOff(ds, wf, key, ClaimPolicy.ONCE);
        assertThat(count(ds, "SELECT count(*) FROM processed_keys WHERE key = ? AND status = 'started'", key + "/long"))
                .as("claimed by the batch, not run").isEqualTo(1);
        assertThat(count(ds, "SELECT count(*) FROM timers WHERE key = ? AND kind = 'lease' AND fired_at IS NULL", key + "/long"))
                .as("with a lease timer").isEqualTo(1);

        List<RunLongStatement.Done> done = race(ds, handed, ClaimPolicy.ONCE);

        assertThat(count(ds, "SELECT count(*) FROM test_effects WHERE node = 'long' AND event_key = ?", key))
                .as("the statement's effect, once").isEqualTo(1);
        assertThat(count(ds, "SELECT count(*) FROM processed_keys WHERE key = ? AND status = 'succeeded'", key + "/long")).isEqualTo(1);
        for (RunLongStatement.Done d : done) {
            assertThat(d.key()).isEqualTo(key + "/long");
            assertThat(d.out()).as("each runner produces the follow-up (the second from the stored outcome)").hasSize(1);
            assertThat(nextNode(d.out().get(0))).isEqualTo("after");
        }
    }

    @Test
    void negativeControlWithoutTheClaimBothRunnersRunTheStatement() throws Exception {
        Workflow wf = deploy(ds);
        String key = wf.id() + "@1700000000000#u-1";
        Batch.PendingStatement handed = handOff(ds, wf, key, ClaimPolicy.UNSAFE);

        race(ds, handed, ClaimPolicy.UNSAFE);

        assertThat(count(ds, "SELECT count(*) FROM test_effects WHERE node = 'long' AND event_key = ?", key))
                .as("the checker sees the effect twice when the guarantee is off").isEqualTo(2);
    }

    /**
     * A cancel that commits while the statement runs is not blocked by it (the execution is
     * share-locked only after the statement), and the statement is rolled back: no node's effect
     * commits after its execution was cancelled (ADR 0013).
     */
    @Test
    void aCancelWhileTheStatementRunsRollsItBack() throws Exception {
        Workflow wf = deploy(ds);
        String key = wf.id() + "@1700000000000#c-1";
        Batch.PendingStatement handed = handOff(ds, wf, key, ClaimPolicy.ONCE);
        try (RunLongStatement runner = runner(ds, ClaimPolicy.ONCE)) {
            CompletableFuture<RunLongStatement.Done> running = CompletableFuture.supplyAsync(() -> run(runner, handed));
            await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(20)).until(() -> count(ds,
                    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE ? AND state = 'active'",
                    "INSERT INTO test_effects%pg_sleep%") >= 1);
            long cancelStarted = System.nanoTime();
            try (Connection c = ds.getConnection(); Statement st = c.createStatement()) {
                st.setQueryTimeout(1); // fails the test if the statement's transaction blocks the cancel
                st.executeUpdate("UPDATE executions SET status = 'cancelled', finished_at = now() WHERE event_key = '" + key + "'");
            }
            assertThat(running.isDone()).as("the cancel committed while the statement ran").isFalse();
            assertThat(System.nanoTime() - cancelStarted).isLessThan(TimeUnit.SECONDS.toNanos(1));
            RunLongStatement.Done done = running.get(30, TimeUnit.SECONDS);
            assertThat(done.out()).as("nothing follows").isEmpty();
        }
        assertThat(count(ds, "SELECT count(*) FROM test_effects WHERE event_key = ?", key)).as("the effect rolled back").isZero();
        assertThat(count(ds, "SELECT count(*) FROM processed_keys WHERE key = ? AND status = 'started'", key + "/long")).isEqualTo(1);
    }

    /**
     * The inline limit ({@code engine.sql.inline.ms}): a statement stopped there is
     * {@link SqlNode#OVERRAN} (handed off, no failure) and remembered by its worker's runner; one
     * whose own timeout is no longer than the limit times out as the node's failure, as before.
     */
    @Test
    void aStatementStoppedAtTheInlineLimitIsHandedOffUnlessItsOwnTimeoutIsAsShort() throws Exception {
        NodeRunner runner = new NodeRunner(30_000, Clock.systemUTC(), List.of(), 1_000, 30_000);
        dev.onceflow.common.workflow.Node.Sql slow = new dev.onceflow.common.workflow.Node.Sql("slow", "SELECT pg_sleep(1.6)",
                List.of(), null, null);
        dev.onceflow.common.workflow.Node.Sql shortTimeout = new dev.onceflow.common.workflow.Node.Sql("short", "SELECT pg_sleep(1.6)",
                List.of(), null, 1_000L);
        try (Connection c = ds.getConnection()) {
            c.setAutoCommit(false);
            assertThat(runner.runsLong(slow)).isFalse();
            NodeResult overran = runner.run(slow, java.util.Map.of(), c);
            c.rollback();
            assertThat(overran).isInstanceOf(NodeResult.Failed.class);
            assertThat(((NodeResult.Failed) overran).errorClass()).isEqualTo(SqlNode.OVERRAN);
            assertThat(runner.runsLong(slow)).as("remembered: handed off from now on").isTrue();

            NodeResult timedOut = runner.run(shortTimeout, java.util.Map.of(), c);
            c.rollback();
            assertThat(((NodeResult.Failed) timedOut).errorClass()).isEqualTo("timeout");
            assertThat(runner.runsLong(shortTimeout)).isFalse();

            assertThat(runner.runLong(slow, java.util.Map.of(), c)).as("off the thread, its own timeout")
                    .isInstanceOf(NodeResult.Succeeded.class);
            c.rollback();
        }
    }
}
