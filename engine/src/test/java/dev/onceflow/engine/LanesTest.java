package dev.onceflow.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.onceflow.common.EventEnvelope;
import dev.onceflow.common.Json;
import dev.onceflow.common.TaskEnvelope;
import dev.onceflow.common.Topics;
import dev.onceflow.common.WorkflowStore;
import dev.onceflow.common.executions.ExecutionRecords;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.common.workflow.Workflows;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import javax.sql.DataSource;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Lanes (ADR 0021) on a real PostgreSQL, through the batch pipeline as {@link EngineLoop} drives
 * it, with the Kafka side played by hand: what a batch produces is fed back as the records the
 * next poll would return. No sleeping: timers are made due by the engine's clock being set back.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class LanesTest {

    static DataSource ds;
    /** The partition these tests' records come from: their timers are not the other engine tests' (shared database). */
    static final int PARTITION = 41;

    final AtomicLong offsets = new AtomicLong();
    Connection connection;
    ExecutionStore store;
    BatchPipeline pipeline;

    @BeforeAll
    static void database() throws Exception {
        ds = EngineTestDatabase.get();
        try (Connection c = ds.getConnection(); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE IF NOT EXISTS lane_effects (seq bigserial PRIMARY KEY, event_key text NOT NULL)");
        }
    }

    @BeforeEach
    void open() throws SQLException {
        connection = ds.getConnection();
        store = new ExecutionStore(connection);
        pipeline = EngineTestDatabase.pipeline(ds, store, Clock.systemUTC(), ClaimPolicy.ONCE);
    }

    @AfterEach
    void close() throws SQLException {
        store.rollbackQuietly();
        store.close();
        try (Connection c = ds.getConnection(); Statement st = c.createStatement()) {
            st.execute("UPDATE timers SET fired_at = now() WHERE task_partition = " + PARTITION + " AND fired_at IS NULL");
        }
    }

    /** An ordered workflow (a kafka trigger's default) whose nodes are {@code nodesJson}; extra top-level fields in {@code options}. */
    static Workflow deploy(String nodesJson, String options) throws Exception {
        String id = "lane-" + UUID.randomUUID().toString().substring(0, 8);
        Workflow wf = Workflows.parse(id + ".json", ("{\"id\": \"" + id + "\", \"trigger\": {\"type\": \"kafka\"}, "
                + options + "\"nodes\": " + nodesJson + "}").getBytes(StandardCharsets.UTF_8));
        return new WorkflowStore(ds).deploy(wf);
    }

    /** A sql node recording its event key in lane_effects, in the order the effects happen. */
    static final String EFFECT = "{\"type\": \"sql\", \"id\": \"effect\", "
            + "\"sql\": \"INSERT INTO lane_effects (event_key) VALUES (?)\", \"params\": [\"event.key\"]}";

    ConsumerRecord<byte[], byte[]> event(Workflow wf, String key, String orderKey) {
        EventEnvelope e = new EventEnvelope(key, wf.id(), wf.version(), 1_700_000_000_000L, Json.MAPPER.createObjectNode(),
                "test", 1_700_000_000_500L).withOrderKey(orderKey);
        return new ConsumerRecord<>(Topics.EVENTS, PARTITION, offsets.getAndIncrement(), e.partitionKey().getBytes(StandardCharsets.UTF_8),
                Json.bytes(e));
    }

    /** The task records of a batch's output, as the next poll returns them (same partition). */
    List<ConsumerRecord<byte[], byte[]>> redeliver(List<ProducerRecord<byte[], byte[]>> out) {
        List<ConsumerRecord<byte[], byte[]>> records = new ArrayList<>();
        for (ProducerRecord<byte[], byte[]> r : out) {
            if (r.topic().equals(Topics.TASKS)) {
                records.add(new ConsumerRecord<>(Topics.TASKS, PARTITION, offsets.getAndIncrement(), r.key(), r.value()));
            }
        }
        return records;
    }

    /** One batch and its PostgreSQL commit; the Kafka commit is the caller's to play (start timers marked fired). */
    List<ProducerRecord<byte[], byte[]>> apply(List<ConsumerRecord<byte[], byte[]>> records) throws Exception {
        List<ProducerRecord<byte[], byte[]>> out = pipeline.apply(records, false, new Batch.Counts());
        store.commit();
        return out;
    }

    /** What EngineLoop does after the Kafka commit. */
    void kafkaCommitted() throws SQLException {
        List<String> starts = pipeline.takeStartTimers();
        if (!starts.isEmpty()) {
            store.markStartsFired(starts);
            store.commit();
        }
    }

    static String status(String eventKey) throws SQLException {
        try (Connection c = ds.getConnection(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT status FROM executions WHERE event_key = '" + eventKey + "'")) {
            return rs.next() ? rs.getString(1) : null;
        }
    }

    static List<String> effects(String prefix) throws SQLException {
        List<String> keys = new ArrayList<>();
        try (Connection c = ds.getConnection(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT event_key FROM lane_effects WHERE event_key LIKE '" + prefix + "%' ORDER BY seq")) {
            while (rs.next()) {
                keys.add(rs.getString(1));
            }
        }
        return keys;
    }

    static List<TaskEnvelope> tasks(List<ProducerRecord<byte[], byte[]>> out) throws Exception {
        List<TaskEnvelope> tasks = new ArrayList<>();
        for (ProducerRecord<byte[], byte[]> r : out) {
            if (r.topic().equals(Topics.TASKS)) {
                tasks.add(Json.read(r.value(), TaskEnvelope.class));
            }
        }
        return tasks;
    }

    @Test
    void oneKeysExecutionsRunOneAfterTheOtherInArrivalOrderWhileOtherKeysRun() throws Exception {
        Workflow wf = deploy("[" + EFFECT + "]", "");
        String p = wf.id() + "@";
        String lane = wf.id() + "/row-1";
        List<ProducerRecord<byte[], byte[]>> out = apply(List.of(event(wf, p + "1", lane), event(wf, p + "2", lane),
                event(wf, p + "3", lane), event(wf, p + "other", wf.id() + "/row-2")));

        // 1 and the other key's run inline; 2 waited behind 1 and is admitted by 1's finish; 3 waits behind 2.
        assertThat(effects(p)).containsExactly(p + "1", p + "other");
        assertThat(status(p + "1")).isEqualTo("succeeded");
        assertThat(status(p + "2")).isEqualTo("running");
        assertThat(status(p + "3")).isEqualTo("queued");
        List<TaskEnvelope> started = tasks(out);
        assertThat(started).extracting(TaskEnvelope::eventKey).containsExactly(p + "2");
        assertThat(started.get(0).orderKey()).as("the start task is keyed by its lane").isEqualTo(lane);
        assertThat(new String(out.stream().filter(r -> r.topic().equals(Topics.TASKS)).findFirst().orElseThrow().key(),
                StandardCharsets.UTF_8)).isEqualTo(lane);
        kafkaCommitted();

        out = apply(redeliver(out));
        kafkaCommitted();
        assertThat(status(p + "2")).isEqualTo("succeeded");
        assertThat(tasks(out)).extracting(TaskEnvelope::eventKey).containsExactly(p + "3");

        out = apply(redeliver(out));
        kafkaCommitted();
        assertThat(tasks(out)).isEmpty();
        assertThat(effects(p)).containsExactly(p + "1", p + "other", p + "2", p + "3");
        assertThat(status(p + "3")).isEqualTo("succeeded");
        assertThat(unfiredStartTimers(wf)).as("every start timer was marked fired after its Kafka commit").isZero();
    }

    @Test
    void perKeyLetsThatManyRunAtOnceAndADuplicateOfAQueuedEventProducesNothing() throws Exception {
        Workflow wf = deploy("[{\"type\": \"delay\", \"id\": \"wait\", \"ms\": 60000, \"next\": \"effect\"}, " + EFFECT + "]",
                "\"concurrency\": {\"perKey\": 2}, ");
        String p = wf.id() + "@";
        String lane = wf.id() + "/k";
        List<ProducerRecord<byte[], byte[]>> out = apply(List.of(event(wf, p + "1", lane), event(wf, p + "2", lane),
                event(wf, p + "3", lane)));
        assertThat(List.of(status(p + "1"), status(p + "2"), status(p + "3"))).containsExactly("running", "running", "queued");
        assertThat(tasks(out)).isEmpty();

        out = apply(List.of(event(wf, p + "3", lane)));
        assertThat(out).as("a copy of a queued event: its start waits in its timer, and it has no outcome yet").isEmpty();
        assertThat(status(p + "3")).isEqualTo("queued");
    }

    @Test
    void aCancelFreesTheLaneAndTheNextStartsInTheCancelsBatchOrFromItsTimer() throws Exception {
        Workflow wf = deploy("[{\"type\": \"delay\", \"id\": \"wait\", \"ms\": 60000, \"next\": \"effect\"}, " + EFFECT + "]", "");
        String p = wf.id() + "@";
        String lane = wf.id() + "/k";
        apply(List.of(event(wf, p + "1", lane), event(wf, p + "2", lane)));
        assertThat(status(p + "2")).isEqualTo("queued");

        // An operator's cancel (ADR 0025), as the admin API publishes it.
        dev.onceflow.common.OperatorCommand cancel = dev.onceflow.common.OperatorCommand.cancel(p + "1",
                new ExecutionRecords(ds).find(p + "1").orElseThrow().id(), "cancelled by test", 0);
        ProducerRecord<byte[], byte[]> sent = cancel.record(lane);
        ConsumerRecord<byte[], byte[]> command = new ConsumerRecord<>(Topics.TASKS, PARTITION, offsets.getAndIncrement(), sent.key(),
                sent.value());
        sent.headers().forEach(h -> command.headers().add(h));
        List<ProducerRecord<byte[], byte[]>> out = apply(List.of(command));

        assertThat(status(p + "1")).isEqualTo("cancelled");
        assertThat(status(p + "2")).isEqualTo("running");
        assertThat(tasks(out)).as("its start task, in the cancel's Kafka transaction").extracting(TaskEnvelope::eventKey, TaskEnvelope::node)
                .containsExactly(org.assertj.core.groups.Tuple.tuple(p + "2", "wait"));
        // That transaction is lost: the start timer, due after its grace, produces the task.
        List<ExecutionStore.DueTimer> due = store.dueTimers(java.util.Set.of(PARTITION), 10_000);
        store.rollbackQuietly();
        assertThat(due).as("not due before its grace").filteredOn(t -> t.key().equals(p + "2")).isEmpty();
        try (Connection c = ds.getConnection(); Statement st = c.createStatement()) {
            assertThat(st.executeUpdate("UPDATE timers SET due_at = now() - interval '1 second' WHERE key = '" + p + "2' AND kind = 'start' "
                    + "AND fired_at IS NULL")).isEqualTo(1);
        }
        due = store.dueTimers(java.util.Set.of(PARTITION), 10_000);
        store.rollbackQuietly();
        assertThat(due).filteredOn(t -> t.key().equals(p + "2")).singleElement()
                .satisfies(t -> assertThat(t.kind()).isEqualTo(ExecutionStore.START))
                .satisfies(t -> assertThat(t.tasks()).extracting(TaskEnvelope::node).containsExactly("wait"));
    }

    @Test
    void aLostKafkaCommitIsMadeGoodByTheStartTimerAndTheSecondStartIsAbsorbed() throws Exception {
        Workflow wf = deploy("[" + EFFECT + "]", "");
        String p = wf.id() + "@";
        String lane = wf.id() + "/k";
        // The engine's clock an hour behind PostgreSQL's: the start timer's grace has passed as soon as it is set.
        pipeline = EngineTestDatabase.pipeline(ds, store, Clock.offset(Clock.systemUTC(), Duration.ofHours(-1)), ClaimPolicy.ONCE);
        List<ProducerRecord<byte[], byte[]>> out = apply(List.of(event(wf, p + "1", lane), event(wf, p + "2", lane)));
        assertThat(tasks(out)).extracting(TaskEnvelope::eventKey).containsExactly(p + "2");
        pipeline.takeStartTimers(); // the Kafka transaction aborted: the start task is lost, its timer not marked

        List<ExecutionStore.DueTimer> due = store.dueTimers(java.util.Set.of(PARTITION), 10_000);
        store.rollbackQuietly();
        ExecutionStore.DueTimer timer = due.stream().filter(t -> t.key().equals(p + "2")).findFirst().orElseThrow();
        List<ConsumerRecord<byte[], byte[]>> fromTimer = new ArrayList<>();
        for (TaskEnvelope t : timer.tasks()) {
            fromTimer.add(new ConsumerRecord<>(Topics.TASKS, PARTITION, offsets.getAndIncrement(), t.partitionKey().getBytes(StandardCharsets.UTF_8),
                    Json.bytes(t)));
        }
        apply(fromTimer);
        apply(redeliver(out)); // and the first start did arrive after all: absorbed by the processed key
        assertThat(effects(p)).containsExactly(p + "1", p + "2");
        assertThat(status(p + "2")).isEqualTo("succeeded");
    }

    @Test
    void eventsWithoutAnOrderingKeyOrOfAnUnorderedWorkflowHaveNoLane() throws Exception {
        Workflow ordered = deploy("[{\"type\": \"delay\", \"id\": \"wait\", \"ms\": 60000}]", "");
        Workflow unordered = deploy("[{\"type\": \"delay\", \"id\": \"wait\", \"ms\": 60000}]", "\"order\": \"none\", ");
        String a = ordered.id() + "@";
        String b = unordered.id() + "@";
        apply(List.of(event(ordered, a + "1", null), event(ordered, a + "2", null),
                event(unordered, b + "1", unordered.id() + "/k"), event(unordered, b + "2", unordered.id() + "/k")));
        assertThat(List.of(status(a + "1"), status(a + "2"), status(b + "1"), status(b + "2"))).containsOnly("running");
    }

    @Test
    void aBurstOfOneKeyBecomesOneExecutionWithTheNewestDataAndTheRestAreRecordedSuperseded() throws Exception {
        Workflow wf = deploy("[" + EFFECT + "]", "\"debounce\": {\"ms\": 600000}, ");
        String p = wf.id() + "@";
        String lane = wf.id() + "/row-7";
        // A burst in two batches (a redelivered copy of the first event among them), and another key's event.
        List<ProducerRecord<byte[], byte[]>> out = apply(List.of(event(wf, p + "1", lane), event(wf, p + "2", lane)));
        out.addAll(apply(List.of(event(wf, p + "1", lane), event(wf, p + "3", lane), event(wf, p + "x", wf.id() + "/row-8"))));
        kafkaCommitted();

        assertThat(List.of(status(p + "1"), status(p + "2"), status(p + "3"), status(p + "x")))
                .as("nothing runs within the window; only the newest of the burst waits on")
                .containsExactly("superseded", "superseded", "queued", "queued");
        assertThat(effects(p)).isEmpty();
        List<dev.onceflow.common.Outcome> outcomes = new ArrayList<>();
        for (ProducerRecord<byte[], byte[]> r : out) {
            if (r.topic().equals(Topics.OUTCOMES)) {
                outcomes.add(Json.read(r.value(), dev.onceflow.common.Outcome.class));
            }
        }
        assertThat(outcomes).as("each superseded execution has its outcome, naming what replaced it; the copy of 1 "
                        + "produces 1's again, the same")
                .hasSize(3);
        assertThat(new java.util.HashSet<>(outcomes)).hasSize(2);
        assertThat(outcomes).extracting(dev.onceflow.common.Outcome::eventKey, dev.onceflow.common.Outcome::status)
                .containsOnly(org.assertj.core.groups.Tuple.tuple(p + "1", "superseded"),
                        org.assertj.core.groups.Tuple.tuple(p + "2", "superseded"));
        assertThat(outcomes).filteredOn(o -> o.eventKey().equals(p + "1")).allSatisfy(o -> assertThat(o.error())
                .as("1 gave way to the newest of its batch").isEqualTo("superseded by " + p + "2 (debounce)"));
        assertThat(outcomes).filteredOn(o -> o.eventKey().equals(p + "2")).singleElement().satisfies(o -> assertThat(o.error())
                .isEqualTo("superseded by " + p + "3 (debounce)"));

        // The window ends (set by hand: PostgreSQL's clock decides, as for every timer).
        try (Connection c = ds.getConnection(); Statement st = c.createStatement()) {
            st.executeUpdate("UPDATE executions SET not_before = now() - interval '1 second' WHERE event_key = '" + p + "3'");
            st.executeUpdate("UPDATE timers SET due_at = now() - interval '1 second' WHERE key = '" + p + "3' AND kind = 'start'");
        }
        List<ExecutionStore.DueTimer> due = store.dueTimers(java.util.Set.of(PARTITION), 10_000);
        store.rollbackQuietly();
        assertThat(due).extracting(ExecutionStore.DueTimer::key).contains(p + "3").doesNotContain(p + "1", p + "2", p + "x");
        List<ConsumerRecord<byte[], byte[]>> fired = new ArrayList<>();
        for (ExecutionStore.DueTimer t : due) {
            if (t.key().equals(p + "3")) {
                t.tasks().forEach(task -> fired.add(new ConsumerRecord<>(Topics.TASKS, PARTITION, offsets.getAndIncrement(),
                        task.partitionKey().getBytes(StandardCharsets.UTF_8), Json.bytes(task))));
            }
        }
        store.markFired(due.stream().filter(t -> t.key().equals(p + "3")).toList());
        store.commit();
        apply(fired);
        kafkaCommitted();
        assertThat(status(p + "3")).isEqualTo("succeeded");
        assertThat(effects(p)).containsExactly(p + "3");
        assertThat(status(p + "x")).as("the other key waits out its own window").isEqualTo("queued");
    }

    @Test
    void aDebouncedExecutionWhoseWindowEndsWhileItsLaneIsBusyStartsWhenTheLaneFrees() throws Exception {
        Workflow wf = deploy("[{\"type\": \"delay\", \"id\": \"wait\", \"ms\": 600000, \"next\": \"effect\"}, " + EFFECT + "]",
                "\"debounce\": {\"ms\": 600000}, ");
        String p = wf.id() + "@";
        String lane = wf.id() + "/k";
        apply(List.of(event(wf, p + "1", lane)));
        fire(endWindow(p + "1"));
        assertThat(status(p + "1")).as("1 runs and waits on its delay").isEqualTo("running");

        apply(List.of(event(wf, p + "2", lane)));
        List<ProducerRecord<byte[], byte[]>> out = fire(endWindow(p + "2"));
        assertThat(status(p + "2")).as("its window ended, but 1 holds the lane").isEqualTo("queued");
        assertThat(tasks(out)).isEmpty();

        // 1's delay ends: 1 finishes, and its finish admits 2, whose start timer (fired once already) is set again.
        try (Connection c = ds.getConnection(); Statement st = c.createStatement()) {
            st.executeUpdate("UPDATE timers SET due_at = now() - interval '1 second' WHERE key = '" + p + "1/wait'");
        }
        out = fire(p + "1/wait");
        assertThat(status(p + "1")).isEqualTo("succeeded");
        assertThat(status(p + "2")).isEqualTo("running");
        assertThat(tasks(out)).extracting(TaskEnvelope::eventKey, TaskEnvelope::node)
                .containsExactly(org.assertj.core.groups.Tuple.tuple(p + "2", "wait"));
        assertThat(unfiredStartTimers(wf)).isZero();
    }

    @Test
    void aTotalBoundsTheWholeWorkflowAndAFinishAdmitsTheOldestHeadOfAnotherLane() throws Exception {
        Workflow wf = deploy("[{\"type\": \"delay\", \"id\": \"wait\", \"ms\": 600000, \"next\": \"effect\"}, " + EFFECT + "]",
                "\"concurrency\": {\"total\": 2}, ");
        String p = wf.id() + "@";
        apply(List.of(event(wf, p + "1", wf.id() + "/a"), event(wf, p + "2", wf.id() + "/b"), event(wf, p + "3", wf.id() + "/c"),
                event(wf, p + "4", wf.id() + "/d")));
        assertThat(List.of(status(p + "1"), status(p + "2"), status(p + "3"), status(p + "4")))
                .as("four lanes with room, but two may run in the whole workflow").containsExactly("running", "running", "queued", "queued");

        List<ProducerRecord<byte[], byte[]>> out = fire(dueNow(p + "1/wait"));
        assertThat(status(p + "1")).isEqualTo("succeeded");
        assertThat(List.of(status(p + "3"), status(p + "4"))).as("1's slot goes to the oldest waiting, of another lane")
                .containsExactly("running", "queued");
        assertThat(tasks(out)).extracting(TaskEnvelope::eventKey).containsExactly(p + "3");
        assertThat(new String(out.stream().filter(r -> r.topic().equals(Topics.TASKS)).findFirst().orElseThrow().key(),
                StandardCharsets.UTF_8)).as("keyed by its own lane, so it reaches that lane's partition").isEqualTo(wf.id() + "/c");
    }

    @Test
    void aTotalOnAnUnorderedWorkflowQueuesEachEventInALaneOfItsOwn() throws Exception {
        Workflow wf = deploy("[{\"type\": \"delay\", \"id\": \"wait\", \"ms\": 600000, \"next\": \"effect\"}, " + EFFECT + "]",
                "\"order\": \"none\", \"concurrency\": {\"total\": 1}, ");
        String p = wf.id() + "@";
        apply(List.of(event(wf, p + "1", null), event(wf, p + "2", null)));
        assertThat(List.of(status(p + "1"), status(p + "2"))).containsExactly("running", "queued");

        List<ProducerRecord<byte[], byte[]>> out = fire(dueNow(p + "1/wait"));
        assertThat(status(p + "2")).isEqualTo("running");
        assertThat(tasks(out)).extracting(TaskEnvelope::eventKey).containsExactly(p + "2");
        assertThat(new String(out.stream().filter(r -> r.topic().equals(Topics.TASKS)).findFirst().orElseThrow().key(),
                StandardCharsets.UTF_8)).as("an unordered execution's tasks stay keyed by its event key").isEqualTo(p + "2");
        out = apply(redeliver(out));
        kafkaCommitted();
        assertThat(status(p + "2")).as("its start ran (and now waits on its delay)").isEqualTo("running");
        assertThat(timerKeys(wf)).contains(p + "2/wait");
    }

    @Test
    void aRateLimitStartsItsBurstAtOnceAndTheRestAtItsPaceFromTimers() throws Exception {
        Workflow wf = deploy("[" + EFFECT + "]", "\"rateLimit\": {\"perSecond\": 2, \"burst\": 2}, ");
        String p = wf.id() + "@";
        Batch.Counts counts = new Batch.Counts();
        List<ConsumerRecord<byte[], byte[]>> events = new ArrayList<>();
        for (int i = 1; i <= 5; i++) {
            events.add(event(wf, p + i, wf.id() + "/k" + i));
        }
        pipeline.apply(events, false, counts);
        store.commit();
        assertThat(effects(p)).as("a burst of two at once").containsExactly(p + "1", p + "2");
        assertThat(List.of(status(p + "3"), status(p + "4"), status(p + "5"))).containsOnly("queued");
        List<Long> starts = notBefore(wf);
        assertThat(starts).as("the others at 2 per second, half a second apart").hasSize(3);
        assertThat(starts.get(1) - starts.get(0)).isEqualTo(500_000);
        assertThat(starts.get(2) - starts.get(1)).isEqualTo(500_000);
        assertThat(starts.get(0)).as("the third start is one interval after the burst, four before the next free one")
                .isEqualTo(bucketTat(wf) - 2_000_000);
        assertThat(counts.throttledOf(wf.id())).isEqualTo(3);

        // Their turn comes (PostgreSQL's clock decides, as for every timer): each starts from its timer.
        endWindow(p + "3");
        fire(p + "3");
        assertThat(effects(p)).containsExactly(p + "1", p + "2", p + "3");
        assertThat(status(p + "4")).isEqualTo("queued");
    }

    @Test
    void aRateLimitPerKeyKeepsABucketPerOrderingKey() throws Exception {
        Workflow wf = deploy("[" + EFFECT + "]", "\"rateLimit\": {\"perSecond\": 0.01, \"perKey\": true}, ");
        String p = wf.id() + "@";
        apply(List.of(event(wf, p + "1", wf.id() + "/a"), event(wf, p + "2", wf.id() + "/a"), event(wf, p + "3", wf.id() + "/b")));
        assertThat(List.of(status(p + "1"), status(p + "2"), status(p + "3"))).containsExactly("succeeded", "queued", "succeeded");
        assertThat(notBefore(wf)).singleElement().as("a's second start 100 s after its first")
                .satisfies(t -> assertThat(t - bucketTat(wf, "k:" + wf.id() + "/a") + 100_000_000).isZero());
    }

    @Test
    void keepFirstRunsTheFirstOfABurstAndRecordsTheRestSupersededByIt() throws Exception {
        Workflow wf = deploy("[" + EFFECT + "]", "\"debounce\": {\"ms\": 600000, \"keep\": \"first\"}, ");
        String p = wf.id() + "@";
        String lane = wf.id() + "/row-1";
        List<ProducerRecord<byte[], byte[]>> out = apply(List.of(event(wf, p + "1", lane), event(wf, p + "2", lane),
                event(wf, p + "x", wf.id() + "/row-2")));
        out.addAll(apply(List.of(event(wf, p + "3", lane))));
        assertThat(effects(p)).as("the first of each key's burst runs at once").containsExactly(p + "1", p + "x");
        assertThat(List.of(status(p + "2"), status(p + "3"))).containsOnly("superseded");
        assertThat(supersededBy(p + "2")).isEqualTo(supersededBy(p + "3")).isEqualTo(id(p + "1"));
        List<dev.onceflow.common.Outcome> outcomes = new ArrayList<>();
        for (ProducerRecord<byte[], byte[]> r : out) {
            if (r.topic().equals(Topics.OUTCOMES)) {
                outcomes.add(Json.read(r.value(), dev.onceflow.common.Outcome.class));
            }
        }
        assertThat(outcomes).filteredOn(o -> o.status().equals("superseded"))
                .extracting(dev.onceflow.common.Outcome::eventKey, dev.onceflow.common.Outcome::error)
                .containsExactlyInAnyOrder(org.assertj.core.groups.Tuple.tuple(p + "2", "superseded by " + p + "1 (debounce, keep first)"),
                        org.assertj.core.groups.Tuple.tuple(p + "3", "superseded by " + p + "1 (debounce, keep first)"));

        // The window closes (PostgreSQL's clock decides): the next event of the key runs and opens another.
        try (Connection c = ds.getConnection(); Statement st = c.createStatement()) {
            st.executeUpdate("UPDATE debounce_windows SET until = now() - interval '1 second' WHERE ordering_key = '" + lane + "'");
        }
        apply(List.of(event(wf, p + "4", lane), event(wf, p + "5", lane)));
        assertThat(effects(p)).containsExactly(p + "1", p + "x", p + "4");
        assertThat(supersededBy(p + "5")).isEqualTo(id(p + "4"));
    }

    /** Makes timer {@code key} due now (PostgreSQL's clock); returns its key. */
    static String dueNow(String key) throws SQLException {
        try (Connection c = ds.getConnection(); Statement st = c.createStatement()) {
            st.executeUpdate("UPDATE timers SET due_at = now() - interval '1 second' WHERE key = '" + key + "'");
        }
        return key;
    }

    static List<String> timerKeys(Workflow wf) throws SQLException {
        List<String> keys = new ArrayList<>();
        try (Connection c = ds.getConnection(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT t.key FROM timers t JOIN executions e ON e.id = t.execution_id "
                     + "WHERE e.workflow_id = '" + wf.id() + "' ORDER BY t.key")) {
            while (rs.next()) {
                keys.add(rs.getString(1));
            }
        }
        return keys;
    }

    /** The queued executions' not_before, epoch µs, in id order. */
    static List<Long> notBefore(Workflow wf) throws SQLException {
        List<Long> times = new ArrayList<>();
        try (Connection c = ds.getConnection(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT (extract(epoch FROM not_before) * 1000000)::bigint FROM executions "
                     + "WHERE workflow_id = '" + wf.id() + "' AND status = 'queued' ORDER BY id")) {
            while (rs.next()) {
                times.add(rs.getLong(1));
            }
        }
        return times;
    }

    static long bucketTat(Workflow wf) throws SQLException {
        return bucketTat(wf, "w:" + wf.id());
    }

    static long bucketTat(Workflow wf, String bucket) throws SQLException {
        try (Connection c = ds.getConnection(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT (extract(epoch FROM tat) * 1000000)::bigint FROM rate_buckets WHERE bucket = '"
                     + bucket + "'")) {
            assertThat(rs.next()).as("bucket " + bucket).isTrue();
            return rs.getLong(1);
        }
    }

    static Long supersededBy(String eventKey) throws SQLException {
        try (Connection c = ds.getConnection(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT superseded_by FROM executions WHERE event_key = '" + eventKey + "'")) {
            return rs.next() ? (Long) rs.getObject(1) : null;
        }
    }

    static Long id(String eventKey) throws SQLException {
        try (Connection c = ds.getConnection(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT id FROM executions WHERE event_key = '" + eventKey + "'")) {
            return rs.next() ? rs.getLong(1) : null;
        }
    }

    /** Ends the debounce window of {@code eventKey} now (PostgreSQL's clock decides); returns its start timer's key. */
    static String endWindow(String eventKey) throws SQLException {
        try (Connection c = ds.getConnection(); Statement st = c.createStatement()) {
            st.executeUpdate("UPDATE executions SET not_before = now() - interval '1 second' WHERE event_key = '" + eventKey + "'");
            st.executeUpdate("UPDATE timers SET due_at = now() - interval '1 second' WHERE key = '" + eventKey + "' AND kind = 'start'");
        }
        return eventKey;
    }

    /** Fires the due timer {@code key} as EngineLoop does (tasks out, marked fired), then applies its tasks as the next poll. */
    List<ProducerRecord<byte[], byte[]>> fire(String key) throws Exception {
        List<ExecutionStore.DueTimer> due = store.dueTimers(java.util.Set.of(PARTITION), 10_000).stream()
                .filter(t -> t.key().equals(key)).toList();
        store.rollbackQuietly();
        assertThat(due).as("timer " + key + " is due").hasSize(1);
        List<ConsumerRecord<byte[], byte[]>> fired = new ArrayList<>();
        due.get(0).tasks().forEach(task -> fired.add(new ConsumerRecord<>(Topics.TASKS, PARTITION, offsets.getAndIncrement(),
                task.partitionKey().getBytes(StandardCharsets.UTF_8), Json.bytes(task))));
        store.markFired(due);
        store.commit();
        List<ProducerRecord<byte[], byte[]>> out = apply(fired);
        kafkaCommitted();
        return out;
    }

    static long unfiredStartTimers(Workflow wf) throws SQLException {
        try (Connection c = ds.getConnection(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT count(*) FROM timers t JOIN executions e ON e.id = t.execution_id "
                     + "WHERE t.kind = 'start' AND t.fired_at IS NULL AND e.workflow_id = '" + wf.id() + "'")) {
            rs.next();
            return rs.getLong(1);
        }
    }
}
