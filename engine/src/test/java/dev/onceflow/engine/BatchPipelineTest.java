package dev.onceflow.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.common.EventEnvelope;
import dev.onceflow.common.Json;
import dev.onceflow.common.Migrations;
import dev.onceflow.common.Outcome;
import dev.onceflow.common.Topics;
import dev.onceflow.common.WorkflowStore;
import dev.onceflow.common.local.LocalPostgres;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.common.workflow.Workflows;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import javax.sql.DataSource;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link BatchPipeline} and {@link ExecutionStore} on a real PostgreSQL (embedded), fed records as
 * the consumer would hand them over: poison records, redelivered events of finished executions.
 * The loop around them is driven here the way {@link EngineLoop}'s catch ladder drives it.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class BatchPipelineTest {

    private static DataSource ds;

    private Connection connection;
    private ExecutionStore store;
    private final AtomicLong offsets = new AtomicLong();
    /** Savepoints each transaction of {@link #runUntilCommitted} held when it committed. */
    private final List<Integer> savepointsAtCommit = new ArrayList<>();
    private final Clock clock = Clock.fixed(Instant.parse("2026-11-27T10:00:00.123Z"), ZoneOffset.UTC);

    @BeforeAll
    static void startPostgres() throws Exception {
        ds = EngineTestDatabase.get();
    }

    @BeforeEach
    void open() throws SQLException {
        connection = ds.getConnection();
        store = new ExecutionStore(connection);
    }

    @AfterEach
    void close() {
        store.rollbackQuietly();
        store.close();
    }

    private BatchPipeline handler(int maxAttempts) {
        return new BatchPipeline(store, new WorkflowCache(new WorkflowStore(ds)), new NodeRunner(5_000), clock, ClaimPolicy.ONCE,
                new PoisonAttempts(maxAttempts));
    }

    private Workflow deployOneNode() throws Exception {
        String id = "bh-" + UUID.randomUUID().toString().substring(0, 8);
        Workflow wf = Workflows.parse(id + ".json", ("""
                {"id": "%s", "trigger": {"type": "kafka"}, "nodes": [
                  {"type": "sql", "id": "effect", "sql": "INSERT INTO test_effects (event_key, node) VALUES (?, 'effect')",
                   "params": ["event.key"]}
                ]}""").formatted(id).getBytes(StandardCharsets.UTF_8));
        return new WorkflowStore(ds).deploy(wf);
    }

    private ConsumerRecord<byte[], byte[]> event(Workflow wf, String key, ObjectNode data) {
        EventEnvelope e = new EventEnvelope(key, wf.id(), wf.version(), 1_700_000_000_000L, data, "test", 1_700_000_000_500L);
        return new ConsumerRecord<>(Topics.EVENTS, 0, offsets.getAndIncrement(), key.getBytes(StandardCharsets.UTF_8),
                Json.bytes(e));
    }

    /** EngineLoop's ladder for one batch, without Kafka: fast path, careful replay, bounded retries. */
    private List<ProducerRecord<byte[], byte[]>> runUntilCommitted(BatchPipeline handler, List<ConsumerRecord<byte[], byte[]>> batch,
                                                                    List<String> failures) throws Exception {
        List<ProducerRecord<byte[], byte[]>> committed = new ArrayList<>();
        List<ConsumerRecord<byte[], byte[]>> rest = batch;
        for (int round = 0; round < 20; round++) {
            boolean careful = false;
            while (true) {
                try {
                    List<ProducerRecord<byte[], byte[]>> out = handler.apply(rest, careful, new Batch.Counts());
                    int applied = handler.appliedRecords();
                    assertThat(applied).as("at least one record per transaction").isPositive();
                    savepointsAtCommit.add(store.savepointsTaken());
                    store.commit();
                    committed.addAll(out);
                    if (applied == rest.size()) {
                        return committed;
                    }
                    rest = rest.subList(applied, rest.size()); // careful replay past its savepoint budget: the rest
                } catch (BatchPipeline.ReplayCarefully e) {
                    store.rollbackQuietly();
                    careful = true;
                } catch (BatchPipeline.RetryBatch e) {
                    failures.add("retry: " + e.getMessage());
                    store.rollbackQuietly();
                    break;
                } catch (SQLException | RuntimeException e) {
                    assertThat(Failures.classify(e)).isEqualTo(Failures.Recovery.POISON);
                    failures.add("poison: " + e.getMessage());
                    store.rollbackQuietly();
                    careful = true;
                }
            }
        }
        throw new AssertionError("the batch never committed: " + failures);
    }

    private static String status(String eventKey) throws SQLException {
        try (Connection c = ds.getConnection(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT status || ':' || coalesce(error, '') FROM executions WHERE event_key = '"
                     + eventKey.replace("'", "''") + "'")) {
            return rs.next() ? rs.getString(1) : null;
        }
    }

    private static long effects(String eventKey) throws SQLException {
        try (Connection c = ds.getConnection(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT count(*) FROM test_effects WHERE event_key = '" + eventKey + "'")) {
            rs.next();
            return rs.getLong(1);
        }
    }

    @Test
    void triggerDataPostgresRefusesIsDeadLetteredAfterMaxAttemptsWhileTheRestOfTheBatchRuns() throws Exception {
        Workflow wf = deployOneNode();
        String good1 = wf.id() + "@1#a", poison = wf.id() + "@1#nul", good2 = wf.id() + "@1#b";
        List<ConsumerRecord<byte[], byte[]>> batch = List.of(
                event(wf, good1, Json.MAPPER.createObjectNode().put("n", 1)),
                // jsonb refuses \u0000 (SQLSTATE 22P05): the execution's INSERT fails for this record only
                event(wf, poison, Json.MAPPER.createObjectNode().put("text", "a\u0000b")),
                event(wf, good2, Json.MAPPER.createObjectNode().put("n", 2)));
        List<String> failures = new ArrayList<>();

        List<ProducerRecord<byte[], byte[]>> out = runUntilCommitted(handler(3), batch, failures);

        assertThat(failures.stream().filter(f -> f.startsWith("retry")).count()).as("retries before dead-lettering: " + failures)
                .isEqualTo(2);
        assertThat(failures).anyMatch(f -> f.contains("22P05") || f.contains("Unicode"));
        ProducerRecord<byte[], byte[]> dlq = out.stream().filter(r -> r.topic().equals(Topics.DLQ)).findFirst().orElseThrow();
        assertThat(new String(dlq.headers().lastHeader(Topics.H_ERROR_CLASS).value(), StandardCharsets.UTF_8))
                .isEqualTo("PROCESSING_FAILED");
        assertThat(new String(dlq.headers().lastHeader(Topics.H_ERROR_MESSAGE).value(), StandardCharsets.UTF_8))
                .contains("3 times").containsIgnoringCase("unicode");
        assertThat(dlq.value()).isEqualTo(batch.get(1).value());
        assertThat(status(poison)).startsWith("failed:").contains("onceflow.dlq");
        assertThat(status(good1)).isEqualTo("succeeded:");
        assertThat(status(good2)).isEqualTo("succeeded:");
        assertThat(effects(good1)).isEqualTo(1);
        assertThat(effects(good2)).isEqualTo(1);
        assertThat(effects(poison)).isZero();
        assertThat(out.stream().filter(r -> r.topic().equals(Topics.OUTCOMES)).count()).as("an outcome for each").isEqualTo(3);
    }

    @Test
    void aCarefulReplayOfALargeBatchCommitsInPartsThatStayUnderPostgresSubtransactionCache() throws Exception {
        // Every 50th event divides by zero: its SQL fails, which aborts the fast path's transaction.
        String id = "bh-" + UUID.randomUUID().toString().substring(0, 8);
        Workflow wf = new WorkflowStore(ds).deploy(Workflows.parse(id + ".json", ("""
                {"id": "%s", "trigger": {"type": "kafka"}, "nodes": [
                  {"type": "sql", "id": "effect", "sql": "INSERT INTO test_effects (event_key, node) VALUES (?, 'e' || (10 / ?::int))",
                   "params": ["event.key", "trigger.n"]}
                ]}""").formatted(id).getBytes(StandardCharsets.UTF_8)));
        List<ConsumerRecord<byte[], byte[]>> batch = new ArrayList<>();
        for (int i = 0; i < 500; i++) {
            batch.add(event(wf, wf.id() + "@5#" + i, Json.MAPPER.createObjectNode().put("n", i % 50 == 7 ? 0 : 1)));
        }

        runUntilCommitted(handler(3), batch, new ArrayList<>());

        assertThat(savepointsAtCommit).as("the careful replay of 500 records commits in parts").hasSizeGreaterThan(5);
        assertThat(savepointsAtCommit).as("no transaction overflowed PostgreSQL's 64 cached subtransactions")
                .allMatch(n -> n < 64);
        for (int i = 0; i < 500; i++) {
            String key = wf.id() + "@5#" + i;
            if (i % 50 == 7) {
                assertThat(status(key)).startsWith("failed:").contains("division by zero");
                assertThat(effects(key)).isZero();
            } else {
                assertThat(status(key)).isEqualTo("succeeded:");
                assertThat(effects(key)).as(key).isEqualTo(1);
            }
        }
    }

    @Test
    void aPoisonRecordWithTriesLeftRollsTheWholeBatchBack() throws Exception {
        Workflow wf = deployOneNode();
        String good = wf.id() + "@2#a", poison = wf.id() + "@2#nul";
        List<ConsumerRecord<byte[], byte[]>> batch = List.of(
                event(wf, good, Json.MAPPER.createObjectNode().put("n", 1)),
                event(wf, poison, Json.MAPPER.createObjectNode().put("text", "\u0000")));
        BatchPipeline handler = handler(5);

        assertThatThrownBy(() -> handler.apply(batch, true, new Batch.Counts()))
                .isInstanceOf(BatchPipeline.RetryBatch.class).hasMessageContaining("attempt 1 of 5");
        store.rollbackQuietly();

        assertThat(status(good)).as("nothing of the batch is committed while the record has tries left").isNull();
        assertThat(effects(good)).isZero();
    }

    @Test
    void redeliveredEventOfAFinishedExecutionProducesTheSameOutcomeAgain() throws Exception {
        Workflow wf = deployOneNode();
        String key = wf.id() + "@3#x";
        ConsumerRecord<byte[], byte[]> record = event(wf, key, Json.MAPPER.createObjectNode().put("n", 3));
        BatchPipeline handler = handler(3);

        List<ProducerRecord<byte[], byte[]>> first = runUntilCommitted(handler, List.of(record), new ArrayList<>());
        // The Kafka transaction with this outcome aborted (a crash between the commits): the
        // event comes again, on the fast path and on the careful path.
        List<ProducerRecord<byte[], byte[]>> again = runUntilCommitted(handler, List.of(record), new ArrayList<>());
        List<ProducerRecord<byte[], byte[]>> carefully = handler.apply(List.of(record), true, new Batch.Counts());
        store.commit();

        Outcome original = outcome(first);
        assertThat(original.status()).isEqualTo("succeeded");
        assertThat(original.finishedAt()).isEqualTo(clock.millis());
        assertThat(outcome(again)).isEqualTo(original);
        assertThat(outcome(carefully)).isEqualTo(original);
        assertThat(again.stream().filter(r -> r.topic().equals(Topics.OUTCOMES)).findFirst().orElseThrow().key())
                .isEqualTo(key.getBytes(StandardCharsets.UTF_8));
        assertThat(effects(key)).isEqualTo(1);
    }

    @Test
    void redeliveredTaskOfAFinishedExecutionProducesItsOutcomeAgain() throws Exception {
        Workflow wf = deployOneNode();
        String key = wf.id() + "@4#x";
        ConsumerRecord<byte[], byte[]> record = event(wf, key, Json.MAPPER.createObjectNode().put("n", 4));
        BatchPipeline handler = handler(3);
        Outcome original = outcome(runUntilCommitted(handler, List.of(record), new ArrayList<>()));

        dev.onceflow.common.TaskEnvelope task = new dev.onceflow.common.TaskEnvelope(key, original.executionId(), wf.id(),
                wf.version(), "effect", "", 1_700_000_000_000L, Json.MAPPER.createObjectNode(), java.util.Map.of(),
                1_700_000_000_500L);
        ConsumerRecord<byte[], byte[]> taskRecord = new ConsumerRecord<>(Topics.TASKS, 0, offsets.getAndIncrement(),
                key.getBytes(StandardCharsets.UTF_8), Json.bytes(task));
        List<ProducerRecord<byte[], byte[]>> again = runUntilCommitted(handler, List.of(taskRecord), new ArrayList<>());

        assertThat(outcome(again)).isEqualTo(original);
        assertThat(effects(key)).as("the node did not run again").isEqualTo(1);
    }

    @Test
    void changesOfANodeFollowAMessageWithTheExecutionsDepthPlusOne() throws Exception {
        Workflow wf = deployOneNode();
        String key = wf.id() + "@5#deep";
        EventEnvelope e = new EventEnvelope(key, wf.id(), wf.version(), 1_700_000_000_000L,
                Json.MAPPER.createObjectNode(), "test", 0, 2);
        ConsumerRecord<byte[], byte[]> record = new ConsumerRecord<>(Topics.EVENTS, 0, offsets.getAndIncrement(),
                key.getBytes(StandardCharsets.UTF_8), Json.bytes(e));
        try (Connection c = ds.getConnection(); Statement st = c.createStatement()) {
            st.execute("SELECT pg_create_logical_replication_slot('bh_depth', 'test_decoding')");
        }
        try {
            runUntilCommitted(handler(3), List.of(record), new ArrayList<>());
            List<String> decoded = new ArrayList<>();
            try (Connection c = ds.getConnection(); Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("SELECT data FROM pg_logical_slot_get_changes('bh_depth', NULL, NULL)")) {
                while (rs.next()) {
                    decoded.add(rs.getString(1));
                }
            }
            int message = indexOf(decoded, "prefix: onceflow.depth");
            int insert = indexOf(decoded, "table public.test_effects: INSERT");
            assertThat(message).as("decoded: " + decoded).isNotNegative();
            assertThat(decoded.get(message)).contains("transactional: 1").endsWith("content:3");
            assertThat(insert).as("the effect follows the message in WAL order").isGreaterThan(message);
            try (Connection c = ds.getConnection(); Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("SELECT depth FROM executions WHERE event_key = '" + key + "'")) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getInt(1)).isEqualTo(2);
            }
        } finally {
            try (Connection c = ds.getConnection(); Statement st = c.createStatement()) {
                st.execute("SELECT pg_drop_replication_slot('bh_depth')");
            }
        }
    }

    @Test
    void executionsOfDifferentDepthsInOneBatchEachMarkTheirOwnDepth() throws Exception {
        // A regression: one mark per wave (the deepest) made the shallower execution's change look
        // deeper than it was, so a chain of row-change workflows skipped a depth.
        Workflow wf = deployOneNode();
        String shallow = wf.id() + "@6#shallow", deep = wf.id() + "@6#deep";
        List<ConsumerRecord<byte[], byte[]>> batch = new ArrayList<>();
        for (var k : List.of(java.util.Map.entry(shallow, 0), java.util.Map.entry(deep, 3))) {
            EventEnvelope e = new EventEnvelope(k.getKey(), wf.id(), wf.version(), 1_700_000_000_000L,
                    Json.MAPPER.createObjectNode(), "test", 0, k.getValue());
            batch.add(new ConsumerRecord<>(Topics.EVENTS, 0, offsets.getAndIncrement(),
                    k.getKey().getBytes(StandardCharsets.UTF_8), Json.bytes(e)));
        }
        try (Connection c = ds.getConnection(); Statement st = c.createStatement()) {
            st.execute("SELECT pg_create_logical_replication_slot('bh_depths', 'test_decoding')");
        }
        try {
            runUntilCommitted(handler(3), batch, new ArrayList<>());
            List<String> decoded = new ArrayList<>();
            try (Connection c = ds.getConnection(); Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("SELECT data FROM pg_logical_slot_get_changes('bh_depths', NULL, NULL)")) {
                while (rs.next()) {
                    decoded.add(rs.getString(1));
                }
            }
            assertThat(depthBefore(decoded, shallow)).as("decoded: " + decoded).isEqualTo("1");
            assertThat(depthBefore(decoded, deep)).as("decoded: " + decoded).isEqualTo("4");
        } finally {
            try (Connection c = ds.getConnection(); Statement st = c.createStatement()) {
                st.execute("SELECT pg_drop_replication_slot('bh_depths')");
            }
        }
    }

    /** The content of the last depth message decoded before the insert of {@code key}'s effect. */
    private static String depthBefore(List<String> decoded, String key) {
        String depth = null;
        for (String line : decoded) {
            if (line.contains("prefix: onceflow.depth")) {
                depth = line.substring(line.lastIndexOf("content:") + "content:".length());
            } else if (line.contains("table public.test_effects: INSERT") && line.contains("'" + key + "'")) {
                return depth;
            }
        }
        throw new AssertionError("no insert of " + key + " in " + decoded);
    }

    @Test
    void anEnvelopeWithoutDepthDecodesAsDepthZero() throws Exception {
        byte[] old = ("{\"eventKey\":\"w@1\",\"workflow\":\"w\",\"version\":1,\"time\":1,\"data\":{},"
                + "\"source\":\"s\",\"publishedAt\":0}").getBytes(StandardCharsets.UTF_8);
        assertThat(Json.read(old, EventEnvelope.class).depth()).isZero();
    }

    private static int indexOf(List<String> lines, String part) {
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).contains(part)) {
                return i;
            }
        }
        return -1;
    }

    private static Outcome outcome(List<ProducerRecord<byte[], byte[]>> out) throws Exception {
        List<ProducerRecord<byte[], byte[]>> outcomes = out.stream().filter(r -> r.topic().equals(Topics.OUTCOMES)).toList();
        assertThat(outcomes).hasSize(1);
        return Json.read(outcomes.get(0).value(), Outcome.class);
    }
}
