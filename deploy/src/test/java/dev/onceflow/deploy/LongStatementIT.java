package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.onceflow.common.EventEnvelope;
import dev.onceflow.common.Json;
import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.common.Topics;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.deploy.proof.ChildProcess;
import dev.onceflow.engine.Engine;
import dev.onceflow.engine.EngineHooks;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Long SQL off the poll thread (ADR 0021): a statement marked {@code long} runs on a connection and
 * in a transaction of its own, so the worker that handed it off keeps polling and the other keys of
 * its partitions keep finishing (before, the worker paused every partition until the statement
 * ended, and they all waited). And its effect happens once whatever stops the engine: while the
 * statement runs (rolled back, run again after its lease) or between its PostgreSQL commit and the
 * Kafka transaction that carries its follow-ups (its lease delivers the task again, which finds
 * the key processed). The negative control runs the last case on the unsafe engine, which keeps
 * no processed keys, and must see the effect twice.
 */
@Timeout(value = 6, unit = TimeUnit.MINUTES)
class LongStatementIT {

    private static final int OTHERS = 200;
    /**
     * How much longer than its pg_sleep a long statement's timeout is: its lease is due
     * {@code engine.lease.grace.ms} after the timeout.
     */
    private static final int TIMEOUT_MARGIN_MS = 2_000;

    /**
     * A lease grace of 2 s (the least allowed) instead of 30, for the tests that wait for a lease: a lost statement
     * comes back sooner. Not for the first engine process of the process-kill test, whose
     * restarted engine must not yet see the killed statement's lease when it runs the next one.
     */
    private static final Map<String, String> SHORT_LEASE = Map.of(OnceflowConfig.ENGINE_LEASE_GRACE.name(), "2000");

    @RegisterExtension
    final Fleet fleet = new Fleet(TestInfra.embedded());
    private final List<ChildProcess> children = new java.util.ArrayList<>();

    /** Runs before the fleet closes (JUnit runs a test's @AfterEach before its extensions' afterEach). */
    @AfterEach
    void killChildren() throws Exception {
        for (ChildProcess c : children) {
            c.kill9();
        }
    }

    /**
     * A workflow whose long node writes its effect and sleeps {@code seconds} in one statement, then one more effect;
     * the statement's timeout is {@link #TIMEOUT_MARGIN_MS} more than its sleep.
     */
    private Workflow deployLong(String prefix, int seconds) throws Exception {
        return fleet.deploy("""
                {"id": "%s", "trigger": {"type": "kafka"}, "nodes": [
                  {"type": "sql", "id": "long", "long": true, "timeoutMs": %d,
                   "sql": "INSERT INTO it_effects (event_key, node) SELECT ?, 'long' FROM pg_sleep(%d)", "params": ["event.key"],
                   "next": "after"},
                  {"type": "sql", "id": "after", "sql": "INSERT INTO it_effects (event_key, node) VALUES (?, 'after')",
                   "params": ["event.key"]}
                ]}""".formatted(Fleet.uniqueId(prefix), seconds * 1_000 + TIMEOUT_MARGIN_MS, seconds));
    }

    private static String key(Workflow wf, String id) {
        return wf.id() + "@1700000000000#" + id;
    }

    /** Straight to {@value Topics#EVENTS}, keyed as the dispatcher keys them: what is measured is the engine. */
    private void publishEvent(Workflow wf, String id) {
        String key = key(wf, id);
        EventEnvelope event = new EventEnvelope(key, wf.id(), wf.version(), 1_700_000_000_000L, Fleet.data(0), "test",
                System.currentTimeMillis());
        fleet.publishRaw(Topics.EVENTS, key, Json.bytes(event));
    }

    private long effects(Workflow wf, String node) throws Exception {
        return fleet.count("SELECT count(*) FROM it_effects WHERE node = ? AND event_key LIKE ? || '@%'", node, wf.id());
    }

    private void awaitStatementRunning() {
        await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofMillis(50)).until(() -> fleet.count(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'INSERT INTO it_effects%pg_sleep%' AND state = 'active'") == 1);
    }

    @Test
    void otherKeysOnTheSameWorkerFinishWhileALongStatementRuns() throws Exception {
        Workflow slow = deployLong("long", 5);
        Workflow fast = fleet.deploy("{\"id\": \"" + Fleet.uniqueId("fast") + "\", \"trigger\": {\"type\": \"kafka\"}, \"nodes\": "
                + Fleet.effectNode("effect") + "}");
        // One worker owns every partition: before, every key waited on its poll thread.
        Engine engine = fleet.startEngine(1);
        publishEvent(slow, "slow");
        fleet.flush();
        awaitStatementRunning();
        long revokedBefore = engine.metrics().partitionsRevoked();

        for (int i = 0; i < OTHERS; i++) {
            publishEvent(fast, "fast-" + i);
        }
        fleet.flush();
        // Stops at whichever comes first: the others all done, or the long statement committed.
        await().atMost(Duration.ofMinutes(1)).pollInterval(Duration.ofMillis(50))
                .until(() -> fleet.succeeded(fast.id()) == OTHERS || effects(slow, "long") > 0);
        long othersDone = fleet.succeeded(fast.id());
        long longDoneThen = effects(slow, "long");

        assertThat(othersDone).as("the other keys' executions succeeded").isEqualTo(OTHERS);
        assertThat(longDoneThen).as("... while the long statement still ran").isZero();

        await().atMost(Duration.ofMinutes(1)).pollInterval(Duration.ofMillis(200)).until(() -> fleet.succeeded(slow.id()) == 1);
        assertThat(effects(slow, "long")).as("the long statement's effect, once").isEqualTo(1);
        assertThat(effects(slow, "after")).isEqualTo(1);
        assertThat(fleet.duplicateEffects(fast.id())).isZero();
        assertThat(engine.metrics().longStatements()).as("run off the poll thread").isEqualTo(1);
        assertThat(engine.metrics().partitionsRevoked() - revokedBefore).as("no rebalance meanwhile").isZero();
    }

    @Test
    void aLongStatementsEffectHappensOnceWhenItsEngineStopsWhileItRuns() throws Exception {
        fleet.with(SHORT_LEASE);
        Workflow wf = deployLong("stopped", 3);
        Engine first = fleet.startEngine(1);
        publishEvent(wf, "s-1");
        fleet.flush();
        awaitStatementRunning();
        fleet.stop(first); // cancels the running statement: rolled back, the key stays 'started'
        assertThat(effects(wf, "long")).as("nothing committed by the stopped engine").isZero();
        assertThat(fleet.count("SELECT count(*) FROM processed_keys WHERE key = ? AND status = 'started'", key(wf, "s-1") + "/long"))
                .isEqualTo(1);

        // The next engine gets nothing from Kafka (the handing batch committed its offsets): the lease brings the task back.
        fleet.startEngine(1);
        await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofMillis(500)).until(() -> fleet.succeeded(wf.id()) == 1);
        assertThat(effects(wf, "long")).as("the long statement's effect, once").isEqualTo(1);
        assertThat(effects(wf, "after")).isEqualTo(1);
    }

    /** Fails the first time a worker is about to produce what long statements committed: a crash between the two commits. */
    static final class FailAfterLongStatement implements EngineHooks {
        final AtomicInteger injected = new AtomicInteger();

        @Override
        public void afterLongStatements(String worker, List<String> keys) {
            if (injected.compareAndSet(0, 1)) {
                throw new IllegalStateException("injected crash between a long statement's PostgreSQL commit and the Kafka commit");
            }
        }
    }

    @Test
    void aLongStatementsEffectHappensOnceWhenItsFollowUpsAreLostBetweenTheCommits() throws Exception {
        fleet.with(SHORT_LEASE);
        Workflow wf = deployLong("between", 2);
        FailAfterLongStatement hooks = new FailAfterLongStatement();
        fleet.startEngine(1, hooks, false);
        publishEvent(wf, "b-1");
        fleet.flush();

        await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofMillis(500)).until(() -> fleet.succeeded(wf.id()) == 1);
        assertThat(hooks.injected.get()).as("the fault was injected").isEqualTo(1);
        assertThat(effects(wf, "long")).as("the long statement's effect, once").isEqualTo(1);
        assertThat(effects(wf, "after")).isEqualTo(1);
        assertThat(fleet.count("SELECT count(*) FROM timers WHERE key = ? AND kind = 'lease' AND fired_at IS NOT NULL",
                key(wf, "b-1") + "/long")).as("its lease fired, then was marked").isEqualTo(1);
    }

    @Test
    void negativeControlUnsafeEngineRunsTheLongStatementTwice() throws Exception {
        fleet.with(SHORT_LEASE);
        Workflow wf = deployLong("unsafe", 2);
        FailAfterLongStatement hooks = new FailAfterLongStatement();
        fleet.startEngine(1, hooks, true);
        publishEvent(wf, "u-1");
        fleet.flush();

        await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofMillis(500)).until(() -> effects(wf, "after") >= 1);
        assertThat(hooks.injected.get()).isEqualTo(1);
        assertThat(effects(wf, "long")).as("the checker sees the effect twice when the guarantee is off").isEqualTo(2);
    }

    /**
     * The same two crashes in a real engine process: kill -9 while the statement runs (its
     * PostgreSQL session ends without a commit), and a halt ({@code --halt-between-commits}, as a
     * kill -9 ends it) after a long statement's own commit and before the Kafka transaction with
     * its follow-ups. An in-process engine then takes the partitions; the leases bring both tasks back.
     *
     * <p>A lease is set by the engine that hands the statement off, with its own grace: the first
     * process keeps the default (30 s), so that k-1's lease stays away while the second process
     * runs k-2 (some 20 s later); the second has the short grace, so that k-2's lease comes due
     * with k-1's instead of 20 s after it.
     */
    @Test
    void aLongStatementsEffectHappensOnceWhenItsEngineProcessIsKilled() throws Exception {
        Workflow wf = deployLong("killed", 3);
        Path dir = Files.createDirectories(Path.of("target", "long-statement-it"));
        Path haltTrigger = dir.resolve("halt-" + wf.id());
        Files.deleteIfExists(haltTrigger);
        List<String> command = ChildProcess.java("384m", Onceflow.class.getName(),
                List.of("engine", "--halt-between-commits", haltTrigger.toString()));
        ChildProcess child = new ChildProcess("engine-" + wf.id(), command, fleet.config(1).environment(), dir);
        children.add(child);
        child.start(); // the statement runs once the child has joined the group and taken the partitions
        publishEvent(wf, "k-1");
        fleet.flush();
        awaitStatementRunning();
        child.kill9(); // mid-statement: nothing committed
        await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(200)).until(() -> fleet.count(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'INSERT INTO it_effects%pg_sleep%' AND state = 'active'") == 0);
        assertThat(effects(wf, "long")).as("the killed engine's statement committed nothing").isZero();

        child = new ChildProcess("engine-short-lease-" + wf.id(), command, fleet.config(1).with(SHORT_LEASE).environment(), dir);
        children.add(child);
        child.start();
        publishEvent(wf, "k-2");
        fleet.flush();
        awaitStatementRunning();
        Files.writeString(haltTrigger, "halt"); // the next commit of this process is the statement's own
        long pid = child.pid();
        await().atMost(Duration.ofSeconds(60)).until(() -> !Files.exists(haltTrigger)
                && ProcessHandle.of(pid).map(p -> !p.isAlive()).orElse(true));
        assertThat(effects(wf, "long")).as("k-2's statement committed before the halt").isEqualTo(1);
        assertThat(effects(wf, "after")).as("its follow-up was lost with the process").isZero();

        fleet.startEngine(1);
        await().atMost(Duration.ofMinutes(3)).pollInterval(Duration.ofMillis(500)).until(() -> fleet.succeeded(wf.id()) == 2);
        assertThat(effects(wf, "long")).as("each long statement's effect, once").isEqualTo(2);
        assertThat(fleet.duplicateEffects(wf.id())).isZero();
        assertThat(effects(wf, "after")).isEqualTo(2);
    }
}
