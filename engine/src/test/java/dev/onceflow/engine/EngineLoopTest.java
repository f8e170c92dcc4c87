package dev.onceflow.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.onceflow.common.EventEnvelope;
import dev.onceflow.common.Json;
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
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import javax.sql.DataSource;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.MockConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The worker's loop against a real PostgreSQL and Kafka's mock clients: what it commits, and in
 * which order, without a broker.
 */
@Timeout(180) // the embedded PostgreSQL may start in this test: a minute on a loaded machine
class EngineLoopTest {

    private static final TopicPartition EVENTS_0 = new TopicPartition(Topics.EVENTS, 0);
    private static final TopicPartition TASKS_0 = new TopicPartition(Topics.TASKS, 0);

    static EngineSettings settings() {
        return new EngineSettings("mock:9092", "test-group", "onceflow-engine", 1, 500, 5_000, 3, 10_000, 15_000, 60_000, -1,
                600_000, 200, List.of(), 64, 1_000, 2, 30_000, Map.of(), Map.of(), Map.of(), false);
    }

    /** Hands the loop the mock clients the test holds. */
    record MockClients(MockConsumer<byte[], byte[]> consumer, MockProducer<byte[], byte[]> producer) implements KafkaClients {
        @Override
        public Consumer<byte[], byte[]> consumer(String worker, EngineSettings settings) {
            return consumer;
        }

        @Override
        public Producer<byte[], byte[]> producer(String worker, EngineSettings settings) {
            return producer;
        }
    }

    private static long count(DataSource ds, String sql) throws Exception {
        try (Connection c = ds.getConnection(); Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    @Test
    void aPolledBatchCommitsPostgresThenOneKafkaTransactionCarryingItsOffsets() throws Exception {
        DataSource ds = EngineTestDatabase.newDatabase("loop");
        Workflow wf = new WorkflowStore(ds).deploy(Workflows.parse("loop.json", ("""
                {"id": "loop-wf", "trigger": {"type": "kafka"}, "nodes": [
                  {"type": "sql", "id": "a", "sql": "INSERT INTO test_effects (event_key, node) VALUES (?, 'a')",
                   "params": ["event.key"], "next": "b"},
                  {"type": "sql", "id": "b", "sql": "INSERT INTO test_effects (event_key, node) VALUES (?, 'b')",
                   "params": ["event.key"]}
                ]}""").getBytes(StandardCharsets.UTF_8)));
        String key = wf.id() + "@1700000000000#e-1";
        EventEnvelope event = new EventEnvelope(key, wf.id(), wf.version(), 1_700_000_000_000L, Json.MAPPER.createObjectNode(),
                "test", 1_700_000_000_500L);

        MockConsumer<byte[], byte[]> consumer = new MockConsumer<>("earliest");
        MockProducer<byte[], byte[]> producer = new MockProducer<>(true, null, new ByteArraySerializer(), new ByteArraySerializer());
        consumer.updateBeginningOffsets(Map.of(EVENTS_0, 0L, TASKS_0, 0L));
        consumer.schedulePollTask(() -> {
            consumer.rebalance(List.of(EVENTS_0, TASKS_0));
            consumer.addRecord(new ConsumerRecord<>(Topics.EVENTS, 0, 0L, key.getBytes(StandardCharsets.UTF_8), Json.bytes(event)));
        });
        // What was durable, and what Kafka had, when the loop stood between its two commits.
        List<String> between = new CopyOnWriteArrayList<>();
        EngineHooks hooks = new EngineHooks() {
            @Override
            public void afterDatabaseCommit(String worker, int records) {
                try {
                    between.add("records=" + records
                            + " effects=" + count(ds, "SELECT count(*) FROM test_effects WHERE event_key = '" + key + "'")
                            + " kafkaCommits=" + producer.commitCount() + " inFlight=" + producer.transactionInFlight());
                } catch (Exception e) {
                    between.add(e.toString());
                }
            }
        };
        EngineLoop loop = new EngineLoop("loop-test", settings(), ds, new WorkflowCache(new WorkflowStore(ds)), new EngineMetrics(),
                hooks, Clock.systemUTC(), ExecutionTraces.OFF, new MockClients(consumer, producer));
        Thread thread = new Thread(loop, "engine-loop-test");
        thread.start();
        try {
            await().atMost(Duration.ofSeconds(30)).until(() -> producer.commitCount() >= 1);
        } finally {
            loop.stop();
            assertThat(loop.awaitStopped(Duration.ofSeconds(20))).isTrue();
        }

        assertThat(between).as("PostgreSQL committed both nodes' effects before any Kafka transaction began")
                .containsExactly("records=1 effects=2 kafkaCommits=0 inFlight=false");
        List<Map<String, Map<TopicPartition, OffsetAndMetadata>>> offsets = producer.consumerGroupOffsetsHistory();
        assertThat(offsets).as("one Kafka transaction carried the batch's offsets, with the consumer's group")
                .containsExactly(Map.of("dummy.group.id", Map.of(EVENTS_0, new OffsetAndMetadata(1))));
        List<ProducerRecord<byte[], byte[]>> sent = producer.history();
        assertThat(sent).as("the execution's outcome, produced in that transaction").isNotEmpty()
                .allMatch(r -> r.topic().equals(Topics.OUTCOMES));
        assertThat(count(ds, "SELECT count(*) FROM executions WHERE event_key = '" + key + "' AND status = 'succeeded'")).isEqualTo(1);
        assertThat(producer.closed()).as("the worker closed its producer when it stopped").isTrue();
        assertThat(consumer.closed()).isTrue();
    }

    private static EventEnvelope event(Workflow wf, String id) {
        return new EventEnvelope(wf.id() + "@1700000000000#" + id, wf.id(), wf.version(), 1_700_000_000_000L,
                Json.MAPPER.createObjectNode(), "test", 1_700_000_000_500L);
    }

    private static ConsumerRecord<byte[], byte[]> record(long offset, EventEnvelope e) {
        return new ConsumerRecord<>(Topics.EVENTS, 0, offset, e.eventKey().getBytes(StandardCharsets.UTF_8), Json.bytes(e));
    }

    /**
     * A {@code long} statement runs off the poll thread (ADR 0021): events polled after it was
     * handed off all finish while it still runs, no partition is paused for it, and it then
     * commits its effect once, in its own transaction, its outcome produced by the loop and its
     * lease marked fired. On the old loop the poll thread ran the statement, and the other
     * events waited for it.
     */
    @Test
    void aLongStatementRunsOffThePollThreadWhileLaterEventsFinish() throws Exception {
        DataSource ds = EngineTestDatabase.newDatabase("longsql");
        WorkflowStore workflows = new WorkflowStore(ds);
        Workflow slow = workflows.deploy(Workflows.parse("slow.json", """
                {"id": "slow-wf", "trigger": {"type": "kafka"}, "nodes": [
                  {"type": "sql", "id": "long", "long": true, "timeoutMs": 20000,
                   "sql": "INSERT INTO test_effects (event_key, node) SELECT ?, 'long' FROM pg_sleep(4)", "params": ["event.key"]}
                ]}""".getBytes(StandardCharsets.UTF_8)));
        Workflow fast = workflows.deploy(Workflows.parse("fast.json", """
                {"id": "fast-wf", "trigger": {"type": "kafka"}, "nodes": [
                  {"type": "sql", "id": "a", "sql": "INSERT INTO test_effects (event_key, node) VALUES (?, 'a')",
                   "params": ["event.key"]}
                ]}""".getBytes(StandardCharsets.UTF_8)));
        EventEnvelope longOne = event(slow, "long-1");

        MockConsumer<byte[], byte[]> consumer = new MockConsumer<>("earliest");
        MockProducer<byte[], byte[]> producer = new MockProducer<>(true, null, new ByteArraySerializer(), new ByteArraySerializer());
        consumer.updateBeginningOffsets(Map.of(EVENTS_0, 0L, TASKS_0, 0L));
        consumer.schedulePollTask(() -> {
            consumer.rebalance(List.of(EVENTS_0, TASKS_0));
            consumer.addRecord(record(0, longOne));
        });
        // The next poll, once the long statement's batch committed: 20 events of other keys.
        consumer.schedulePollTask(() -> {
            for (int i = 0; i < 20; i++) {
                consumer.addRecord(record(1 + i, event(fast, "fast-" + i)));
            }
        });
        List<Boolean> pausedAtPolls = new CopyOnWriteArrayList<>();
        for (int i = 0; i < 50; i++) {
            consumer.schedulePollTask(() -> pausedAtPolls.add(!consumer.paused().isEmpty()));
        }
        EngineLoop loop = new EngineLoop("long-test", settings(), ds, new WorkflowCache(workflows), new EngineMetrics(),
                EngineHooks.NONE, Clock.systemUTC(), ExecutionTraces.OFF, new MockClients(consumer, producer));
        Thread thread = new Thread(loop, "engine-loop-long-test");
        thread.start();
        long fastDone;
        long longEffectsThen;
        try {
            await().atMost(Duration.ofSeconds(30)).until(() -> count(ds,
                    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'INSERT INTO test_effects%pg_sleep%' AND state = 'active'") == 1);
            await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(20)).until(() -> count(ds,
                    "SELECT count(*) FROM executions WHERE workflow_id = 'fast-wf' AND status = 'succeeded'") == 20
                    || count(ds, "SELECT count(*) FROM test_effects WHERE node = 'long'") > 0);
            fastDone = count(ds, "SELECT count(*) FROM executions WHERE workflow_id = 'fast-wf' AND status = 'succeeded'");
            longEffectsThen = count(ds, "SELECT count(*) FROM test_effects WHERE node = 'long'");
            await().atMost(Duration.ofSeconds(30)).until(() -> count(ds,
                    "SELECT count(*) FROM timers WHERE kind = 'lease' AND fired_at IS NOT NULL") == 1);
        } finally {
            loop.stop();
            assertThat(loop.awaitStopped(Duration.ofSeconds(20))).isTrue();
        }
        assertThat(fastDone).as("the other events' executions all succeeded ...").isEqualTo(20);
        assertThat(longEffectsThen).as("... while the long statement still ran").isZero();
        assertThat(pausedAtPolls).as("no poll found a partition paused").isNotEmpty().containsOnly(false);
        assertThat(count(ds, "SELECT count(*) FROM test_effects WHERE node = 'long'")).as("its effect, once").isEqualTo(1);
        assertThat(count(ds, "SELECT count(*) FROM executions WHERE event_key = '" + longOne.eventKey()
                + "' AND status = 'succeeded'")).isEqualTo(1);
        assertThat(count(ds, "SELECT count(*) FROM processed_keys WHERE key = '" + longOne.eventKey() + "/long' "
                + "AND status = 'succeeded'")).isEqualTo(1);
        assertThat(producer.history()).as("its outcome went out in the loop's Kafka transaction")
                .anyMatch(r -> r.topic().equals(Topics.OUTCOMES) && new String(r.key(), StandardCharsets.UTF_8).equals(longOne.eventKey()));
    }

    /**
     * A statement not marked {@code long} that overruns {@code engine.sql.inline.ms} (1 s here) is
     * stopped and rolled back, and the careful replay hands it off: it then runs to its end off the
     * poll thread, and its node succeeds, once.
     */
    @Test
    void aStatementThatOverrunsTheInlineLimitIsHandedOffAndSucceeds() throws Exception {
        DataSource ds = EngineTestDatabase.newDatabase("overrun");
        WorkflowStore workflows = new WorkflowStore(ds);
        Workflow wf = workflows.deploy(Workflows.parse("overrun.json", """
                {"id": "overrun-wf", "trigger": {"type": "kafka"}, "nodes": [
                  {"type": "sql", "id": "slow", "sql": "INSERT INTO test_effects (event_key, node) SELECT ?, 'slow' FROM pg_sleep(2.5)",
                   "params": ["event.key"]}
                ]}""".getBytes(StandardCharsets.UTF_8)));
        EventEnvelope e = event(wf, "o-1");
        MockConsumer<byte[], byte[]> consumer = new MockConsumer<>("earliest");
        MockProducer<byte[], byte[]> producer = new MockProducer<>(true, null, new ByteArraySerializer(), new ByteArraySerializer());
        consumer.updateBeginningOffsets(Map.of(EVENTS_0, 0L, TASKS_0, 0L));
        consumer.schedulePollTask(() -> {
            consumer.rebalance(List.of(EVENTS_0, TASKS_0));
            consumer.addRecord(record(0, e));
        });
        EngineMetrics metrics = new EngineMetrics();
        EngineLoop loop = new EngineLoop("overrun-test", settings(), ds, new WorkflowCache(workflows), metrics,
                EngineHooks.NONE, Clock.systemUTC(), ExecutionTraces.OFF, new MockClients(consumer, producer));
        Thread thread = new Thread(loop, "engine-loop-overrun-test");
        thread.start();
        try {
            await().atMost(Duration.ofSeconds(40)).until(() -> count(ds,
                    "SELECT count(*) FROM executions WHERE event_key = '" + e.eventKey() + "' AND status = 'succeeded'") == 1);
        } finally {
            loop.stop();
            assertThat(loop.awaitStopped(Duration.ofSeconds(20))).isTrue();
        }
        assertThat(count(ds, "SELECT count(*) FROM test_effects WHERE node = 'slow'")).as("its effect, once").isEqualTo(1);
        assertThat(metrics.longStatements()).as("run off the poll thread").isEqualTo(1);
        assertThat(metrics.batchFailures()).as("the overrun is no failure of the batch").isZero();
    }

    @Test
    void aCancelCommandIsAppliedByTheLoopAndItsOutcomeCommitsWithTheCommandsOffset() throws Exception {
        DataSource ds = EngineTestDatabase.newDatabase("loopcmd");
        Workflow wf = new WorkflowStore(ds).deploy(Workflows.parse("loopcmd.json", ("""
                {"id": "loop-cmd", "trigger": {"type": "kafka"}, "nodes": [
                  {"type": "delay", "id": "wait", "ms": 600000, "next": "after"},
                  {"type": "sql", "id": "after", "sql": "INSERT INTO test_effects (event_key, node) VALUES (?, 'after')",
                   "params": ["event.key"]}
                ]}""").getBytes(StandardCharsets.UTF_8)));
        String key = wf.id() + "@1700000000000#c-1";
        EventEnvelope event = new EventEnvelope(key, wf.id(), wf.version(), 1_700_000_000_000L, Json.MAPPER.createObjectNode(),
                "test", 1_700_000_000_500L);
        dev.onceflow.common.OperatorCommand cancel = dev.onceflow.common.OperatorCommand.cancel(key, 0, "by test", 0);
        ProducerRecord<byte[], byte[]> published = cancel.record(key);
        ConsumerRecord<byte[], byte[]> command = new ConsumerRecord<>(Topics.TASKS, 0, 0L, published.key(), published.value());
        published.headers().forEach(h -> command.headers().add(h));
        // The engine's clock, an hour ahead: the delay is not due while the test runs, and the finish time is known.
        java.time.Instant now = java.time.Instant.now().plusSeconds(3600).truncatedTo(java.time.temporal.ChronoUnit.MILLIS);

        MockConsumer<byte[], byte[]> consumer = new MockConsumer<>("earliest");
        MockProducer<byte[], byte[]> producer = new MockProducer<>(true, null, new ByteArraySerializer(), new ByteArraySerializer());
        consumer.updateBeginningOffsets(Map.of(EVENTS_0, 0L, TASKS_0, 0L));
        consumer.schedulePollTask(() -> {
            consumer.rebalance(List.of(EVENTS_0, TASKS_0));
            consumer.addRecord(new ConsumerRecord<>(Topics.EVENTS, 0, 0L, key.getBytes(StandardCharsets.UTF_8), Json.bytes(event)));
        });
        consumer.schedulePollTask(() -> consumer.addRecord(command)); // the next poll: the operator's command, on the tasks topic
        EngineLoop loop = new EngineLoop("loop-cmd-test", settings(), ds, new WorkflowCache(new WorkflowStore(ds)), new EngineMetrics(),
                new EngineHooks() { }, Clock.fixed(now, java.time.ZoneOffset.UTC), ExecutionTraces.OFF, new MockClients(consumer, producer));
        Thread thread = new Thread(loop, "engine-loop-cmd-test");
        thread.start();
        try {
            await().atMost(Duration.ofSeconds(30)).until(() -> producer.history().stream().anyMatch(r -> r.topic().equals(Topics.OUTCOMES)));
        } finally {
            loop.stop();
            assertThat(loop.awaitStopped(Duration.ofSeconds(20))).isTrue();
        }

        List<dev.onceflow.common.Outcome> outcomes = new java.util.ArrayList<>();
        for (ProducerRecord<byte[], byte[]> r : producer.history()) {
            if (r.topic().equals(Topics.OUTCOMES)) {
                outcomes.add(Json.read(r.value(), dev.onceflow.common.Outcome.class));
            }
        }
        assertThat(outcomes).as("one outcome, cancelled at the engine's clock").singleElement().satisfies(o -> {
            assertThat(o.status()).isEqualTo("cancelled");
            assertThat(o.finishedAt()).isEqualTo(now.toEpochMilli());
            assertThat(o.error()).isEqualTo(cancel.cancelError());
        });
        assertThat(producer.consumerGroupOffsetsHistory()).as("the command's offset committed in the outcome's transaction")
                .contains(Map.of("dummy.group.id", Map.of(TASKS_0, new OffsetAndMetadata(1))));
        assertThat(count(ds, "SELECT count(*) FROM executions WHERE event_key = '" + key + "' AND status = 'cancelled' "
                + "AND finished_at = to_timestamp(" + now.toEpochMilli() + " / 1000.0)")).isEqualTo(1);
        assertThat(count(ds, "SELECT count(*) FROM test_effects")).isZero();
    }
}
