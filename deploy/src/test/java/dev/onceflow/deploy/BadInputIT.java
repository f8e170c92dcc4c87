package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.onceflow.common.Topics;
import dev.onceflow.common.workflow.Workflow;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Bad input gets a clear error and loses nothing; the system keeps running. */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class BadInputIT {

    @RegisterExtension
    final Fleet fleet = new Fleet(TestInfra.embedded());

    @Test
    void malformedAndUnknownTriggersGoToTheDlqAndLaterEventsStillRun() throws Exception {
        Workflow wf = fleet.deployThreeNode(Fleet.uniqueId("bad"));
        fleet.startDispatcher();
        fleet.startEngine(1);
        String marker = Fleet.uniqueId("m");
        fleet.publishRaw(Topics.TRIGGERS, marker + "-json", ("{not json " + marker).getBytes(StandardCharsets.UTF_8));
        fleet.publishRaw(Topics.TRIGGERS, marker + "-missing", ("{\"data\": {\"m\": \"" + marker + "\"}}").getBytes(StandardCharsets.UTF_8));
        String unknown = "no-such-workflow-" + marker;
        fleet.publish(unknown, "x1", Fleet.data(1));
        fleet.publish(wf.id(), "after", Fleet.data(2));
        fleet.flush();

        List<ConsumerRecord<byte[], byte[]>> dlq = new ArrayList<>();
        await().atMost(Duration.ofSeconds(90)).until(() -> {
            dlq.addAll(fleet.dlq());
            return dlq.stream().filter(r -> key(r).startsWith(marker)).count() >= 2
                    && dlq.stream().anyMatch(r -> new String(r.value(), StandardCharsets.UTF_8).contains(unknown));
        });
        ConsumerRecord<byte[], byte[]> malformed = dlq.stream().filter(r -> key(r).equals(marker + "-json")).findFirst().orElseThrow();
        assertThat(Fleet.header(malformed, Topics.H_ERROR_CLASS)).isEqualTo("MALFORMED_JSON");
        assertThat(new String(malformed.value(), StandardCharsets.UTF_8)).isEqualTo("{not json " + marker);
        assertThat(Fleet.header(malformed, Topics.H_SOURCE_TOPIC)).isEqualTo(Topics.TRIGGERS);
        assertThat(Fleet.header(malformed, Topics.H_SOURCE_OFFSET)).matches("\\d+");

        ConsumerRecord<byte[], byte[]> missing = dlq.stream().filter(r -> key(r).equals(marker + "-missing")).findFirst().orElseThrow();
        assertThat(Fleet.header(missing, Topics.H_ERROR_CLASS)).isEqualTo("MISSING_FIELD");
        assertThat(Fleet.header(missing, Topics.H_ERROR_MESSAGE)).contains("workflow");

        ConsumerRecord<byte[], byte[]> unknownRecord = dlq.stream()
                .filter(r -> new String(r.value(), StandardCharsets.UTF_8).contains(unknown)).findFirst().orElseThrow();
        assertThat(Fleet.header(unknownRecord, Topics.H_ERROR_CLASS)).isEqualTo("UNKNOWN_WORKFLOW");
        assertThat(Fleet.header(unknownRecord, Topics.H_ERROR_MESSAGE)).contains(unknown);

        await().atMost(Duration.ofSeconds(60)).until(() -> fleet.succeeded(wf.id()) == 1);
    }

    @Test
    void failingSqlFailsTheExecutionWithTheReasonAndLaterEventsStillRun() throws Exception {
        String id = Fleet.uniqueId("failing-sql");
        Workflow wf = fleet.deploy("""
                {"id": "%s", "nodes": [
                  {"type": "condition", "id": "route", "if": "trigger.n == 0", "then": "broken", "else": "fine"},
                  {"type": "sql", "id": "broken", "sql": "INSERT INTO no_such_table (x) VALUES (?)", "params": ["trigger.n"]},
                  {"type": "sql", "id": "fine", "sql": "INSERT INTO it_effects (event_key, node) VALUES (?, 'fine')",
                   "params": ["event.key"]}
                ]}""".formatted(id));
        fleet.startDispatcher();
        fleet.startEngine(1);
        // The failing event sits between good ones, likely in one batch: the good ones must still commit.
        fleet.publish(wf.id(), "good-1", Fleet.data(1));
        fleet.publish(wf.id(), "bad", Fleet.data(0));
        fleet.publish(wf.id(), "good-2", Fleet.data(2));
        fleet.flush();

        await().atMost(Duration.ofSeconds(90)).until(() -> fleet.finished(wf.id()) == 3);
        assertThat(fleet.succeeded(wf.id())).isEqualTo(2);
        try (Connection c = fleet.ds.getConnection();
             PreparedStatement q = c.prepareStatement("SELECT status, error FROM executions WHERE event_key = ?")) {
            q.setString(1, wf.id() + "@1700000000000#bad");
            try (ResultSet rs = q.executeQuery()) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getString(1)).isEqualTo("failed");
                assertThat(rs.getString(2)).contains("broken").contains("no_such_table");
            }
        }
        assertThat(fleet.count("SELECT count(*) FROM processed_keys WHERE key = ? AND status = 'failed'",
                wf.id() + "@1700000000000#bad/broken")).isEqualTo(1);
        assertThat(fleet.effects(wf.id())).isEqualTo(2);

        fleet.publish(wf.id(), "good-3", Fleet.data(3));
        fleet.flush();
        await().atMost(Duration.ofSeconds(60)).until(() -> fleet.succeeded(wf.id()) == 3);
    }

    private static String key(ConsumerRecord<byte[], byte[]> r) {
        return r.key() == null ? "" : new String(r.key(), StandardCharsets.UTF_8);
    }
}
