package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.common.Topics;
import dev.onceflow.common.WorkflowStore;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.dispatcher.Dispatcher;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Workflows that trigger themselves through the rows they write (ADR 0011): each execution's
 * changes carry its depth + 1, and a change past {@code dispatcher.table.max.depth} starts nothing
 * and is dead-lettered. The negative control raises the limit and shows the cycle runs on.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class WorkflowCycleIT {

    @RegisterExtension
    final Fleet fleet = new Fleet(TestInfra.embedded());

    private static String newTable() {
        return "it_cycle_" + Fleet.uniqueId("t").substring(2).replace('-', '_');
    }

    /** A table workflow on {@code watched} whose one node inserts a row into {@code target}. */
    private Workflow insertsInto(String watched, String target) throws Exception {
        // Until the fleet closes: later tests of this JVM must not capture these tables.
        return fleet.deployUntilClosed("""
                {"id": "%s", "trigger": {"type": "table", "table": "%s", "operations": ["insert"]}, "nodes": [
                  {"type": "sql", "id": "write", "sql": "INSERT INTO %s (origin) VALUES (?)", "params": ["event.key"]}
                ]}""".formatted(Fleet.uniqueId("cycle"), watched, target));
    }

    private Dispatcher startCapturing(int maxDepth, String... tables) {
        Dispatcher d = fleet.startDispatcher(Map.of(OnceflowConfig.TABLE_MAX_DEPTH.name(), String.valueOf(maxDepth)));
        await().atMost(Duration.ofSeconds(90)).until(() -> {
            for (String t : tables) {
                if (!d.captureStatus().capturing("public." + t)) {
                    return false;
                }
            }
            return true;
        });
        return d;
    }

    /** A table, a workflow that inserts into the table it watches, an engine, and a capture at {@code maxDepth}. */
    private Workflow selfInserting(String table, int maxDepth) throws Exception {
        Scripts.run(fleet.ds, "CREATE TABLE " + table + " (id bigserial PRIMARY KEY, origin text)");
        Workflow wf = insertsInto(table, table);
        fleet.startEngine(2);
        startCapturing(maxDepth, table);
        return wf;
    }

    private List<ConsumerRecord<byte[], byte[]>> depthLimited(Workflow wf) {
        return fleet.dlq().stream()
                .filter(r -> r.key() != null && new String(r.key(), StandardCharsets.UTF_8).startsWith(wf.id() + "@"))
                .filter(r -> "DEPTH_LIMIT".equals(Fleet.header(r, Topics.H_ERROR_CLASS)))
                .toList();
    }

    @Test
    void aWorkflowThatInsertsIntoItsOwnTableStopsAtTheMaximumDepth() throws Exception {
        String table = newTable();
        Workflow wf = selfInserting(table, 3);

        Scripts.run(fleet.ds, "INSERT INTO " + table + " (origin) VALUES ('seed-1'), ('seed-2')");

        // Each seed row: executions at depths 0, 1, 2, 3; the change made at depth 3 would start depth 4.
        await().atMost(Duration.ofSeconds(90)).until(() -> depthLimited(wf).size() == 2);
        await().during(Duration.ofSeconds(4)).atMost(Duration.ofSeconds(30)).until(() -> fleet.executions(wf.id()) == 8);
        assertThat(fleet.count("SELECT count(*) FROM " + table)).as("2 seeds + one row per execution").isEqualTo(10);
        assertThat(fleet.count("SELECT max(depth) FROM executions WHERE workflow_id = ?", wf.id())).isEqualTo(3);
        assertThat(fleet.count("SELECT count(DISTINCT depth) FROM executions WHERE workflow_id = ?", wf.id())).isEqualTo(4);
        assertThat(Fleet.header(depthLimited(wf).get(0), Topics.H_ERROR_MESSAGE))
                .contains(wf.id(), "public." + table, "depth 4", "dispatcher.table.max.depth 3");
    }

    @Test
    void aCycleThroughTwoWorkflowsStopsAtTheMaximumDepth() throws Exception {
        String a = newTable();
        String b = newTable();
        Scripts.run(fleet.ds, "CREATE TABLE " + a + " (id bigserial PRIMARY KEY, origin text); "
                + "CREATE TABLE " + b + " (id bigserial PRIMARY KEY, origin text)");
        Workflow aToB = insertsInto(a, b);
        Workflow bToA = insertsInto(b, a);
        fleet.startEngine(2);
        startCapturing(3, a, b);

        Scripts.run(fleet.ds, "INSERT INTO " + a + " (origin) VALUES ('seed')");

        // a (depth 0) -> b (1) -> a (2) -> b (3) -> the change in a at depth 4 starts nothing
        await().atMost(Duration.ofSeconds(90)).until(() -> depthLimited(aToB).size() == 1);
        await().during(Duration.ofSeconds(4)).atMost(Duration.ofSeconds(30))
                .until(() -> fleet.executions(aToB.id()) == 2 && fleet.executions(bToA.id()) == 2);
        assertThat(depthLimited(bToA)).isEmpty();
        assertThat(fleet.count("SELECT count(*) FROM " + a)).isEqualTo(3);
        assertThat(fleet.count("SELECT count(*) FROM " + b)).isEqualTo(2);
    }

    @Test
    void negativeControlWithAHighLimitTheCycleRunsOn() throws Exception {
        String table = newTable();
        Workflow wf = selfInserting(table, 1_000);

        Scripts.run(fleet.ds, "INSERT INTO " + table + " (origin) VALUES ('seed')");

        await().atMost(Duration.ofSeconds(120)).until(() -> fleet.executions(wf.id()) >= 20);
        new WorkflowStore(fleet.ds).setEnabled(wf.id(), false);
        assertThat(depthLimited(wf)).isEmpty();
    }
}
