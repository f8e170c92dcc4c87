package dev.onceflow.deploy.nocobase;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.onceflow.common.Json;
import dev.onceflow.common.workflow.Expressions;
import dev.onceflow.common.workflow.Node;
import dev.onceflow.common.workflow.Trigger;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.common.workflow.Workflows;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The translation of NocoBase's stored workflows, piece by piece: each outcome is parsed back with the deploy validator. */
class TranslationTest {

    private static final NocobaseImport.Settings SETTINGS = new NocobaseImport.Settings("UTC", Instant.parse("2026-12-07T00:00:00Z"));

    /** Builds NocoBase rows: nodes are linked as WorkflowModel.createNode links them. */
    private static final class Rows {
        final List<NocoWorkflow.NocoNode> nodes = new ArrayList<>();
        long next = 1;

        NocoWorkflow.NocoNode add(String key, String type, String config, Long up, Integer branch) {
            NocoWorkflow.NocoNode n = new NocoWorkflow.NocoNode(next++, key, key, type, Json.tree(config), up, branch, null);
            nodes.add(n);
            return n;
        }

        /** {@code a → b}: b's upstream is a, a's downstream is b. */
        NocoWorkflow.NocoNode after(NocoWorkflow.NocoNode a, String key, String type, String config) {
            NocoWorkflow.NocoNode b = add(key, type, config, a.id(), null);
            nodes.set(nodes.indexOf(a), new NocoWorkflow.NocoNode(a.id(), a.key(), a.title(), a.type(), a.config(), a.upstreamId(),
                    a.branchIndex(), b.id()));
            return b;
        }

        NocobaseImport.Outcome imported(String type, String trigger) {
            return NocobaseImport.translate(new NocoWorkflow(7, "wk", "W", type, Json.tree(trigger), true, true, false, nodes), SETTINGS);
        }

        NocobaseImport.Outcome onPosts() {
            return imported("collection", "{\"mode\": 1, \"collection\": \"posts\"}");
        }
    }

    private static Workflow parsed(NocobaseImport.Outcome o) throws Exception {
        assertThat(o.status()).as(String.join("; ", o.reasons())).isNotEqualTo(NocobaseImport.Status.NOT_IMPORTABLE);
        return Workflows.parse("t", o.definition().getBytes(StandardCharsets.UTF_8));
    }

    private static Variables vars(String contextData) {
        Map<String, Variables.JobRef> jobs = new HashMap<>();
        jobs.put("q", Variables.JobRef.of("nodes['q'].output.rows[0]"));
        jobs.put("r", new Variables.JobRef("nodes['r'].output", Map.of("data", "body"), null));
        jobs.put("lp", Variables.JobRef.none("a loop node's result"));
        return new Variables(Map.of("data", contextData), jobs, List.of("outer", "lp"), "node n");
    }

    // ---- triggers

    @ParameterizedTest
    @CsvSource({"1, insert", "2, update", "4, delete", "3, insert|update", "7, insert|update|delete"})
    void collectionModeBitsBecomeOperations(int mode, String operations) throws Exception {
        Rows r = new Rows();
        r.add("e", "end", "{\"endStatus\": 1}", null, null);
        Trigger.Table t = (Trigger.Table) parsed(r.imported("collection", "{\"mode\": " + mode + ", \"collection\": \"posts\"}")).trigger();
        assertThat(t.table()).isEqualTo("public.posts");
        assertThat(String.join("|", t.operations())).isEqualTo(operations);
    }

    @Test
    void collectionChangedAndConditionAreKept() throws Exception {
        Rows r = new Rows();
        r.add("e", "end", "{}", null, null);
        Trigger.Table t = (Trigger.Table) parsed(r.imported("collection", """
                {"mode": 2, "collection": "main:orders", "changed": ["status"],
                 "condition": {"$and": [{"status": {"$eq": "paid"}}, {"$or": [{"total": {"$gte": 10}}, {"vip": true}]}]}}""")).trigger();
        assertThat(t.changed()).containsExactly("status");
        assertThat(t.condition()).isEqualTo("((row.status == 'paid') && ((row.total >= 10) || (row.vip == true)))");
        Map<String, Object> row = Map.of("row", Map.of("status", "paid", "total", "12.50", "vip", false));
        assertThat(Expressions.test(t.condition(), row)).isTrue();
        assertThat(Expressions.test(t.condition(), Map.of("row", Map.of("status", "paid", "total", "9", "vip", false)))).isFalse();
    }

    @Test
    void aCamelCaseCollectionAndChangedColumnsAreQuotedAsTableTriggersWantThem() throws Exception {
        Rows r = new Rows();
        r.add("e", "end", "{}", null, null);
        NocobaseImport.Outcome o = r.imported("collection", """
                {"mode": 7, "collection": "main:orderItems", "changed": ["createdById", "status"]}""");
        JsonNode def = Json.tree(o.definition());
        // in the file as ADR 0024 writes them: quoted where not all lower case
        assertThat(def.path("trigger").path("table").asText()).isEqualTo("public.\"orderItems\"");
        assertThat(def.path("trigger").path("changed").get(0).asText()).isEqualTo("\"createdById\"");
        assertThat(def.path("trigger").path("changed").get(1).asText()).isEqualTo("status");
        Trigger.Table t = (Trigger.Table) parsed(o).trigger();
        assertThat(t.tableName()).isEqualTo(dev.onceflow.common.workflow.TableName.of("public", "orderItems"));
        assertThat(t.changedColumns()).containsExactly("createdById", "status");
        assertThat(o.approximations()).anyMatch(a -> a.contains("ALTER TABLE public.\"orderItems\" REPLICA IDENTITY FULL"));
    }

    @Test
    void aCollectionOfAnotherDataSourceIsNotImportable() {
        Rows r = new Rows();
        r.add("e", "end", "{}", null, null);
        NocobaseImport.Outcome o = r.imported("collection", "{\"mode\": 1, \"collection\": \"crm:contacts\"}");
        assertThat(o.status()).isEqualTo(NocobaseImport.Status.NOT_IMPORTABLE);
        assertThat(o.reasons()).singleElement().asString().contains("data source 'crm'");
    }

    @Test
    void staticScheduleKeepsCronWindowAndLimit() throws Exception {
        Rows r = new Rows();
        r.add("e", "end", "{}", null, null);
        NocobaseImport.Outcome o = r.imported("schedule", """
                {"mode": 0, "startsOn": "2026-01-01T02:00:00.123Z", "endsOn": "2027-01-01T00:00:00.000Z", "repeat": "0 0 2 * * *", "limit": 5}""");
        Trigger.Schedule s = (Trigger.Schedule) parsed(o).trigger();
        assertThat(s.cron()).isEqualTo("0 0 2 * * *");
        assertThat(s.start()).isEqualTo(Instant.parse("2026-01-01T02:00:00Z")); // NocoBase drops the milliseconds
        assertThat(s.end()).isEqualTo(Instant.parse("2027-01-01T00:00:00Z"));
        assertThat(s.limit()).isEqualTo(5);
        assertThat(s.misfire()).isEqualTo("skip");
        assertThat(o.approximations()).anyMatch(a -> a.contains("evaluated in UTC")).anyMatch(a -> a.contains("limit 5"));
    }

    @Test
    void aRepeatInMillisecondsNotAlignedToTheEpochIsAnApproximation() throws Exception {
        Rows r = new Rows();
        r.add("e", "end", "{}", null, null);
        NocobaseImport.Outcome aligned = r.imported("schedule", "{\"mode\": 0, \"startsOn\": \"2026-01-01T00:00:00Z\", \"repeat\": 60000}");
        assertThat(((Trigger.Schedule) parsed(aligned).trigger()).intervalMs()).isEqualTo(60000L);
        assertThat(aligned.status()).isEqualTo(NocobaseImport.Status.IMPORTED);
        NocobaseImport.Outcome shifted = r.imported("schedule", "{\"mode\": 0, \"startsOn\": \"2026-01-01T00:00:20Z\", \"repeat\": 60000}");
        assertThat(shifted.approximations()).singleElement().asString().contains("40000 ms later");
    }

    @Test
    void aScheduleWithoutRepeatRunsOnceAtStartsOn() throws Exception {
        Rows r = new Rows();
        r.add("e", "end", "{}", null, null);
        NocobaseImport.Outcome o = r.imported("schedule", "{\"mode\": 0, \"startsOn\": \"2031-06-01T09:30:00.000Z\"}");
        Trigger.Schedule s = (Trigger.Schedule) parsed(o).trigger();
        assertThat(o.status()).isEqualTo(NocobaseImport.Status.IMPORTED);
        dev.onceflow.common.workflow.ScheduleRules rules = new dev.onceflow.common.workflow.ScheduleRules(s);
        assertThat(rules.between(Instant.parse("2031-01-01T00:00:00Z"), Instant.parse("2032-01-01T00:00:00Z"), 10))
                .containsExactly(Instant.parse("2031-06-01T09:30:00Z"));
    }

    @Test
    void aDateFieldScheduleWaitsUntilTheFieldAndOneWithRepeatIsNotImportable() throws Exception {
        Rows r = new Rows();
        r.add("e", "end", "{}", null, null);
        NocobaseImport.Outcome o = r.imported("schedule", "{\"mode\": 1, \"collection\": \"tasks\", \"startsOn\": {\"field\": \"dueAt\", \"offset\": 0}}");
        JsonNode def = Json.tree(o.definition());
        assertThat(def.path("trigger").path("changed").get(0).asText()).isEqualTo("\"dueAt\""); // NocoBase's camelCase field, quoted
        assertThat(((Trigger.Table) Workflows.parse("t", o.definition().getBytes(java.nio.charset.StandardCharsets.UTF_8)).trigger())
                .changedColumns()).containsExactly("dueAt");
        assertThat(def.path("start").asText()).isEqualTo("nb-wait-until");
        assertThat(def.path("nodes").get(0).path("until").asText()).isEqualTo("trigger.row.dueAt");
        assertThat(o.approximations()).anyMatch(a -> a.contains("date-field schedule"));
        NocobaseImport.Outcome repeat = r.imported("schedule", "{\"mode\": 1, \"collection\": \"tasks\", \"startsOn\": {\"field\": \"due\"}, \"repeat\": 86400000}");
        assertThat(repeat.reasons()).singleElement().asString().contains("repeat");
    }

    @Test
    void actionTriggersBecomeApiTriggersReadingTheBodysData() throws Exception {
        Rows r = new Rows();
        r.add("c", "calculation", "{\"engine\": \"math.js\", \"expression\": \"{{$context.data.total}} + 1\"}", null, null);
        NocobaseImport.Outcome o = r.imported("custom-action", "{\"type\": 1, \"collection\": \"orders\"}");
        Workflow wf = parsed(o);
        assertThat(wf.trigger()).isInstanceOf(Trigger.Api.class);
        assertThat(((Node.Calculation) wf.nodes().get(0)).set().get("c")).isEqualTo("(trigger.data.total) + 1");
        assertThat(o.approximations()).singleElement().asString().contains("api trigger");
    }

    @Test
    void anUnknownTriggerTypeIsNotImportable() {
        Rows r = new Rows();
        r.add("e", "end", "{}", null, null);
        assertThat(r.imported("request-interception", "{}").reasons()).singleElement().asString()
                .contains("trigger type 'request-interception'");
    }

    // ---- variables

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "$context.data.title                 | trigger.row.title",
        "$context.data.items.0.name          | trigger.row.items[0].name",
        "$context.data.a-b                   | trigger.row['a-b']",
        "ctx.$context.data.x                 | trigger.row.x",
        "$jobsMapByNodeKey.q.title           | nodes['q'].output.rows[0].title",
        "$jobsMapByNodeKey.r.data.id         | nodes['r'].output.body.id",
        "$jobsMapByNodeKey.r.data.items.length | size(nodes['r'].output.body.items)",
        "$scopes.lp.item.id                  | loop.item.id",
        "$scopes.lp.index                    | loop.index",
        "$scopes.lp.sequence                 | (loop.index + 1)"})
    void variablesBecomeOnceflowNames(String variable, String expression) {
        assertThat(vars("trigger.row").path(variable)).isEqualTo(expression);
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "$system.now                | $system",
        "$env.SECRET                | $env",
        "$context.user.id           | context has",
        "$jobsMapByNodeKey.nope.x   | no node with that key",
        "$jobsMapByNodeKey.lp.done  | a loop node's result",
        "$scopes.outer.item         | an outer loop",
        "$scopes.other.item         | not inside that loop"})
    void untranslatableVariablesAreNamed(String variable, String why) {
        assertThatThrownBy(() -> vars("trigger.row").path(variable)).isInstanceOf(NotImportable.class)
                .hasMessageContaining("{{" + variable + "}}").hasMessageContaining(why);
    }

    @Test
    void textWithVariablesBecomesAConcatenationAndATemplate() {
        Variables v = vars("trigger.row");
        assertThat(v.expression("{{$context.data.n}}")).isEqualTo("trigger.row.n");
        assertThat(v.expression("n={{ $context.data.n }}!")).isEqualTo("'n=' + (trigger.row.n) + '!'");
        assertThat(v.expression("{{$context.data.a}}{{$context.data.b}}")).isEqualTo("'' + (trigger.row.a) + (trigger.row.b)");
        assertThat(Expressions.evaluate(v.expression("{{$context.data.a}}{{$context.data.b}}"), Map.of("trigger", Map.of("row", Map.of("a", 1, "b", 2)))))
                .isEqualTo("12");
        assertThat(v.template("https://x/${y}/{{$context.data.id}}")).isEqualTo("https://x/$${y}/${trigger.row.id}");
        assertThat(v.expression(Json.tree("{\"a\": [1, \"{{$context.data.id}}\"], \"b\": {}, \"c\": null, \"d\": \"it's\"}")))
                .isEqualTo("{'a': [1, trigger.row.id], 'b': {:}, 'c': null, 'd': 'it\\'s'}");
    }

    // ---- calculations

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "{{$context.data.a}} + 2 * {{$context.data.b}}   | 7",
        "{{$context.data.a}} / 2                           | 0.5",
        "({{$context.data.a}} + 6) % 4                     | 3",
        "{{$context.data.b}} > 2 and not ({{$context.data.a}} == 2) | true",
        "{{$context.data.s}} === \"x\" ? 1 : 0              | 1",
        "'a' + {{$context.data.s}}                          | ax"})
    void mathExpressionsEvaluateAsInNocoBase(String expression, String expected) {
        String jexl = Calculations.expression("math.js", expression, vars("trigger.row"));
        Object value = Expressions.evaluate(jexl, Map.of("trigger", Map.of("row", Map.of("a", 1, "b", 3, "s", "x"))));
        assertThat(String.valueOf(value)).isEqualTo(expected);
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "round({{$context.data.a}}, 2) | 'round' (a function)",
        "{{$context.data.a}} ^ 2       | '^' (power)",
        "SUM(1, 2)                     | 'SUM' (a function)",
        "5 cm + 2 inch                 | 'cm'",
        "2e3 + 1                       | units",
        "x + 1                         | 'x' (a name"})
    void untranslatableExpressionsAreNamedExactly(String expression, String what) {
        assertThatThrownBy(() -> Calculations.expression("math.js", expression, vars("trigger.row"))).isInstanceOf(NotImportable.class)
                .hasMessageContaining("\"" + expression + "\"").hasMessageContaining(what);
    }

    @Test
    void basicCalculationGroupsNestAndOr() {
        String e = Calculations.basic(Json.tree("""
                {"group": {"type": "or", "calculations": [
                  {"calculator": "equal", "operands": ["{{$context.data.s}}", "x"]},
                  {"group": {"type": "and", "calculations": [{"calculator": "gt", "operands": ["{{$context.data.a}}", 0]},
                                                             {"calculator": "includes", "operands": ["{{$context.data.t}}", "oo"]}]}}]}}"""),
                vars("trigger.row"));
        assertThat(Expressions.test(e, Map.of("trigger", Map.of("row", Map.of("s", "y", "a", 1, "t", "foo"))))).isTrue();
        assertThat(Expressions.test(e, Map.of("trigger", Map.of("row", Map.of("s", "y", "a", 0, "t", "foo"))))).isFalse();
        assertThat(Expressions.test(e, Map.of("trigger", Map.of("row", Map.of("s", "x", "a", 0, "t", ""))))).isTrue();
        assertThat(Calculations.basic(Json.tree("{\"group\": {\"type\": \"or\", \"calculations\": []}}"), vars("x"))).isEqualTo("false");
        assertThatThrownBy(() -> Calculations.basic(Json.tree("{\"calculator\": \"matches\", \"operands\": [1, 2]}"), vars("x")))
                .hasMessageContaining("calculator 'matches'");
    }

    // ---- filters

    /** filter (JSON), SQL condition, parameters joined by ';'. */
    private static final String[][] FILTERS = {
        {"{'a': 1}", "\"a\" = ?", "1"},
        {"{'a': {'$eq': null}}", "\"a\" IS NULL", ""},
        {"{'a': {'$ne': 'x'}}", "(\"a\" <> ? OR \"a\" IS NULL)", "'x'"},
        {"{'a': {'$ne': null}}", "\"a\" IS NOT NULL", ""},
        {"{'a': {'$in': [1, 2]}}", "\"a\" IN (?, ?)", "1;2"},
        {"{'a': {'$notIn': [3]}}", "\"a\" NOT IN (?)", "3"},
        {"{'a': {'$in': []}}", "FALSE", ""},
        {"{'a': {'$gt': 1, '$lte': 5}}", "(\"a\" > ? AND \"a\" <= ?)", "1;5"},
        {"{'a': {'$gte': 1}}", "\"a\" >= ?", "1"},
        {"{'a': {'$lt': 1}}", "\"a\" < ?", "1"},
        {"{'a': {'$includes': 'x_y'}}", "CAST(\"a\" AS TEXT) ILIKE ?", "'%x\\\\_y%'"},
        {"{'a': {'$startsWith': 'x'}}", "CAST(\"a\" AS TEXT) ILIKE ?", "'x%'"},
        {"{'a': {'$notEndWith': 'x'}}", "CAST(\"a\" AS TEXT) NOT ILIKE ?", "'%x'"},
        {"{'a': {'$includes': '{{$context.data.q}}'}}", "CAST(\"a\" AS TEXT) ILIKE '%' || CAST(? AS TEXT) || '%'", "trigger.row.q"},
        {"{'a': {'$empty': true}}", "(\"a\" IS NULL OR CAST(\"a\" AS TEXT) = '')", ""},
        {"{'a': {'$exists': true}}", "\"a\" IS NOT NULL", ""},
        {"{'a': {'$isFalsy': true}}", "(\"a\" = FALSE OR \"a\" IS NULL)", ""},
        {"{'$or': [{'a': 1}, {'b': {'$eq': '{{$context.data.id}}'}}]}", "(\"a\" = ? OR \"b\" = ?)", "1;trigger.row.id"},
        {"{'$and': [{'a': 1}, {'$or': []}], 'c': 2}", "((\"a\" = ?) AND \"c\" = ?)", "1;2"},
        {"{}", "TRUE", ""},
    };

    @Test
    void filterOperatorsBecomeSqlWithBoundParameters() {
        for (String[] c : FILTERS) {
            Filters.Sql sql = Filters.sql(Json.tree(c[0].replace('\'', '"')), vars("trigger.row"));
            assertThat(sql.where()).as(c[0]).isEqualTo(c[1]);
            assertThat(String.join(";", sql.params())).as(c[0]).isEqualTo(c[2]);
        }
    }

    @Test
    void unsupportedFilterOperatorsAndAssociationPathsAreNamed() {
        assertThatThrownBy(() -> Filters.sql(Json.tree("{\"d\": {\"$dateOn\": \"2026-01-01\"}}"), vars("x")))
                .hasMessageContaining("$dateOn");
        assertThatThrownBy(() -> Filters.sql(Json.tree("{\"author.name\": \"x\"}"), vars("x"))).hasMessageContaining("author.name");
        assertThatThrownBy(() -> Filters.sql(Json.tree("{\"author\": {\"name\": \"x\"}}"), vars("x"))).hasMessageContaining("author.name");
        assertThatThrownBy(() -> Filters.sql(Json.tree("{\"a\": {\"$in\": \"{{$context.data.ids}}\"}}"), vars("x")))
                .hasMessageContaining("list from a variable");
    }
}
