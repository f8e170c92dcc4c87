package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.deploy.proof.ChildProcess;
import dev.onceflow.engine.Engine;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A Kafka trigger keeps its source topic's order per record key (issue 19, ADR 0020), through a
 * rebalance from one engine to three, an engine killed between its two commits, and the clean
 * stop of another. Ten record keys, forty records each, published interleaved on a 3-partition
 * topic of the user's; every seventh record of a key waits 300 ms in a {@code delay} before its
 * effect, so the key's next records would overtake it if anything but its lane held them back.
 * The engine killed is a JVM of its own, halted ({@link Runtime#halt}, as a kill -9 ends it)
 * after its PostgreSQL commit and before its Kafka commit while lanes are busy: its partitions,
 * with their waiting executions, move to the others after its session expires, and what it
 * committed to PostgreSQL is delivered again. Per key the effects, in commit order, must be 0…39,
 * each once.
 *
 * <p>Negative control, on the same records: a second workflow that differs only in
 * {@code order: "none"} must show a key's effects out of order, so the checker is seen to catch a
 * reorder in the same run.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class KafkaKeyOrderIT {

    private static final int KEYS = 10;
    private static final int PER_KEY = 40;

    @RegisterExtension
    final Fleet fleet = new Fleet(TestInfra.embedded());
    private ChildProcess child;

    /** Runs before the fleet closes (JUnit runs a test's @AfterEach before its extensions' afterEach). */
    @AfterEach
    void killChild() throws Exception {
        if (child != null) {
            child.kill9();
        }
    }

    private static String workflow(String id, String topic, String order) {
        return """
                {"id": "%s", "trigger": {"type": "kafka", "topic": "%s", "id": "/id"}, %s "nodes": [
                  {"type": "condition", "id": "slow", "if": "trigger.seq %% 7 == 0", "then": "wait", "else": "record"},
                  {"type": "delay", "id": "wait", "ms": 300, "next": "record"},
                  {"type": "sql", "id": "record", "sql": "INSERT INTO it_key_order (wf, k, seq) VALUES (?, ?, ?)",
                   "params": ["event.workflow", "trigger.k", "trigger.seq"]}
                ]}""".formatted(id, topic, order);
    }

    @Test
    void oneRecordKeysExecutionsRunInTheTopicsOrderThroughARebalanceAKillAndAStop() throws Exception {
        try (Connection c = TestInfra.embedded().dataSource().getConnection(); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE IF NOT EXISTS it_key_order (id bigserial PRIMARY KEY, wf text NOT NULL, k text NOT NULL, "
                    + "seq int NOT NULL)");
        }
        String topic = "it-keyorder-" + Fleet.uniqueId("t");
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, fleet.infra.bootstrap()))) {
            admin.createTopics(List.of(new NewTopic(topic, 3, (short) 1))).all().get();
        }
        Workflow ordered = fleet.deploy(workflow(Fleet.uniqueId("keyorder"), topic, ""));
        Workflow control = fleet.deploy(workflow(Fleet.uniqueId("keyorder-none"), topic, "\"order\": \"none\","));
        Engine first = fleet.startEngine(1);
        fleet.startDispatcher();
        Path dir = Files.createDirectories(Path.of("target", "kafka-key-order-it"));
        Path haltTrigger = dir.resolve("halt-" + Fleet.uniqueId("h"));
        Files.deleteIfExists(haltTrigger);
        Map<String, String> env = fleet.config(1).with(Map.of(OnceflowConfig.ENGINE_MAX_POLL.name(), "10")).environment();
        child = new ChildProcess("engine-keyorder", ChildProcess.java("384m", Onceflow.class.getName(),
                List.of("engine", "--halt-between-commits", haltTrigger.toString())), env, dir);

        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
                fleet.infra.bootstrap(), ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true), new ByteArraySerializer(),
                new ByteArraySerializer())) {
            for (int seq = 0; seq < PER_KEY; seq++) {
                for (int k = 0; k < KEYS; k++) {
                    String key = "k" + k;
                    String value = "{\"id\": \"%s-%d\", \"k\": \"%s\", \"seq\": %d}".formatted(key, seq, key, seq);
                    p.send(new ProducerRecord<>(topic, key.getBytes(StandardCharsets.UTF_8), value.getBytes(StandardCharsets.UTF_8)));
                }
                if (seq == 10) {
                    p.flush();
                    child.start(); // two more members, one of them its own JVM: the partitions move while lanes are busy
                    fleet.startEngine(1);
                    fleet.awaitStableGroup(3);
                }
                if (seq == 20) {
                    p.flush();
                    Files.writeString(haltTrigger, "halt"); // the child's next batch with records dies between its commits
                }
                if (seq == 30) {
                    p.flush();
                    long pid = child.pid();
                    await().atMost(Duration.ofMinutes(2)).until(() -> !Files.exists(haltTrigger)
                            && ProcessHandle.of(pid).map(h -> !h.isAlive()).orElse(true));
                    fleet.stop(first); // and one leaves cleanly
                }
                Thread.sleep(50); // publishing spread over about 2 s, so the rebalances happen mid-stream
            }
        }
        int total = KEYS * PER_KEY;
        await().atMost(Duration.ofMinutes(3)).pollInterval(Duration.ofMillis(250))
                .until(() -> fleet.succeeded(ordered.id()) == total && fleet.succeeded(control.id()) == total);

        Map<String, List<Integer>> byKey = effects(ordered.id());
        assertThat(byKey).hasSize(KEYS);
        List<Integer> expected = new ArrayList<>();
        for (int seq = 0; seq < PER_KEY; seq++) {
            expected.add(seq);
        }
        byKey.forEach((key, seqs) -> assertThat(seqs).as("key %s's effects in commit order, each once", key).isEqualTo(expected));

        Map<String, List<Integer>> unordered = effects(control.id());
        assertThat(unordered.values().stream().mapToInt(List::size).sum()).as("the control ran every record once too").isEqualTo(total);
        assertThat(unordered.values().stream().filter(seqs -> !seqs.equals(expected)).count())
                .as("with order none, a key's later records overtake its waiting one: the checker sees a reorder").isPositive();
    }

    private static Map<String, List<Integer>> effects(String workflow) throws Exception {
        Map<String, List<Integer>> byKey = new LinkedHashMap<>();
        try (Connection c = TestInfra.embedded().dataSource().getConnection();
             PreparedStatement q = c.prepareStatement("SELECT k, seq FROM it_key_order WHERE wf = ? ORDER BY id")) {
            q.setString(1, workflow);
            try (ResultSet rs = q.executeQuery()) {
                while (rs.next()) {
                    byKey.computeIfAbsent(rs.getString(1), x -> new ArrayList<>()).add(rs.getInt(2));
                }
            }
        }
        return byKey;
    }
}
