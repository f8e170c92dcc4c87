package dev.onceflow.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.onceflow.common.Json;
import dev.onceflow.common.executions.NodeStatus;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The claim of ADR 0027, raced step by step on two connections (a zombie worker and the new
 * owner of a partition, or two deliveries of one task): both read the key absent and both run the
 * node's effect in their open transactions; the processed key, inserted with the outcome at the
 * commit, lets exactly one of them commit, and the other rolls back whole, its effect included.
 * Each interleaving is forced (the wait on the other transaction is seen in
 * {@code pg_stat_activity}), not hoped for.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class ClaimRaceTest {

    static DataSource ds;

    @BeforeAll
    static void database() throws Exception {
        ds = EngineTestDatabase.newDatabase("claim_race");
    }

    @BeforeEach
    void empty() throws SQLException {
        RetentionTest.sql(ds, "TRUNCATE executions, test_effects CASCADE");
    }

    @Test
    void theSecondToCommitRollsBackItsEffectWhenTheFirstCommittedBeforeItsInsert() throws Exception {
        long id = execution("race@1");
        String key = "race@1/effect";
        try (ExecutionStore first = new ExecutionStore(ds.getConnection());
             ExecutionStore second = new ExecutionStore(ds.getConnection())) {
            assertThat(claim(first, id, key)).containsExactly(key);
            assertThat(claim(second, id, key)).as("read before the first committed: absent").containsExactly(key);
            effectAndOutcome(first, key);
            effectAndOutcome(second, key);
            first.commit();

            assertThatThrownBy(second::commit).isInstanceOf(SQLException.class)
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("40001"))
                    .hasMessageContaining(key);
            second.rollbackQuietly();

            assertThat(effects(key)).as("one effect: the loser's rolled back with it").isEqualTo(1);
            assertThat(status(key)).isEqualTo(NodeStatus.SUCCEEDED.db());
            assertThat(claim(second, id, key)).as("delivered again, the key is found: a replay").isEmpty();
            second.rollbackQuietly();
        }
    }

    @Test
    void anInsertMeetingAnUncommittedClaimWaitsForItAndLosesWhenItCommits() throws Exception {
        long id = execution("race@2");
        String key = "race@2/effect";
        try (ExecutionStore first = new ExecutionStore(ds.getConnection());
             ExecutionStore second = new ExecutionStore(ds.getConnection())) {
            CompletableFuture<Void> committing = secondCommitsWhileFirstHoldsTheKey(first, second, id, key);
            first.commit();

            assertThatThrownBy(committing::join).hasCauseInstanceOf(SQLException.class)
                    .satisfies(e -> assertThat(((SQLException) e.getCause()).getSQLState()).isEqualTo("40001"));
            second.rollbackQuietly();
            assertThat(effects(key)).isEqualTo(1);
        }
    }

    @Test
    void anInsertMeetingAClaimThatRollsBackGoesOnAndItsEffectIsTheOne() throws Exception {
        long id = execution("race@3");
        String key = "race@3/effect";
        try (ExecutionStore first = new ExecutionStore(ds.getConnection());
             ExecutionStore second = new ExecutionStore(ds.getConnection())) {
            CompletableFuture<Void> committing = secondCommitsWhileFirstHoldsTheKey(first, second, id, key);
            first.rollbackQuietly(); // the zombie's transaction dies

            committing.join();
            assertThat(effects(key)).isEqualTo(1);
            assertThat(status(key)).isEqualTo(NodeStatus.SUCCEEDED.db());
        }
    }

    /**
     * Both claim the key and run the effect; the first inserts its claim without committing; the
     * second's commit is started and seen waiting for the first's transaction.
     */
    private static CompletableFuture<Void> secondCommitsWhileFirstHoldsTheKey(ExecutionStore first, ExecutionStore second, long id,
                                                                            String key) throws Exception {
        claim(first, id, key);
        claim(second, id, key);
        effectAndOutcome(first, key);
        first.flushQueued(); // inserted, not committed
        effectAndOutcome(second, key);
        int pid = RetentionRaceTest.backendPid(second.connection());
        CompletableFuture<Void> committing = CompletableFuture.runAsync(() -> {
            try {
                second.commit();
            } catch (SQLException e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        });
        RetentionRaceTest.awaitLockWait(ds, pid);
        return committing;
    }

    @Test
    void aClaimIsWrittenOnceWithTheOutcomeItReachedNotInsertedAndThenUpdated() throws Exception {
        long id = execution("race@4");
        String done = "race@4/done";
        String open = "race@4/open";
        try (ExecutionStore store = new ExecutionStore(ds.getConnection())) {
            // This test's own database: a trigger records every update of a processed key.
            RetentionTest.sql(ds, "CREATE TABLE IF NOT EXISTS key_updates (key text NOT NULL)");
            RetentionTest.sql(ds, "CREATE OR REPLACE FUNCTION note_key_update() RETURNS trigger LANGUAGE plpgsql AS "
                    + "$$BEGIN INSERT INTO key_updates VALUES (NEW.key); RETURN NEW; END$$");
            RetentionTest.sql(ds, "CREATE OR REPLACE TRIGGER key_updates AFTER UPDATE ON processed_keys FOR EACH ROW "
                    + "EXECUTE FUNCTION note_key_update()");
            store.claimLater(List.of(done, open), List.of(id, id), List.of("done", "open"), List.of("", ""), List.of(1, 1));
            store.complete(done, NodeStatus.SUCCEEDED, Json.MAPPER.createObjectNode().put("rows", 1), List.of("next"), null);
            store.commit();
            assertThat(status(done)).isEqualTo(NodeStatus.SUCCEEDED.db());
            assertThat(status(open)).as("claimed with no outcome yet (a call, a long statement)").isEqualTo(NodeStatus.STARTED.db());
            assertThat(RetentionTest.count(ds, "SELECT count(*) FROM processed_keys WHERE key = '" + done
                    + "' AND finished_at IS NOT NULL AND output->>'rows' = '1' AND next = '[\"next\"]'")).isEqualTo(1);
            assertThat(RetentionTest.count(ds, "SELECT count(*) FROM processed_keys WHERE key = '" + open + "' AND finished_at IS NULL"))
                    .isEqualTo(1);
            // An outcome of a key claimed by an earlier transaction is an update.
            store.complete(open, NodeStatus.FAILED, null, List.of(), "no answer");
            store.commit();
            assertThat(status(open)).isEqualTo(NodeStatus.FAILED.db());
            assertThat(RetentionTest.strings(ds, "SELECT key FROM key_updates WHERE key LIKE 'race@4/%'"))
                    .as("the outcome reached in the claiming transaction was no update; the later one was").containsExactly(open);
        }
    }

    private static Set<String> claim(ExecutionStore store, long id, String key) throws SQLException {
        return store.claimLater(List.of(key), List.of(id), List.of("effect"), List.of(""), List.of(1));
    }

    private static void effectAndOutcome(ExecutionStore store, String key) throws SQLException {
        try (PreparedStatement ps = store.connection().prepareStatement("INSERT INTO test_effects (event_key, node) VALUES (?, 'effect')")) {
            ps.setString(1, key);
            ps.executeUpdate();
        }
        store.complete(key, NodeStatus.SUCCEEDED, Json.MAPPER.createObjectNode().put("rows", 1), List.of(), null);
    }

    private static long execution(String eventKey) throws SQLException {
        try (Connection c = ds.getConnection();
             PreparedStatement ps = c.prepareStatement("INSERT INTO executions (event_key, workflow_id, workflow_version, status, "
                     + "trigger) VALUES (?, 'race', 1, 'running', '{}') RETURNING id")) {
            ps.setString(1, eventKey);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    private static long effects(String key) throws SQLException {
        return RetentionTest.count(ds, "SELECT count(*) FROM test_effects WHERE event_key = '" + key + "'");
    }

    private static String status(String key) throws SQLException {
        return RetentionTest.strings(ds, "SELECT status FROM processed_keys WHERE key = '" + key + "'").get(0);
    }
}
