package dev.onceflow.dispatcher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.onceflow.common.EventEnvelope;
import dev.onceflow.common.EventKey;
import dev.onceflow.common.workflow.Trigger;
import java.util.List;
import org.junit.jupiter.api.Test;

class TableRoutingTest {

    // A Debezium (pgoutput, schemas disabled) update of public.orders with REPLICA IDENTITY FULL.
    private static final String KEY = "{\"id\":42}";
    private static final String UPDATE = """
            {"before":{"id":42,"status":"new","note":"a","amount":"12.50"},
             "after":{"id":42,"status":"paid","note":"a","amount":"12.50"},
             "source":{"version":"3.6.1.Final","connector":"postgresql","name":"onceflow","ts_ms":1736442000123,
                       "db":"postgres","schema":"public","table":"orders","txId":771,"lsn":24023128},
             "op":"u","ts_ms":1736442000200}""";
    private static final String NOTE_ONLY = UPDATE.replace("\"status\":\"paid\",\"note\":\"a\"", "\"status\":\"new\",\"note\":\"b\"");
    private static final String INSERT = UPDATE.replace("\"before\":{\"id\":42,\"status\":\"new\",\"note\":\"a\",\"amount\":\"12.50\"}",
            "\"before\":null").replace("\"op\":\"u\"", "\"op\":\"c\"");
    private static final String DELETE = UPDATE.replace("\"after\":{\"id\":42,\"status\":\"paid\",\"note\":\"a\",\"amount\":\"12.50\"}",
            "\"after\":null").replace("\"op\":\"u\"", "\"op\":\"d\"");

    private static WorkflowCatalog.Entry wf(String id, Trigger.Table t) {
        return new WorkflowCatalog.Entry(id, 3, true, t);
    }

    private static Trigger.Table table(List<String> ops, List<String> changed, String condition) {
        return new Trigger.Table("orders", ops, changed, condition);
    }

    @Test
    void oneRowsChangesShareTheOrderingKeyOfTheirWorkflowTableAndPrimaryKey() {
        DispatcherMetrics metrics = new DispatcherMetrics();
        OrderKeys on = new OrderKeys(true, metrics);
        List<WorkflowCatalog.Entry> wfs = List.of(wf("sync", table(null, null, null)),
                new WorkflowCatalog.Entry("audit", 1, true, table(null, null, null), false));
        for (String change : List.of(INSERT, UPDATE, DELETE)) {
            List<EventEnvelope> events = TableRouting.route(RowChange.parse(KEY, change), wfs, 0, 10, on).events();
            assertThat(events).extracting(EventEnvelope::workflow).containsExactly("sync", "audit");
            assertThat(events.get(0).orderKey()).isEqualTo("sync/public.orders/42");
            assertThat(events.get(0).partitionKey()).isEqualTo("sync/public.orders/42");
            assertThat(events.get(1).orderKey()).as("order: none, a sequence of one").isNull();
            assertThat(events.get(1).partitionKey()).isEqualTo(events.get(1).eventKey());
        }
        assertThat(metrics.orderFallbacks()).as("not ordered is not a fallback").isZero();
        assertThat(TableRouting.route(RowChange.parse(KEY, UPDATE), wfs, 0, 10, OrderKeys.OFF).events())
                .extracting(EventEnvelope::orderKey).containsOnlyNulls();
    }

    @Test
    void parsesTheChangeAndItsStablePosition() {
        RowChange c = RowChange.parse(KEY, UPDATE);
        assertThat(c.op()).isEqualTo("update");
        assertThat(c.table()).isEqualTo("public.orders");
        assertThat(c.position()).isEqualTo("24023128:771:public.orders:42");
        assertThat(c.commitMs()).isEqualTo(1736442000123L);
        assertThat(c.row().get("status").asText()).isEqualTo("paid");
        assertThat(RowChange.parse(KEY, DELETE).row().get("status").asText()).as("a delete's row is the old row").isEqualTo("new");
    }

    @Test
    void theSameChangeReadTwiceGetsTheSameEventKey() {
        List<WorkflowCatalog.Entry> wfs = List.of(wf("sync", table(null, null, null)));
        EventEnvelope first = TableRouting.route(RowChange.parse(KEY, UPDATE), wfs).events().get(0);
        EventEnvelope replay = TableRouting.route(RowChange.parse(KEY, UPDATE), wfs).events().get(0);
        assertThat(first.eventKey()).isEqualTo(replay.eventKey())
                .isEqualTo("sync@1736442000123#24023128:771:public.orders:42");
        assertThat(EventKey.parse(first.eventKey()).discriminator()).isEqualTo("24023128:771:public.orders:42");
        assertThat(first.data().get("op").asText()).isEqualTo("update");
        assertThat(first.data().get("before").get("status").asText()).isEqualTo("new");
        assertThat(first.version()).isEqualTo(3);
    }

    @Test
    void operationsFilterChangesAndEachMatchingWorkflowGetsItsOwnEvent() {
        List<WorkflowCatalog.Entry> wfs = List.of(
                wf("inserts", table(List.of("insert"), null, null)),
                wf("deletes", table(List.of("delete"), null, null)),
                wf("all", table(null, null, null)),
                new WorkflowCatalog.Entry("disabled", 1, false, table(null, null, null)),
                wf("other-table", new Trigger.Table("customers", null, null, null)));
        assertThat(ids(TableRouting.route(RowChange.parse(KEY, INSERT), wfs))).containsExactlyInAnyOrder("inserts", "all");
        assertThat(ids(TableRouting.route(RowChange.parse(KEY, DELETE), wfs))).containsExactlyInAnyOrder("deletes", "all");
        assertThat(ids(TableRouting.route(RowChange.parse(KEY, UPDATE), wfs))).containsExactly("all");
    }

    @Test
    void anUpdateFiresOnlyWhenAWatchedColumnChanged() {
        List<WorkflowCatalog.Entry> wfs = List.of(wf("status", table(List.of("update"), List.of("status"), null)));
        assertThat(ids(TableRouting.route(RowChange.parse(KEY, UPDATE), wfs))).containsExactly("status");
        assertThat(ids(TableRouting.route(RowChange.parse(KEY, NOTE_ONLY), wfs))).isEmpty();
    }

    @Test
    void aConditionSelectsChangesAndAFailingOneIsReportedNotDropped() {
        List<WorkflowCatalog.Entry> wfs = List.of(
                wf("paid", table(null, null, "row.status == 'paid'")),
                wf("was-new", table(null, null, "before != null && before.status == 'new'")),
                wf("broken", table(null, null, "row.customer.name == 'x'")));
        TableRouting.Routed routed = TableRouting.route(RowChange.parse(KEY, UPDATE), wfs);
        assertThat(ids(routed)).containsExactlyInAnyOrder("paid", "was-new");
        assertThat(routed.failures()).singleElement().satisfies(f -> {
            assertThat(f.workflowId()).isEqualTo("broken");
            assertThat(f.reason()).contains("table trigger condition of workflow 'broken'").contains("row.customer.name");
        });
        assertThat(ids(TableRouting.route(RowChange.parse(KEY, INSERT), wfs.subList(0, 2)))).containsExactly("paid");
    }

    @Test
    void nonChangeRecordsAreSkippedAndGarbageIsAnError() {
        assertThat(RowChange.parse(null, null)).isNull();
        assertThat(RowChange.parse(null, "{\"ts_ms\": 1}")).as("heartbeat").isNull();
        assertThat(RowChange.parse(null, UPDATE.replace("\"op\":\"u\"", "\"op\":\"t\""))).as("truncate").isNull();
        assertThatThrownBy(() -> RowChange.parse(null, "not json")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("not JSON");
        assertThatThrownBy(() -> RowChange.parse(null, "{\"op\":\"c\",\"after\":{}}")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("source.lsn");
    }

    @Test
    void aTableWithoutPrimaryKeyStillHasAUniquePosition() {
        RowChange c = RowChange.parse(null, INSERT);
        assertThat(c.position()).isEqualTo("24023128:771:public.orders:");
    }

    @Test
    void watchedTablesKnowWhichNeedTheOldRow() {
        assertThat(TableRouting.watchedTables(List.of(
                wf("a", table(null, null, null)),
                wf("b", table(List.of("update"), List.of("status"), null)),
                wf("c", new Trigger.Table("customers", null, null, null)),
                new WorkflowCatalog.Entry("d", 1, false, new Trigger.Table("ignored", null, null, null)))))
                .containsExactly(java.util.Map.entry("public.customers", false), java.util.Map.entry("public.orders", true));
    }

    // A NocoBase-shaped table: camelCase table and columns, as Debezium reports them (catalog names, unquoted).
    private static final String CAMEL_UPDATE = """
            {"before":{"id":7,"nickname":"ann","createdAt":1,"updatedAt":1,"createdById":3},
             "after":{"id":7,"nickname":"ann","createdAt":1,"updatedAt":2,"createdById":3},
             "source":{"version":"3.6.1.Final","connector":"postgresql","name":"onceflow","ts_ms":1736442000123,
                       "db":"postgres","schema":"public","table":"orderItems","txId":772,"lsn":24023200},
             "op":"u","ts_ms":1736442000200}""";

    @Test
    void camelCaseTablesAndColumnsRouteByTheirQuotedNames() {
        RowChange c = RowChange.parse("{\"id\":7}", CAMEL_UPDATE);
        assertThat(c.table()).isEqualTo("public.\"orderItems\"");
        assertThat(c.position()).isEqualTo("24023200:772:public.\"orderItems\":7");
        List<WorkflowCatalog.Entry> wfs = List.of(
                wf("updated", new Trigger.Table("\"orderItems\"", List.of("update"), List.of("\"updatedAt\""), "row.createdById == 3")),
                wf("created", new Trigger.Table("public.\"orderItems\"", List.of("update"), List.of("\"createdAt\""), null)),
                wf("folded", new Trigger.Table("orderitems", null, null, null)));
        List<EventEnvelope> events = TableRouting.route(c, wfs, 0, 10, new OrderKeys(true, new DispatcherMetrics())).events();
        assertThat(events).as("only updatedAt changed; orderitems is another table").extracting(EventEnvelope::workflow)
                .containsExactly("updated");
        assertThat(events.get(0).orderKey()).isEqualTo("updated/public.\"orderItems\"/7");
        assertThat(events.get(0).eventKey()).isEqualTo("updated@1736442000123#24023200:772:public.\"orderItems\":7");
        assertThat(EventKey.parse(events.get(0).eventKey()).discriminator()).isEqualTo("24023200:772:public.\"orderItems\":7");
        assertThat(TableRouting.watchedTables(wfs)).containsOnly(java.util.Map.entry("public.orderitems", false),
                java.util.Map.entry("public.\"orderItems\"", true));
    }

    private static List<String> ids(TableRouting.Routed routed) {
        return routed.events().stream().map(EventEnvelope::workflow).toList();
    }
}
