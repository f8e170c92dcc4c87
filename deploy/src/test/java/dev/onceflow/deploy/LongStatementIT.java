package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.onceflow.common.Topics;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.engine.Engine;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A statement that runs longer than the consumer's max.poll.interval.ms (design, "Long SQL"): the
 * worker pauses its partitions and keeps polling while it runs, so the group sees no rebalance,
 * and the executions on other workers' partitions keep finishing meanwhile. The control shows
 * that a consumer which stops polling that long is put out of its group, which this test would see.
 */
@Timeout(value = 6, unit = TimeUnit.MINUTES)
class LongStatementIT {

    private static final int MAX_POLL_INTERVAL_MS = 10_000;
    private static final int SLEEP_S = 30; // 3 × max.poll.interval.ms, past the transaction (10 s) and idle-in-transaction (15 s) timeouts

    @RegisterExtension
    final Fleet fleet = new Fleet(TestInfra.embedded());

    @Test
    void aStatementLongerThanTheMaxPollIntervalCausesNoRebalanceWhileOtherPartitionsFlow() throws Exception {
        Workflow slow = fleet.deploy("""
                {"id": "%s", "trigger": {"type": "kafka"}, "nodes": [
                  {"type": "sql", "id": "sleep", "sql": "SELECT pg_sleep(%d)", "timeoutMs": 120000, "next": "after"},
                  {"type": "sql", "id": "after", "sql": "INSERT INTO it_effects (event_key, node) VALUES (?, 'after')",
                   "params": ["event.key"]}
                ]}""".formatted(Fleet.uniqueId("slow"), SLEEP_S));
        Workflow fast = fleet.deploy("{\"id\": \"" + Fleet.uniqueId("fast") + "\", \"trigger\": {\"type\": \"kafka\"}, \"nodes\": "
                + Fleet.effectNode("effect") + "}");
        fleet.startDispatcher();
        // One worker per partition, each allowed 10 s between polls.
        Engine engine = fleet.startEngine(6, Map.of("kafka.consumer.max.poll.interval.ms", String.valueOf(MAX_POLL_INTERVAL_MS)));
        fleet.publish(fast.id(), "warm-up", Fleet.data(0));
        fleet.flush();
        await().atMost(Duration.ofMinutes(1)).until(() -> fleet.finished(fast.id()) == 1);
        fleet.awaitStableGroup(6);
        long revokedBefore = engine.metrics().partitionsRevoked();

        fleet.publish(slow.id(), "s-1", Fleet.data(1));
        fleet.flush();
        await().atMost(Duration.ofSeconds(30)).until(() -> fleet.count(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%' AND state = 'active'") == 1);
        long started = System.currentTimeMillis();
        for (int i = 0; i < 1000; i++) {
            fleet.publish(fast.id(), "f-" + i, Fleet.data(i));
        }
        fleet.flush();
        // 1,000 executions keep finishing on the other workers while the statement runs (all but
        // those whose key shares the sleeping worker's partition, which wait for it).
        await().atMost(Duration.ofSeconds(SLEEP_S - 3)).pollInterval(Duration.ofMillis(200))
                .until(() -> fleet.finished(fast.id()) >= 1 + 1000 * 3 / 6);
        long fastDoneWhileSleeping = fleet.finished(fast.id()) - 1;
        long sleptSoFar = System.currentTimeMillis() - started;
        await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofMillis(500))
                .until(() -> fleet.finished(slow.id()) == 1 && fleet.finished(fast.id()) == 1001);

        assertThat(sleptSoFar).as("measured while the statement ran").isLessThan(SLEEP_S * 1000L);
        assertThat(fastDoneWhileSleeping).as("executions on other partitions finished meanwhile").isGreaterThanOrEqualTo(500);
        assertThat(engine.metrics().partitionsRevoked() - revokedBefore).as("no rebalance while the statement ran").isZero();
        assertThat(engine.metrics().longStatements()).isGreaterThanOrEqualTo(1);
        assertThat(fleet.succeeded(slow.id())).isEqualTo(1);
        assertThat(fleet.duplicateEffects(fast.id())).isZero();
        assertThat(fleet.count("SELECT count(*) FROM it_effects WHERE node = 'after' AND event_key LIKE ? || '@%'", slow.id()))
                .isEqualTo(1);
    }

    /** The control: a consumer that does not poll for longer than max.poll.interval.ms loses its partitions. */
    @Test
    void aConsumerThatStopsPollingThatLongIsPutOutOfItsGroup() throws Exception {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, fleet.config(1).get(dev.onceflow.common.OnceflowConfig.KAFKA_BOOTSTRAP));
        String group = Fleet.uniqueId("control");
        p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        p.put(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG, MAX_POLL_INTERVAL_MS);
        p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 10_000);
        p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, 1_000);
        AtomicInteger lost = new AtomicInteger();
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
             Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, p.get(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG)))) {
            consumer.subscribe(List.of(Topics.EVENTS), new ConsumerRebalanceListener() {
                @Override
                public void onPartitionsRevoked(java.util.Collection<TopicPartition> partitions) {
                    lost.addAndGet(partitions.size());
                }

                @Override
                public void onPartitionsAssigned(java.util.Collection<TopicPartition> partitions) {
                }

                @Override
                public void onPartitionsLost(java.util.Collection<TopicPartition> partitions) {
                    lost.addAndGet(partitions.size());
                }
            });
            await().atMost(Duration.ofSeconds(30)).until(() -> {
                consumer.poll(Duration.ofMillis(200));
                return !consumer.assignment().isEmpty();
            });
            // A worker blocked in a statement, not polling: until the broker shows the group without it
            // (its heartbeat thread leaves once max.poll.interval.ms passed without a poll), not for a guessed time.
            await().atMost(Duration.ofMillis(MAX_POLL_INTERVAL_MS + 30_000L)).pollInterval(Duration.ofMillis(500))
                    .until(() -> admin.describeConsumerGroups(List.of(group)).all().get().get(group).members().isEmpty());
            consumer.poll(Duration.ofMillis(500));
        }
        assertThat(lost.get()).as("partitions revoked or lost after not polling").isPositive();
    }
}
