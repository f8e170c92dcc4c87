package dev.onceflow.deploy.nocobase;

import static org.assertj.core.api.Assertions.assertThat;

import dev.onceflow.common.Json;
import dev.onceflow.common.workflow.Node;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.common.workflow.Workflows;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Each NocoBase node type, and the linked list with its branches, as Onceflow nodes (validated as deploy validates). */
class NodesTest {

    private final List<NocoWorkflow.NocoNode> nodes = new ArrayList<>();
    private long next = 1;

    private long add(String key, String type, String config, Long up, Integer branch, Long down) {
        long id = next++;
        nodes.add(new NocoWorkflow.NocoNode(id, key, key, type, Json.tree(config), up, branch, down));
        return id;
    }

    private NocobaseImport.Outcome outcome() {
        return NocobaseImport.translate(new NocoWorkflow(9, "wk", "W", "collection", Json.tree("{\"mode\": 1, \"collection\": \"posts\"}"),
                true, true, false, nodes), new NocobaseImport.Settings("UTC", Instant.parse("2026-12-07T00:00:00Z")));
    }

    private Workflow imported() throws Exception {
        NocobaseImport.Outcome o = outcome();
        assertThat(o.reasons()).isEmpty();
        return Workflows.parse("t", o.definition().getBytes(StandardCharsets.UTF_8));
    }

    private static <T extends Node> T node(Workflow wf, String id, Class<T> type) {
        return type.cast(wf.node(id).orElseThrow(() -> new AssertionError("no node " + id + " in " + wf.nodes())));
    }

    @Test
    void aChainFollowsDownstreamIds() throws Exception {
        // ids given out of order: the list, not the row order, decides
        add("c", "end", "{\"endStatus\": -1}", 3L, null, null);
        add("a", "calculation", "{\"engine\": \"math.js\", \"expression\": \"1 + 1\"}", null, null, 3L);
        add("b", "delay", "{\"duration\": 2, \"unit\": 60000, \"endStatus\": 1}", 2L, null, 1L);
        Workflow wf = imported();
        assertThat(wf.start()).isEqualTo("a");
        assertThat(node(wf, "a", Node.Calculation.class).next()).isEqualTo("b");
        Node.Delay d = node(wf, "b", Node.Delay.class);
        assertThat(d.ms()).isEqualTo(120_000L);
        assertThat(d.next()).isEqualTo("c");
        assertThat(node(wf, "c", Node.End.class).failed()).isTrue();
    }

    @Test
    void aDelayThatEndsFailedIsFollowedByAFailedEnd() throws Exception {
        add("d", "delay", "{\"duration\": 5, \"unit\": 1000, \"endStatus\": -1}", null, null, null);
        Workflow wf = imported();
        assertThat(node(wf, "d", Node.Delay.class).next()).isEqualTo("d-failed");
        assertThat(node(wf, "d-failed", Node.End.class).failed()).isTrue();
    }

    @Test
    void aConditionWithBranchesAndANodeAfterItJoinsThroughAOneBranchParallel() throws Exception {
        long cond = add("cond", "condition", "{\"engine\": \"basic\", \"calculation\": {\"calculator\": \"gt\", \"operands\": [\"{{$context.data.n}}\", 1]}}",
                null, null, 4L);
        add("yes", "end", "{\"endStatus\": 1}", cond, 1, null);
        add("no", "sql", "{\"sql\": \"SELECT 1\"}", cond, 0, null);
        add("after", "calculation", "{\"engine\": \"math.js\", \"expression\": \"2\"}", cond, null, null);
        Workflow wf = imported();
        assertThat(wf.start()).isEqualTo("cond-join");
        Node.Parallel join = node(wf, "cond-join", Node.Parallel.class);
        assertThat(join.branches()).containsExactly("cond");
        assertThat(join.next()).isEqualTo("after");
        Node.Condition c = node(wf, "cond", Node.Condition.class);
        assertThat(c.expression()).isEqualTo("(trigger.row.n > 1)");
        assertThat(c.thenNode()).isEqualTo("yes");
        assertThat(c.elseNode()).isEqualTo("no");
    }

    @Test
    void aConditionWithoutBranchesRecordsItsResultOrRejects() throws Exception {
        add("c1", "condition", "{\"rejectOnFalse\": false, \"engine\": \"math.js\", \"expression\": \"{{$context.data.n}} > 1\"}", null, null, 2L);
        add("c2", "condition", "{\"rejectOnFalse\": true, \"engine\": \"math.js\", \"expression\": \"{{$jobsMapByNodeKey.c1}}\"}", 1L, null, 3L);
        add("e", "end", "{}", 2L, null, null);
        Workflow wf = imported();
        assertThat(node(wf, "c1", Node.Calculation.class).set()).containsEntry("c1", "(trigger.row.n) > 1");
        Node.Condition c2 = node(wf, "c2", Node.Condition.class);
        assertThat(c2.expression()).isEqualTo("(vars.c1)");
        assertThat(c2.thenNode()).isEqualTo("e");
        assertThat(c2.elseNode()).isEqualTo("c2-false");
        assertThat(node(wf, "c2-false", Node.End.class).failed()).isTrue();
    }

    @Test
    void branchesInsideBranchesAndALoopNest() throws Exception {
        long par = add("par", "parallel", "{\"mode\": \"any\"}", null, null, null);
        long cond = add("inner", "condition", "{\"engine\": \"basic\", \"calculation\": {\"calculator\": \"==\", \"operands\": [1, 1]}}", par, 0, null);
        long loop = add("each", "loop", "{\"target\": \"{{$context.data.items}}\"}", cond, 1, null);
        add("body", "update", "{\"collection\": \"items\", \"params\": {\"filter\": {\"id\": \"{{$scopes.each.item.id}}\"}, \"values\": {\"n\": \"{{$scopes.each.index}}\"}}}",
                loop, 0, null);
        add("other", "end", "{\"endStatus\": 1}", par, 1, null);
        Workflow wf = imported();
        Node.Parallel p = node(wf, "par", Node.Parallel.class);
        assertThat(p.branches()).containsExactly("inner", "other");
        assertThat(p.join()).isEqualTo("any");
        assertThat(node(wf, "inner", Node.Condition.class).thenNode()).isEqualTo("each");
        assertThat(node(wf, "inner", Node.Condition.class).elseNode()).isNull();
        Node.Loop l = node(wf, "each", Node.Loop.class);
        assertThat(l.items()).isEqualTo("trigger.row.items");
        assertThat(l.doNode()).isEqualTo("body");
        Node.Sql body = node(wf, "body", Node.Sql.class);
        assertThat(body.sql()).isEqualTo("UPDATE public.\"items\" SET \"n\" = ?, \"updatedAt\" = now() WHERE \"id\" = ?");
        assertThat(body.params()).containsExactly("loop.index", "loop.item.id");
        assertThat(outcome().approximations()).anyMatch(a -> a.contains("joins on the first branch"));
    }

    @Test
    void aLoopOverANumberIteratesOverItsIndexes() throws Exception {
        long loop = add("l", "loop", "{\"target\": 3}", null, null, null);
        add("b", "calculation", "{\"engine\": \"math.js\", \"expression\": \"{{$scopes.l.item}} * 2\"}", loop, 0, null);
        Workflow wf = imported();
        assertThat(node(wf, "l", Node.Loop.class).items()).isEqualTo("[0, 1, 2]");
    }

    @Test
    void queryCreateUpdateDestroyBecomeParameterizedSql() throws Exception {
        add("q", "query", """
                {"collection": "posts", "multiple": false, "failOnEmpty": true,
                 "params": {"filter": {"title": {"$startsWith": "A"}}, "sort": [{"field": "createdAt", "direction": "desc"}], "page": 2}}""",
                null, null, 2L);
        add("c", "create", "{\"collection\": \"logs\", \"params\": {\"values\": {\"postId\": \"{{$jobsMapByNodeKey.q.id}}\", \"createdAt\": \"{{$context.data.createdAt}}\"}}}",
                1L, null, 3L);
        add("u", "update", "{\"collection\": \"posts\", \"params\": {\"filter\": {\"id\": {\"$eq\": \"{{$jobsMapByNodeKey.c.postId}}\"}}, \"values\": {\"views\": 0}}}",
                2L, null, 4L);
        add("d", "destroy", "{\"collection\": \"main:logs\", \"params\": {\"filter\": {\"$and\": [{\"id\": {\"$lt\": \"{{$jobsMapByNodeKey.u}}\"}}]}}}",
                3L, null, null);
        Workflow wf = imported();
        Node.Sql q = node(wf, "q", Node.Sql.class);
        assertThat(q.sql()).isEqualTo("SELECT * FROM public.\"posts\" WHERE CAST(\"title\" AS TEXT) ILIKE ? ORDER BY \"createdAt\" DESC LIMIT 1 OFFSET 1");
        assertThat(q.next()).isEqualTo("q-found");
        assertThat(node(wf, "q-found", Node.Condition.class).thenNode()).isEqualTo("c");
        assertThat(node(wf, "q-empty", Node.End.class).failed()).isTrue();
        Node.Sql c = node(wf, "c", Node.Sql.class);
        assertThat(c.sql()).isEqualTo("INSERT INTO public.\"logs\" (\"postId\", \"createdAt\", \"updatedAt\") VALUES (?, ?, now()) RETURNING *");
        assertThat(c.params()).containsExactly("nodes['q'].output.rows[0].id", "trigger.row.createdAt");
        assertThat(node(wf, "u", Node.Sql.class).params()).containsExactly("0", "nodes['c'].output.rows[0].postId");
        Node.Sql d = node(wf, "d", Node.Sql.class);
        assertThat(d.sql()).isEqualTo("DELETE FROM public.\"logs\" WHERE (\"id\" < ?)");
        assertThat(d.params()).containsExactly("nodes['u'].output.rowCount");
    }

    @Test
    void anUpdateWithoutAFilterIsNotImportable() {
        add("u", "update", "{\"collection\": \"posts\", \"params\": {\"filter\": {}, \"values\": {\"views\": 0}}}", null, null, null);
        assertThat(outcome().reasons()).singleElement().asString().contains("without a filter");
    }

    @Test
    void sqlReplacementsAndSplicedVariablesAreBoundInTextOrder() throws Exception {
        add("s", "sql", """
                {"sql": "SELECT id::text FROM t WHERE a = :a AND b = {{$context.data.b}} AND c = {{$context.data.c}} AND d = ':not'",
                 "variables": [{"name": "a", "value": "{{$context.data.a}}"}]}""", null, null, null);
        NocobaseImport.Outcome o = outcome();
        Workflow wf = imported();
        Node.Sql s = node(wf, "s", Node.Sql.class);
        assertThat(s.sql()).isEqualTo("SELECT id::text FROM t WHERE a = ? AND b = ? AND c = ? AND d = ':not'");
        assertThat(s.params()).containsExactly("trigger.row.a", "trigger.row.b", "trigger.row.c");
        assertThat(o.approximations()).anyMatch(a -> a.contains("bound as parameters"));
    }

    @Test
    void anSqlNodeNamingOneOfOnceflowsTablesUnqualifiedIsNotImportable() throws Exception {
        // NocoBase has collections named workflows and executions; with db.schema the search path finds Onceflow's first
        add("s", "sql", "{\"sql\": \"SELECT count(*) FROM \\\"executions\\\" WHERE status = 1\"}", null, null, null);
        assertThat(outcome().reasons()).singleElement().asString().contains("names 'executions' without a schema")
                .contains("public.executions");
        nodes.clear();
        add("s", "sql", "{\"sql\": \"SELECT e.id, 'workflows' AS label FROM public.executions e JOIN public.\\\"workflows\\\" w "
                + "ON w.id = e.\\\"workflowId\\\" WHERE e.workflows_seen > 0\"}", null, null, null);
        assertThat(node(imported(), "s", Node.Sql.class).sql()).startsWith("SELECT e.id, 'workflows' AS label FROM public.executions e");
    }

    @Test
    void aVariableInsideAQuotedSqlStringIsNotImportable() {
        add("s", "sql", "{\"sql\": \"SELECT * FROM t WHERE b = '{{$context.data.b}}x'\"}", null, null, null);
        assertThat(outcome().reasons()).singleElement().asString().contains("inside a quoted string").contains("{{$context.data.b}}");
    }

    @Test
    void requestBecomesHttpWithNocoBaseDefaults() throws Exception {
        add("r", "request", """
                {"url": "https://api.example.com/x/{{$context.data.id}}", "headers": [{"name": "Content-Type", "value": "text/xml"},
                 {"name": "X-T", "value": "{{$context.data.t}}"}], "params": [{"name": "q", "value": "a b"}],
                 "data": {"n": "{{$context.data.n}}"}, "ignoreFail": true}""", null, null, null);
        Workflow wf = imported();
        Node.Http h = node(wf, "r", Node.Http.class);
        assertThat(h.method()).isEqualTo("POST");
        assertThat(h.url()).isEqualTo("https://api.example.com/x/${trigger.row.id}?q=a+b");
        assertThat(h.headers()).containsEntry("X-T", "${trigger.row.t}").containsEntry("Content-Type", "application/json");
        assertThat(h.body().asText()).isEqualTo("{'n': trigger.row.n}");
        assertThat(h.timeoutMs()).isEqualTo(5000L);
        assertThat(h.ignoreFail()).isTrue();
    }

    @Test
    void aMultipartRequestIsNotImportable() {
        add("r", "request", "{\"url\": \"https://x.example\", \"contentType\": \"multipart/form-data\", \"data\": []}", null, null, null);
        assertThat(outcome().reasons()).singleElement().asString().contains("multipart/form-data");
    }

    @Test
    void anUnsupportedNodeMakesTheWorkflowNotImportableNamingIt() {
        long a = add("a", "calculation", "{\"engine\": \"math.js\", \"expression\": \"1\"}", null, null, 2L);
        add("mail", "mailer", "{}", a, null, null);
        NocobaseImport.Outcome o = outcome();
        assertThat(o.status()).isEqualTo(NocobaseImport.Status.NOT_IMPORTABLE);
        assertThat(o.definition()).isNull();
        assertThat(o.reasons()).singleElement().asString().contains("key mail, type mailer").contains("no 'mailer' node");
    }

    @Test
    void aNodeNotLinkedToTheFirstIsReportedNotDropped() {
        add("a", "end", "{}", null, null, null);
        add("orphan", "end", "{}", 77L, null, null);
        NocobaseImport.Outcome o = outcome();
        assertThat(o.status()).isEqualTo(NocobaseImport.Status.APPROXIMATED);
        assertThat(o.approximations()).singleElement().asString().contains("key orphan").contains("not linked");
    }

    @Test
    void branchesWhereNocoBaseHasNoneAreNotImportable() {
        long cond = add("c", "condition", "{\"engine\": \"basic\"}", null, null, null);
        add("x", "end", "{}", cond, 2, null);
        assertThat(outcome().reasons()).singleElement().asString().contains("branch 2");
        nodes.clear();
        next = 1;
        long loop = add("l", "loop", "{\"target\": 2}", null, null, null);
        add("b1", "end", "{}", loop, 0, null);
        add("b2", "end", "{}", loop, 1, null);
        assertThat(outcome().reasons()).singleElement().asString().contains("a loop has one body");
        nodes.clear();
        next = 1;
        long calc = add("k", "calculation", "{\"expression\": \"1\"}", null, null, null);
        add("b", "end", "{}", calc, 0, null);
        assertThat(outcome().reasons()).singleElement().asString().contains("branches under a calculation node");
    }

    @Test
    void aCycleOrADanglingDownstreamIsNotImportable() {
        add("a", "end", "{}", null, null, 2L);
        add("b", "calculation", "{\"expression\": \"1\"}", 1L, null, 1L);
        assertThat(outcome().reasons()).singleElement().asString().contains("cycle");
        nodes.clear();
        next = 1;
        add("a", "calculation", "{\"expression\": \"1\"}", null, null, 99L);
        assertThat(outcome().reasons()).singleElement().asString().contains("downstreamId 99");
    }
}
