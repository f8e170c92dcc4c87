package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.dispatcher.Dispatcher;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Table triggers: row changes captured with Debezium from a real PostgreSQL start one execution each. */
@Timeout(value = 6, unit = TimeUnit.MINUTES)
class RowChangeIT {

    private Fleet fleet;

    @BeforeEach
    void start() {
        fleet = new Fleet(TestInfra.embedded());
    }

    @AfterEach
    void stop() {
        fleet.close();
    }

    private static String effectNode(String id) {
        return "[{\"type\": \"sql\", \"id\": \"" + id + "\", \"sql\": \"INSERT INTO it_effects (event_key, node) VALUES (?, '" + id
                + "')\", \"params\": [\"event.key\"]}]";
    }

    @Test
    void insertsUpdatesOfWatchedColumnsAndDeletesFireAsAsked() throws Exception {
        String table = "it_rows_" + Fleet.uniqueId("t").substring(2).replace('-', '_');
        DevCommand.runScript(fleet.ds, "CREATE TABLE " + table + " (id bigint PRIMARY KEY, status text, note text)");
        Workflow onInsert = fleet.deploy("""
                {"id": "%s", "trigger": {"type": "table", "table": "%s", "operations": ["insert", "delete"]}, "nodes": %s}"""
                .formatted(Fleet.uniqueId("rows"), table, effectNode("seen")));
        Workflow onStatus = fleet.deploy("""
                {"id": "%s", "trigger": {"type": "table", "table": "%s", "operations": ["update"], "changed": ["status"]},
                 "nodes": %s}""".formatted(Fleet.uniqueId("status"), table, effectNode("status")));
        fleet.startEngine(2);
        Dispatcher d = fleet.startDispatcher();
        await().atMost(Duration.ofSeconds(60)).until(() -> d.captureStatus().tables().contains("public." + table));
        Thread.sleep(2000);
        DevCommand.runScript(fleet.ds, "INSERT INTO " + table + " VALUES (1, 'new', 'a'), (2, 'new', 'b')");
        DevCommand.runScript(fleet.ds, "UPDATE " + table + " SET note = 'changed' WHERE id = 1");   // unwatched column
        DevCommand.runScript(fleet.ds, "UPDATE " + table + " SET status = 'paid' WHERE id = 2");    // watched column
        DevCommand.runScript(fleet.ds, "DELETE FROM " + table + " WHERE id = 1");
        await().atMost(Duration.ofSeconds(60)).until(() -> fleet.executions(onInsert.id()) >= 3 && fleet.executions(onStatus.id()) >= 1);
        Thread.sleep(3000);
        assertThat(fleet.executions(onInsert.id())).isEqualTo(3);
        assertThat(fleet.executions(onStatus.id())).isEqualTo(1);
        assertThat(fleet.duplicateEffects(onInsert.id())).isZero();
    }
}
