package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.onceflow.common.Json;
import dev.onceflow.common.Topics;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.dispatcher.Dispatcher;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * ADR 0020, the dispatcher's half of issue 19's per-row order: a table-triggered workflow's events
 * are keyed by the ordering key {@code workflowId/schema.table/pk}, so one row's changes, each in its
 * own transaction, land on one partition of {@code onceflow.events} in commit order (read as a
 * {@code read_committed} consumer reads them), with the event key in the {@code onceflow.event.key}
 * header. No engine: this is about where and in which order the events arrive, not how they run.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class RowChangeOrderKeyIT {

    @RegisterExtension
    final Fleet fleet = new Fleet(TestInfra.embedded());

    @Test
    void oneRowsChangesLandOnOnePartitionOfTheEventsTopicInCommitOrder() throws Exception {
        String table = "it_order_" + Fleet.uniqueId("t").substring(2).replace('-', '_');
        Scripts.run(fleet.ds, "CREATE TABLE " + table + " (id bigint PRIMARY KEY, v int NOT NULL)");
        Workflow wf = fleet.deployUntilClosed("""
                {"id": "%s", "trigger": {"type": "table", "table": "%s"}, "nodes": %s}"""
                .formatted(Fleet.uniqueId("row-order"), table, Fleet.effectNode("seen")));
        assertThat(wf.ordered()).as("table triggers are ordered by default").isTrue();
        Dispatcher d = fleet.startDispatcher();
        await().atMost(Duration.ofSeconds(60)).until(() -> d.captureStatus().capturing("public." + table));

        // Row 1: insert, 20 updates, delete, each its own transaction; row 2's changes interleaved.
        Scripts.run(fleet.ds, "INSERT INTO " + table + " VALUES (1, 0)");
        Scripts.run(fleet.ds, "INSERT INTO " + table + " VALUES (2, 0)");
        for (int v = 1; v <= 20; v++) {
            Scripts.run(fleet.ds, "UPDATE " + table + " SET v = " + v + " WHERE id = 1");
            if (v % 5 == 0) {
                Scripts.run(fleet.ds, "UPDATE " + table + " SET v = " + v + " WHERE id = 2");
            }
        }
        Scripts.run(fleet.ds, "DELETE FROM " + table + " WHERE id = 1");
        Scripts.run(fleet.ds, "DELETE FROM " + table + " WHERE id = 2");

        String rowOne = wf.id() + "/public." + table + "/1";
        String rowTwo = wf.id() + "/public." + table + "/2";
        List<ConsumerRecord<byte[], byte[]>> events = new ArrayList<>();
        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(500)).until(() -> {
            events.clear();
            events.addAll(fleet.readCommitted(Topics.EVENTS).stream().filter(r -> wf.id().equals(envelope(r).get("workflow").asText()))
                    .toList());
            return events.size() >= 22 + 6;
        });

        List<ConsumerRecord<byte[], byte[]>> one = ofKey(events, rowOne);
        List<ConsumerRecord<byte[], byte[]>> two = ofKey(events, rowTwo);
        assertThat(one.size() + two.size()).as("every event keyed by its row's ordering key").isEqualTo(events.size());
        assertThat(one).hasSize(22);
        assertThat(two).hasSize(6);
        assertThat(one).extracting(ConsumerRecord::partition).as("one row, one partition").containsOnly(one.get(0).partition());
        assertThat(two).extracting(ConsumerRecord::partition).containsOnly(two.get(0).partition());

        // Commit order: read in offset order, the row's changes are insert, updates v = 1..20, delete, with rising LSNs.
        List<String> seen = new ArrayList<>();
        long lastLsn = -1;
        for (ConsumerRecord<byte[], byte[]> r : one) {
            JsonNode e = envelope(r);
            JsonNode data = e.get("data");
            seen.add(data.get("op").asText() + (data.get("after").isNull() ? "" : ":" + data.get("after").get("v").asInt()));
            assertThat(data.get("lsn").asLong()).as("LSNs rise along the partition").isGreaterThan(lastLsn);
            lastLsn = data.get("lsn").asLong();
            assertThat(e.get("orderKey").asText()).isEqualTo(rowOne);
            assertThat(Fleet.header(r, Topics.H_EVENT_KEY)).isEqualTo(e.get("eventKey").asText()).startsWith(wf.id() + "@");
        }
        List<String> expected = new ArrayList<>(List.of("insert:0"));
        for (int v = 1; v <= 20; v++) {
            expected.add("update:" + v);
        }
        expected.add("delete");
        assertThat(seen).containsExactlyElementsOf(expected);
        assertThat(one).extracting(ConsumerRecord::offset).isSorted();
    }

    private static List<ConsumerRecord<byte[], byte[]>> ofKey(List<ConsumerRecord<byte[], byte[]>> records, String key) {
        return records.stream().filter(r -> r.key() != null && key.equals(new String(r.key(), StandardCharsets.UTF_8)))
                .sorted(java.util.Comparator.comparingLong(ConsumerRecord::offset)).toList();
    }

    private static JsonNode envelope(ConsumerRecord<byte[], byte[]> r) {
        return Json.tree(new String(r.value(), StandardCharsets.UTF_8));
    }
}
