package dev.onceflow.deploy;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.common.Json;
import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.common.Topics;
import dev.onceflow.common.TriggerRecord;
import dev.onceflow.common.WorkflowStore;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.common.workflow.Workflows;
import dev.onceflow.dispatcher.Dispatcher;
import dev.onceflow.dispatcher.StoreCatalog;
import dev.onceflow.engine.Engine;
import dev.onceflow.engine.EngineHooks;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Future;
import javax.sql.DataSource;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * One test's Onceflow: dispatchers and engines on the shared infrastructure, the workflows it
 * deployed, and the invariant queries. A JUnit extension that closes itself after the test, also
 * when the test fails: {@code @RegisterExtension final Fleet fleet = new Fleet(TestInfra.embedded());}.
 * In a {@code @TestInstance(PER_CLASS)} class, or on a static field, one fleet serves the class and
 * closes after its {@code @AfterAll} methods; otherwise it closes after each test's {@code @AfterEach}
 * methods. Owned by the test that registers it; not thread-safe: start and stop processes from the
 * test's thread (a test may publish from one thread of its own).
 */
public final class Fleet implements BeforeAllCallback, AfterEachCallback, AfterAllCallback, AutoCloseable {

    final TestInfra infra;
    final DataSource ds;
    /**
     * One group for every test of the JVM: a test's engines continue from the offsets the previous
     * test's engines committed, instead of re-reading every earlier test's records.
     */
    final String group = "onceflow-it";
    private final List<AutoCloseable> running = new ArrayList<>();
    private final List<Dispatcher> dispatchers = new ArrayList<>();
    private final List<Engine> engines = new ArrayList<>();
    /** Workflows to disable when the fleet closes. */
    private final List<String> disableOnClose = new ArrayList<>();
    private KafkaProducer<byte[], byte[]> producer;
    /** Registered for the class (JUnit called beforeAll): closed after the class, not after each test. */
    private boolean perClass;
    private Map<String, String> settings = Map.of();

    Fleet(TestInfra infra) {
        this.infra = infra;
        this.ds = infra.dataSource();
    }

    OnceflowConfig config(int workers) {
        return infra.config(Map.of(OnceflowConfig.ENGINE_GROUP.name(), group,
                OnceflowConfig.ENGINE_WORKERS.name(), String.valueOf(workers),
                OnceflowConfig.ENGINE_MAX_POLL.name(), "200")).with(settings);
    }

    /** Configuration values every role of this fleet gets on top of the defaults (child processes too, through {@link #config}). */
    Fleet with(Map<String, String> values) {
        this.settings = Map.copyOf(values);
        return this;
    }

    Dispatcher startDispatcher() {
        return startDispatcher(Map.of());
    }

    /** A dispatcher with these configuration values on top of the fleet's. */
    Dispatcher startDispatcher(Map<String, String> settings) {
        OnceflowConfig config = config(1).with(settings);
        StoreCatalog catalog = new StoreCatalog(new WorkflowStore(ds), config);
        Dispatcher d = new Dispatcher(config, catalog, ds);
        d.start();
        running.add(catalog);
        running.add(d);
        dispatchers.add(d);
        return d;
    }

    Engine startEngine(int workers) {
        return startEngine(workers, EngineHooks.NONE, false);
    }

    Engine startEngine(int workers, EngineHooks hooks, boolean unsafe) {
        return startEngine(config(workers), hooks, unsafe);
    }

    /** An engine whose poll batches hold at most {@code maxPoll} records (more batches, more commits). */
    Engine startEngine(int workers, EngineHooks hooks, boolean unsafe, int maxPoll) {
        return startEngine(config(workers).with(Map.of(OnceflowConfig.ENGINE_MAX_POLL.name(), String.valueOf(maxPoll))), hooks, unsafe);
    }

    /** An engine with these configuration values on top of the fleet's. */
    Engine startEngine(int workers, Map<String, String> settings) {
        return startEngine(config(workers).with(settings), EngineHooks.NONE, false);
    }

    private Engine startEngine(OnceflowConfig config, EngineHooks hooks, boolean unsafe) {
        Engine e = new Engine(config, ds, hooks, Clock.systemUTC(), unsafe);
        e.start();
        running.add(e);
        engines.add(e);
        return e;
    }

    void closeDispatcher(Dispatcher d) {
        d.close();
        running.remove(d);
        dispatchers.remove(d);
    }

    void stop(Engine e) {
        e.close();
        running.remove(e);
        engines.remove(e);
    }

    List<Engine> engines() {
        return engines;
    }

    List<Dispatcher> dispatchers() {
        return dispatchers;
    }

    Workflow deploy(String json) throws Exception {
        Workflow wf = Workflows.parse("test", json.getBytes(StandardCharsets.UTF_8));
        return new WorkflowStore(ds).deploy(wf);
    }

    /**
     * Deploys a workflow and disables it when the fleet closes: for table and schedule triggers
     * (and the like), which later tests of this JVM must not capture or fire.
     */
    Workflow deployUntilClosed(String json) throws Exception {
        Workflow wf = deploy(json);
        disableOnClose.add(wf.id());
        return wf;
    }

    /** A 3-node workflow: sql (record) → condition → sql (large or small) → end; both sql nodes write it_effects. */
    Workflow deployThreeNode(String id) throws Exception {
        return deploy("""
                {"id": "%s", "trigger": {"type": "kafka"}, "nodes": [
                  {"type": "sql", "id": "record", "sql": "INSERT INTO it_effects (event_key, node) VALUES (?, 'record')",
                   "params": ["event.key"], "next": "check"},
                  {"type": "condition", "id": "check", "if": "trigger.n %% 2 == 0", "then": "even", "else": "odd"},
                  {"type": "sql", "id": "even", "sql": "INSERT INTO it_effects (event_key, node) VALUES (?, 'even')",
                   "params": ["event.key"], "next": "done"},
                  {"type": "sql", "id": "odd", "sql": "INSERT INTO it_effects (event_key, node) VALUES (?, 'odd')",
                   "params": ["event.key"], "next": "done"},
                  {"type": "end", "id": "done"}
                ]}""".formatted(id));
    }

    /** The nodes of a one-node workflow that writes one it_effects row per execution, named {@code id}. */
    static String effectNode(String id) {
        return "[{\"type\": \"sql\", \"id\": \"" + id + "\", \"sql\": \"INSERT INTO it_effects (event_key, node) VALUES (?, '" + id
                + "')\", \"params\": [\"event.key\"]}]";
    }

    public static String uniqueId(String prefix) {
        return prefix + "-" + UUID.randomUUID().toString().substring(0, 8);
    }

    Future<RecordMetadata> publish(String workflow, String id, ObjectNode data) {
        return publishRaw(Topics.TRIGGERS, id, new TriggerRecord(workflow, id, id == null ? null : Instant.ofEpochMilli(1_700_000_000_000L), data).toBytes());
    }

    Future<RecordMetadata> publishRaw(String topic, String key, byte[] value) {
        return send(new ProducerRecord<>(topic, key == null ? null : key.getBytes(StandardCharsets.UTF_8), value));
    }

    /** Produces a record as built (an operator command with its header, ADR 0025). */
    Future<RecordMetadata> send(ProducerRecord<byte[], byte[]> record) {
        if (producer == null) {
            producer = PublishCommand.producer(infra.config(Map.of()));
        }
        return producer.send(record);
    }

    /**
     * Waits until the engines' group is stable with exactly {@code members} members, each owning
     * partitions. The group is shared by every test of the JVM, so a member of an earlier test's
     * engine that was killed (not closed) stays in it until its session expires, and its expiry
     * is a rebalance: a test that counts rebalances waits here first.
     */
    void awaitStableGroup(int members) {
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, infra.bootstrap()))) {
            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofMinutes(2)).pollInterval(java.time.Duration.ofMillis(500))
                    .until(() -> {
                        ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).all().get().get(group);
                        return d.groupState() == GroupState.STABLE && d.members().size() == members
                                && d.members().stream().allMatch(m -> !m.assignment().topicPartitions().isEmpty());
                    });
        }
    }

    void flush() {
        producer.flush();
    }

    static ObjectNode data(int n) {
        return Json.MAPPER.createObjectNode().put("n", n);
    }

    long count(String sql, Object... args) throws Exception {
        try (Connection c = ds.getConnection(); PreparedStatement q = c.prepareStatement(sql)) {
            for (int i = 0; i < args.length; i++) {
                q.setObject(i + 1, args[i]);
            }
            try (ResultSet rs = q.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    long executions(String workflow) throws Exception {
        return count("SELECT count(*) FROM executions WHERE workflow_id = ?", workflow);
    }

    long finished(String workflow) throws Exception {
        return count("SELECT count(*) FROM executions WHERE workflow_id = ? AND finished_at IS NOT NULL", workflow);
    }

    long succeeded(String workflow) throws Exception {
        return count("SELECT count(*) FROM executions WHERE workflow_id = ? AND status = 'succeeded'", workflow);
    }

    /** Extra rows in it_effects: a node whose effect happened more than once. */
    long duplicateEffects(String workflow) throws Exception {
        return count("SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM it_effects WHERE event_key LIKE ? || '@%' "
                + "GROUP BY event_key, node HAVING count(*) > 1) d", workflow);
    }

    long effects(String workflow) throws Exception {
        return count("SELECT count(*) FROM it_effects WHERE event_key LIKE ? || '@%'", workflow);
    }

    /** Executions of the workflow that lack one of their two effects (record + even/odd). */
    long missingEffects(String workflow) throws Exception {
        return count("SELECT count(*) FROM executions e WHERE e.workflow_id = ? AND e.status = 'succeeded' AND "
                + "(SELECT count(DISTINCT node) FROM it_effects f WHERE f.event_key = e.event_key) <> 2", workflow);
    }

    /** Every record of {@code onceflow.dlq} so far (read_committed). */
    List<org.apache.kafka.clients.consumer.ConsumerRecord<byte[], byte[]>> dlq() {
        return readCommitted(Topics.DLQ);
    }

    /** Every committed record of the topic so far, as a {@code read_committed} consumer sees it. */
    List<org.apache.kafka.clients.consumer.ConsumerRecord<byte[], byte[]>> readCommitted(String topic) {
        Map<String, Object> props = Map.of(org.apache.kafka.clients.consumer.ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, infra.bootstrap(),
                org.apache.kafka.clients.consumer.ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        List<org.apache.kafka.clients.consumer.ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
        try (org.apache.kafka.clients.consumer.KafkaConsumer<byte[], byte[]> consumer = new org.apache.kafka.clients.consumer.KafkaConsumer<>(
                props, new org.apache.kafka.common.serialization.ByteArrayDeserializer(),
                new org.apache.kafka.common.serialization.ByteArrayDeserializer())) {
            List<org.apache.kafka.common.TopicPartition> parts = consumer.partitionsFor(topic).stream()
                    .map(p -> new org.apache.kafka.common.TopicPartition(p.topic(), p.partition())).toList();
            consumer.assign(parts);
            consumer.seekToBeginning(parts);
            Map<org.apache.kafka.common.TopicPartition, Long> end = consumer.endOffsets(parts);
            long deadline = System.currentTimeMillis() + 15_000;
            while (System.currentTimeMillis() < deadline && parts.stream().anyMatch(p -> consumer.position(p) < end.get(p))) {
                consumer.poll(java.time.Duration.ofMillis(200)).forEach(out::add);
            }
        }
        return out;
    }

    static String header(org.apache.kafka.clients.consumer.ConsumerRecord<byte[], byte[]> r, String name) {
        org.apache.kafka.common.header.Header h = r.headers().lastHeader(name);
        return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }

    @Override
    public void beforeAll(ExtensionContext context) {
        perClass = true;
    }

    @Override
    public void afterEach(ExtensionContext context) throws Exception {
        if (!perClass) {
            close();
        }
    }

    @Override
    public void afterAll(ExtensionContext context) throws Exception {
        close();
    }

    /** Closes the processes, newest first, then the producer, then disables the workflows deployed until closed. */
    @Override
    public void close() throws Exception {
        for (int i = running.size() - 1; i >= 0; i--) {
            try {
                running.get(i).close();
            } catch (Exception e) {
                // keep closing the rest
            }
        }
        running.clear();
        if (producer != null) {
            producer.close();
            producer = null;
        }
        WorkflowStore store = new WorkflowStore(ds);
        for (String id : disableOnClose) {
            store.setEnabled(id, false);
        }
        disableOnClose.clear();
    }
}
