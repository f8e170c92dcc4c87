package dev.onceflow.deploy.proof;

import static org.assertj.core.api.Assertions.assertThat;

import dev.onceflow.deploy.Fleet;
import dev.onceflow.deploy.TestInfra;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The chaos checker's trigger-record and Kafka invariants can fail, each one: executions,
 * processed keys, effect rows, offsets and transactions made by hand with a known defect must be
 * counted in the total the invariant belongs to ({@code unexpected}, {@code stalled}, ...), and a
 * report with any total above 0 fails. (The schedule and table invariants: {@link ChaosTriggerCheckIT}.)
 * Each test has its own schema for {@code chaos_effects}, its own workflow ids, topics and groups.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class ChaosCheckIT {

    private final TestInfra infra = TestInfra.embedded();
    private final String orders = Fleet.uniqueId("orders");
    private final String heavy = Fleet.uniqueId("heavy");
    private DataSource ds;

    @BeforeEach
    void schema() throws Exception {
        ds = infra.newSchema(ChaosRowWriter.createTable() + "; " + ChaosCommand.createEffectsTable());
    }

    /** An execution of {@code workflow} with its effect rows and processed keys (one per node). */
    private String execution(String workflow, String id, String status, List<String> effects, List<String> processedNodes)
            throws Exception {
        String key = workflow + "@1800000000000#" + id;
        try (Connection c = ds.getConnection()) {
            long executionId;
            try (PreparedStatement s = c.prepareStatement("INSERT INTO executions (event_key, workflow_id, workflow_version, status, "
                    + "trigger, finished_at) VALUES (?, ?, 1, ?, '{}'::jsonb, now()) RETURNING id")) {
                s.setString(1, key);
                s.setString(2, workflow);
                s.setString(3, status);
                try (ResultSet rs = s.executeQuery()) {
                    rs.next();
                    executionId = rs.getLong(1);
                }
            }
            for (String node : effects) {
                try (PreparedStatement s = c.prepareStatement("INSERT INTO chaos_effects (event_key, node) VALUES (?, ?)")) {
                    s.setString(1, key);
                    s.setString(2, node);
                    s.executeUpdate();
                }
            }
            for (String node : processedNodes) {
                try (PreparedStatement s = c.prepareStatement("INSERT INTO processed_keys (key, execution_id, node_id, status) "
                        + "VALUES (?, ?, ?, 'succeeded')")) {
                    s.setString(1, key + "/" + node);
                    s.setLong(2, executionId);
                    s.setString(3, node);
                    s.executeUpdate();
                }
            }
        }
        return key;
    }

    private static final List<String> ORDER_NODES = List.of("record", "check", "even", "done");

    @Test
    void processedKeysThatAreNotExactlyTheNodesRunAreUnexpected() throws Exception {
        String ok = execution(orders, "ok", "succeeded", List.of("record", "even"), ORDER_NODES);
        String missingProof = execution(orders, "missing-proof", "succeeded", List.of("record", "odd"), List.of("record", "check", "done"));
        String extraNode = execution(orders, "extra-node", "succeeded", List.of("record", "even"),
                List.of("record", "check", "even", "odd", "done"));
        String heavyOk = execution(heavy, "h", "succeeded", List.of("book"), List.of("scan", "book"));

        ChaosTriggerCheck.Verdict v = ChaosCheck.records(ds, new ChaosCheck.Records(orders, heavy,
                Set.of(ok, missingProof, extraNode, heavyOk), Set.of(), true), List.of());

        assertThat(v.detail()).containsEntry("executions_with_unexpected_processed_keys", 2L)
                .containsEntry("executions_not_from_accepted_keys", 0L);
        assertThat(v.unexpected()).isEqualTo(2);
        assertThat(v.duplicates()).isZero();
        assertThat(v.lost()).isZero();
    }

    @Test
    void unsafeEnginesKeepNoProcessedKeysSoThatInvariantDoesNotApplyButTheirDuplicatesCount() throws Exception {
        String once = execution(orders, "once", "succeeded", List.of("record", "even"), List.of());
        String twice = execution(orders, "twice", "succeeded", List.of("record", "record", "even"), List.of());

        ChaosTriggerCheck.Verdict v = ChaosCheck.records(ds, new ChaosCheck.Records(orders, heavy, Set.of(once, twice), Set.of(), false),
                List.of());

        assertThat(v.detail()).containsEntry("executions_with_unexpected_processed_keys", null);
        assertThat(v.unexpected()).isZero();
        assertThat(v.duplicates()).isEqualTo(1);
    }

    @Test
    void anExecutionOfAKeyNobodyPublishedIsUnexpectedOneInDoubtIsNot() throws Exception {
        String accepted = execution(orders, "accepted", "succeeded", List.of("record", "even"), ORDER_NODES);
        String inDoubt = execution(orders, "in-doubt", "succeeded", List.of("record", "even"), ORDER_NODES);
        execution(orders, "never-published", "succeeded", List.of("record", "even"), ORDER_NODES);
        String acceptedNeverRan = orders + "@1800000000000#lost";

        ChaosTriggerCheck.Verdict v = ChaosCheck.records(ds, new ChaosCheck.Records(orders, heavy,
                Set.of(accepted, acceptedNeverRan), Set.of(inDoubt, orders + "@1800000000000#in-doubt-never-ran"), true), List.of());

        assertThat(v.detail()).containsEntry("executions_not_from_accepted_keys", 1L).containsEntry("keys_in_doubt_executed", 1L)
                .containsEntry("accepted_keys_without_execution", 1L);
        assertThat(v.unexpected()).isEqualTo(1);
        assertThat(v.lost()).isEqualTo(1);
    }

    @Test
    void everyTotalFailsTheVerdict() {
        Map<String, Object> clean = new java.util.HashMap<>(Map.of("duplicates", 0L, "lost", 0L, "unexpected", 0L, "reordered", 0L,
                "stuck", 0L, "stalled", 0L));
        assertThat(ChaosCheck.passed(clean)).isTrue();
        for (String total : ChaosCheck.TOTALS) {
            Map<String, Object> r = new java.util.HashMap<>(clean);
            r.put(total, 1L);
            assertThat(ChaosCheck.passed(r)).as(total).isFalse();
        }
    }

    @Test
    void drainCheckNamesAPartitionWithRecordsPastTheCommittedOffsetAndOneHeldByAnOpenTransaction() throws Exception {
        String topic = Fleet.uniqueId("chaos-drain");
        String watched = Fleet.uniqueId("chaos-drain-out");
        String group = Fleet.uniqueId("chaos-drain-group");
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, infra.bootstrap()))) {
            admin.createTopics(List.of(new NewTopic(topic, 3, (short) 1), new NewTopic(watched, 1, (short) 1))).all().get();
        }
        // Partition 0: 5 records, the group committed past all of them, in transactions (so the commit
        // markers sit past the committed offset). Partition 1: 5 records, the group committed 2.
        // Partition 2: nothing. The watched topic: a transaction left open.
        try (KafkaProducer<byte[], byte[]> tx = producer("chaos-drain-" + topic);
             KafkaProducer<byte[], byte[]> hanging = producer("chaos-drain-hanging-" + topic)) {
            tx.initTransactions();
            for (int p = 0; p < 2; p++) {
                tx.beginTransaction();
                for (int i = 0; i < 5; i++) {
                    tx.send(new ProducerRecord<>(topic, p, null, new byte[] {(byte) i}));
                }
                tx.commitTransaction();
            }
            try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, infra.bootstrap()))) {
                admin.alterConsumerGroupOffsets(group, Map.of(new TopicPartition(topic, 0), new OffsetAndMetadata(5),
                        new TopicPartition(topic, 1), new OffsetAndMetadata(2))).all().get();
            }
            hanging.initTransactions();
            hanging.beginTransaction();
            hanging.send(new ProducerRecord<>(watched, new byte[] {1})).get();

            ChaosKafka.Drain drain;
            try (ChaosKafka kafka = new ChaosKafka(infra.bootstrap())) {
                drain = kafka.drain(Map.of(group, List.of(topic)), List.of(watched), 1_000);
            }

            assertThat(drain.stalled()).as("%s", drain).isEqualTo(2);
            assertThat(drain.partitions()).extracting(m -> m.get("partition")).containsExactly(topic + "-1", watched + "-0");
            assertThat(drain.partitions().get(0)).containsEntry("records_waiting", 3L).containsEntry("committed", 2L)
                    .containsEntry("group", group);
            assertThat(drain.partitions().get(1)).containsEntry("open_transaction", true);
            assertThat(drain.openTransactions()).anySatisfy(t -> {
                assertThat(t.get("transactional_id")).isEqualTo("chaos-drain-hanging-" + topic);
                assertThat(t.get("partitions")).isEqualTo(List.of(watched + "-0"));
            });
            hanging.abortTransaction();
        }
    }

    private KafkaProducer<byte[], byte[]> producer(String transactionalId) {
        return new KafkaProducer<>(Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, infra.bootstrap(),
                ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId, ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, 60_000),
                new ByteArraySerializer(), new ByteArraySerializer());
    }
}
