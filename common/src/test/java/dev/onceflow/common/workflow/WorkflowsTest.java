package dev.onceflow.common.workflow;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;

class WorkflowsTest {

    private static final String VALID = """
            {"id": "orders", "nodes": [
              {"type": "sql", "id": "record", "sql": "INSERT INTO t (k, n) VALUES (?, ?)", "params": ["event.key", "trigger.n"], "next": "check"},
              {"type": "condition", "id": "check", "if": "trigger.n > 10", "then": "big", "else": "done"},
              {"type": "sql", "id": "big", "sql": "UPDATE t SET big = true WHERE k = ?", "params": ["event.key"], "next": "done"},
              {"type": "end", "id": "done"}
            ]}""";

    private static Workflow parse(String json) throws DefinitionException {
        return Workflows.parse("orders.json", json.getBytes(StandardCharsets.UTF_8));
    }

    private static String problems(String json) {
        return catchThrowableOfType(DefinitionException.class, () -> parse(json)).getMessage();
    }

    @Test
    void anOrderKeyPointerOnKafkaAndApiTriggersIsAJsonPointer() throws Exception {
        Workflow kafka = parse("""
                {"id": "k", "trigger": {"type": "kafka", "topic": "crm.changes", "orderKey": "/customer/id"},
                 "nodes": [{"type": "end", "id": "a"}]}""");
        assertThat(((Trigger.Kafka) kafka.trigger()).orderKey()).isEqualTo("/customer/id");
        Workflow api = parse("""
                {"id": "a", "trigger": {"type": "api", "orderKey": "/account"}, "nodes": [{"type": "end", "id": "a"}]}""");
        assertThat(((Trigger.Api) api.trigger()).orderKey()).isEqualTo("/account");
        assertThat(((Trigger.Api) parse("""
                {"id": "a", "trigger": {"type": "api"}, "nodes": [{"type": "end", "id": "a"}]}""").trigger()).orderKey()).isNull();
        assertThat(problems("""
                {"id": "k", "trigger": {"type": "kafka", "orderKey": "customerId"}, "nodes": [{"type": "end", "id": "a"}]}"""))
                .contains("trigger field 'orderKey': a JSON pointer starts with '/', got 'customerId'");
        assertThat(problems("""
                {"id": "a", "trigger": {"type": "api", "orderKey": "account"}, "nodes": [{"type": "end", "id": "a"}]}"""))
                .contains("trigger field 'orderKey': a JSON pointer starts with '/'");
    }

    @Test
    void limitsParseWithTheirDefaultsAndBadOnesAreNamedByField() throws Exception {
        Workflow limited = parse("""
                {"id": "l", "concurrency": {"total": 5}, "rateLimit": {"perSecond": 2.5},
                 "nodes": [{"type": "end", "id": "a"}]}""");
        assertThat(limited.total()).isEqualTo(5);
        assertThat(limited.perKey()).isEqualTo(1);
        assertThat(limited.rateLimit().burst()).as("one second's worth, rounded up").isEqualTo(3);
        assertThat(limited.rateLimit().perKey()).isFalse();
        assertThat(limited.limited()).isTrue();
        assertThat(parse("""
                {"id": "u", "trigger": {"type": "schedule", "intervalMs": 1000}, "concurrency": {"total": 1},
                 "nodes": [{"type": "end", "id": "a"}]}""").total()).as("a total needs no order").isEqualTo(1);
        assertThat(parse("""
                {"id": "f", "debounce": {"ms": 500, "keep": "first"}, "nodes": [{"type": "end", "id": "a"}]}""").debounce().keep())
                .isEqualTo("first");

        assertThat(problems("""
                {"id": "l", "concurrency": {"total": 0}, "nodes": [{"type": "end", "id": "a"}]}"""))
                .contains("field 'concurrency.total': must be 1 to 100000, got 0");
        assertThat(problems("""
                {"id": "l", "rateLimit": {"perSecond": 0}, "nodes": [{"type": "end", "id": "a"}]}"""))
                .contains("field 'rateLimit.perSecond': must be 0.001 to 100000 starts per second, got 0.0");
        assertThat(problems("""
                {"id": "l", "rateLimit": {}, "nodes": [{"type": "end", "id": "a"}]}"""))
                .contains("field 'rateLimit.perSecond': must be 0.001 to 100000 starts per second, got null");
        assertThat(problems("""
                {"id": "l", "rateLimit": {"perSecond": 1, "burst": 0}, "nodes": [{"type": "end", "id": "a"}]}"""))
                .contains("field 'rateLimit.burst': must be 1 to 100000, got 0");
        assertThat(problems("""
                {"id": "l", "order": "none", "rateLimit": {"perSecond": 1, "perKey": true}, "nodes": [{"type": "end", "id": "a"}]}"""))
                .contains("field 'rateLimit.perKey': applies to the events of one ordering key, but this workflow's order is \"none\"");
        assertThat(problems("""
                {"id": "l", "rateLimit": {"perSecond": 1}, "debounce": {"ms": 100}, "nodes": [{"type": "end", "id": "a"}]}"""))
                .contains("fields 'rateLimit' and 'debounce': not supported together yet");
        assertThat(problems("""
                {"id": "l", "debounce": {}, "nodes": [{"type": "end", "id": "a"}]}"""))
                .contains("field 'debounce.ms': must be 1 to 3600000 (one hour), got null");
        assertThat(problems("""
                {"id": "l", "debounce": {"ms": 100, "keep": "middle"}, "nodes": [{"type": "end", "id": "a"}]}"""))
                .contains("field 'debounce.keep': unknown keep 'middle'");
        assertThat(problems("""
                {"id": "l", "order": "none", "concurrency": {"perKey": 2}, "nodes": [{"type": "end", "id": "a"}]}"""))
                .contains("field 'concurrency.perKey': applies to lanes of one ordering key");
    }

    @Test
    void parsesAValidGraphIntoTypedNodes() throws Exception {
        Workflow wf = parse(VALID);
        assertThat(wf.id()).isEqualTo("orders");
        assertThat(wf.start()).isEqualTo("record");
        assertThat(wf.trigger()).isInstanceOf(Trigger.Kafka.class);
        assertThat(wf.nodes()).hasSize(4);
        assertThat(wf.node("record")).get().isInstanceOf(Node.Sql.class);
        assertThat(((Node.Condition) wf.node("check").orElseThrow()).successors()).containsExactly("big", "done");
        assertThat(((Node.End) wf.node("done").orElseThrow()).failed()).isFalse();
    }

    @Test
    void problemsNameTheFileTheNodeAndTheField() {
        String msg = problems("""
                {"id": "orders", "nodes": [
                  {"type": "sql", "id": "a", "sql": "INSERT INTO t VALUES (?, ?)", "params": ["trigger.x"], "next": "nowhere"}
                ]}""");
        assertThat(msg).contains("orders.json").contains("node 'a'").contains("field 'params'").contains("field 'next'")
                .contains("nowhere");
    }

    @Test
    void rejectsDuplicateIdsAMissingStartAndUnreachableNodes() {
        assertThat(problems("""
                {"id": "w", "nodes": [{"type": "end", "id": "a"}, {"type": "end", "id": "a"}]}""")).contains("'a'");
        assertThat(problems("""
                {"id": "w", "start": "zzz", "nodes": [{"type": "end", "id": "a"}]}""")).contains("zzz");
        assertThat(problems("""
                {"id": "w", "nodes": [{"type": "end", "id": "a"}, {"type": "end", "id": "island"}]}""")).contains("island");
    }

    @Test
    void rejectsCycles() {
        assertThat(problems("""
                {"id": "w", "nodes": [
                  {"type": "sql", "id": "a", "sql": "SELECT 1", "next": "b"},
                  {"type": "sql", "id": "b", "sql": "SELECT 1", "next": "a"}
                ]}""")).containsIgnoringCase("cycle");
    }

    @Test
    void rejectsExpressionsThatDoNotParseNamingTheNodeFieldTextAndColumn() {
        assertThat(problems("""
                {"id": "w", "nodes": [{"type": "condition", "id": "check", "if": "vars.total >", "then": null}]}"""))
                .contains("node 'check' field 'if': cannot parse expression 'vars.total >' at column 12: unexpected end after '>'")
                .doesNotContain("Expressions.compile").doesNotContain("@1:");
    }

    @Test
    void rejectsUnknownNodeTypesAndBadIds() {
        assertThat(problems("""
                {"id": "w", "nodes": [{"type": "teleport", "id": "a"}]}""")).contains("teleport");
        assertThat(problems("""
                {"id": "bad id", "nodes": [{"type": "end", "id": "a"}]}""")).contains("field 'id'");
        assertThat(problems("{not json")).contains("orders.json");
    }

    @Test
    void anUnknownNodeTypeNamesTheNodeTheKnownTypesAndTheNearestOne() {
        String msg = problems("""
                {"id": "w", "nodes": [{"type": "conditon", "id": "check", "if": "true"}]}""");
        assertThat(msg).contains("orders.json").contains("node 'check': unknown node type 'conditon' (known types: sql, condition,"
                + " calculation, delay, http, parallel, loop, end); did you mean 'condition'?");
        assertThat(problems("""
                {"id": "w", "nodes": [{"type": "teleport", "id": "a"}]}""")).contains("unknown node type 'teleport'")
                .as("nothing is close to it").doesNotContain("did you mean");
        assertThat(problems("""
                {"id": "w", "nodes": [{"type": "SQL", "id": "a", "sql": "SELECT 1"}]}""")).contains("did you mean 'sql'?");
        assertThat(problems("""
                {"id": "w", "nodes": [{"id": "a"}, {"type": 5}]}""")).contains("node 'a': missing field 'type' (one of sql, condition,")
                .contains("nodes[1] field 'type': expected a string");
    }

    @Test
    void anUnknownTriggerTypeNamesTheKnownTypes() {
        assertThat(problems("""
                {"id": "w", "trigger": {"type": "shedule"}, "nodes": [{"type": "end", "id": "a"}]}"""))
                .contains("trigger: unknown trigger type 'shedule' (known types: kafka, schedule, api, table); did you mean 'schedule'?");
        assertThat(problems("""
                {"id": "w", "trigger": "kafka", "nodes": [{"type": "end", "id": "a"}]}"""))
                .contains("field 'trigger': expected an object (a trigger), got the string \"kafka\"");
    }

    @Test
    void unknownFieldsAreNamedWithTheFieldsThatExist() {
        assertThat(problems("""
                {"id": "w", "nodse": [], "nodes": [{"type": "end", "id": "a"}]}"""))
                .contains("unknown field 'nodse' (known fields: id, version, description, trigger, start, nodes, order, concurrency, debounce, rateLimit); did you mean 'nodes'?");
        assertThat(problems("""
                {"id": "w", "nodes": [{"type": "condition", "id": "check", "if": "true", "thn": "a"}, {"type": "end", "id": "a"}]}"""))
                .contains("node 'check': unknown field 'thn' of a condition node (known fields: type, id, if, then, else, retry);"
                        + " did you mean 'then'?");
        assertThat(problems("""
                {"id": "w", "nodes": [{"type": "http", "id": "call", "url": "http://x.test", "retry": {"atempts": 2}}]}"""))
                .contains("node 'call': unknown field 'retry.atempts' (known fields of 'retry': attempts, backoffMs, maxBackoffMs,"
                        + " jitter, on); did you mean 'retry.attempts'?");
        assertThat(problems("""
                {"id": "w", "trigger": {"type": "api", "path": "/x"}, "nodes": [{"type": "end", "id": "a"}]}"""))
                .contains("trigger: unknown field 'path' of an api trigger (known fields: type, orderKey)");
    }

    @Test
    void aFieldOfTheWrongJsonTypeIsNamedInJsonWords() {
        String msg = problems("""
                {"id": "w", "version": "one", "nodes": [
                  {"type": "delay", "id": "wait", "ms": "soon", "next": "fan"},
                  {"type": "parallel", "id": "fan", "branches": "a"},
                  {"type": "http", "id": "call", "url": "http://x.test", "headers": {"X-A": {"b": 1}}, "retry": {"jitter": "lots"}}
                ]}""");
        assertThat(msg).contains("field 'version': expected a whole number, got the string \"one\"")
                .contains("node 'wait' field 'ms': expected a whole number, got the string \"soon\"")
                .contains("node 'fan' field 'branches': expected an array, got the string \"a\"")
                .contains("node 'call' field 'headers.X-A': expected a string, got an object")
                .contains("node 'call' field 'retry.jitter': expected a number, got the string \"lots\"");
        assertThat(problems("""
                {"id": "w", "trigger": {"type": "schedule", "intervalMs": 1000, "start": "tomorrow"}, "nodes": [{"type": "end", "id": "a"}]}"""))
                .contains("trigger field 'start': expected an ISO-8601 instant");
        assertThat(problems("""
                {"id": "w", "nodes": {"type": "end", "id": "a"}}""")).contains("field 'nodes': expected an array, got an object");
        assertThat(problems("""
                {"id": "w", "nodes": [null, 7]}""")).contains("nodes[0]: expected an object (a node), got null")
                .contains("nodes[1]: expected an object (a node), got the number 7");
        assertThat(problems("""
                {"id": "w", "nodes": [{"type": "delay", "id": "wait", "ms": 1e30}]}"""))
                .contains("node 'wait' field 'ms': the number 1.0E30 is out of range");
        assertThat(problems("[1, 2]")).contains("a workflow definition must be a JSON object, got an array");
    }

    @Test
    void everyMappingProblemIsReportedAtOnceWithoutJavaNames() {
        String msg = problems("""
                {"id": "w", "colour": "red", "trigger": {"type": "cron"}, "nodes": [
                  {"type": "conditon", "id": "check", "if": "true"},
                  {"type": "end", "id": "done", "status": "failed", "mesage": "x", "retri": {}}
                ]}""");
        assertThat(msg).contains("unknown field 'colour'").contains("trigger: unknown trigger type 'cron'")
                .contains("node 'check': unknown node type 'conditon'").contains("node 'done': unknown field 'mesage'")
                .contains("node 'done': unknown field 'retri'");
        assertThat(msg).doesNotContain("dev.onceflow").doesNotContain("java.").doesNotContain("Jackson").doesNotContain("POJO")
                .doesNotContain("Node$").doesNotContain("`");
    }

    @Test
    void malformedJsonNamesTheLineAndColumnWithoutTheParsersSource() {
        assertThat(problems("{\"id\": \"w\", \"nodes\": [")).contains("malformed JSON at line 1, column").contains("end-of-input")
                .doesNotContain("Source:");
        assertThat(problems("{\"id\": \"w\"\n \"nodes\": []}")).contains("malformed JSON at line 2");
    }

    @Test
    void expressionsSeeTriggerEventAndNodeOutputs() {
        Map<String, Object> vars = Map.of("trigger", Map.of("n", 12), "event", Map.of("key", "w@1"),
                "nodes", Map.of("a", Map.of("output", Map.of("rowCount", 3))));
        assertThat(Expressions.test("trigger.n > 10 && nodes.a.output.rowCount == 3", vars)).isTrue();
        assertThat(Expressions.evaluate("event.key", vars)).isEqualTo("w@1");
    }

    @Test
    void expressionsAreStrictAndSandboxed() {
        Map<String, Object> vars = Map.of("trigger", Map.of("n", 1));
        assertThat(catchThrowableOfType(RuntimeException.class, () -> Expressions.evaluate("nosuch.thing", vars))).isNotNull();
        assertThat(catchThrowableOfType(RuntimeException.class,
                () -> Expressions.evaluate("''.getClass().forName('java.lang.Runtime')", vars))).isNotNull();
        assertThat(catchThrowableOfType(RuntimeException.class,
                () -> Expressions.evaluate("new('java.io.File', '/etc/passwd').exists()", vars))).isNotNull();
    }

    @Test
    void aSqlNodeThatWouldCommitOrRunSeveralStatementsIsRefusedNamingTheNodeAndField() {
        String msg = problems("""
                {"id": "w", "nodes": [
                  {"type": "sql", "id": "pay", "sql": "UPDATE t SET paid = true WHERE k = ?; COMMIT", "params": ["event.key"], "next": "log"},
                  {"type": "sql", "id": "log", "sql": "COMMIT", "next": "ok"},
                  {"type": "sql", "id": "ok", "sql": "INSERT INTO t (s) VALUES ('a;b'), ($$;$$); -- ;"}
                ]}""");
        assertThat(msg).contains("orders.json").contains("node 'pay' field 'sql': holds 2 statements")
                .contains("node 'log' field 'sql': 'COMMIT'").doesNotContain("node 'ok'");
    }

    @Test
    void branchesAndLoopBodiesCountAsSuccessorsForReachabilityAndCycles() throws Exception {
        Workflow wf = parse("""
                {"id": "w", "nodes": [
                  {"type": "parallel", "id": "fan", "branches": ["left", "right"], "next": "each"},
                  {"type": "sql", "id": "left", "sql": "SELECT 1", "next": "left-2"},
                  {"type": "sql", "id": "left-2", "sql": "SELECT 2"},
                  {"type": "calculation", "id": "right", "set": {"x": "1"}},
                  {"type": "loop", "id": "each", "items": "trigger.items", "do": "book", "next": "done"},
                  {"type": "sql", "id": "book", "sql": "SELECT 3"},
                  {"type": "end", "id": "done"}
                ]}""");
        assertThat(wf.nodes()).hasSize(7);
        assertThat(problems("""
                {"id": "w", "nodes": [
                  {"type": "parallel", "id": "fan", "branches": ["a"]},
                  {"type": "sql", "id": "a", "sql": "SELECT 1", "next": "fan"}
                ]}""")).contains("nodes form a cycle (fan -> a -> fan)");
        assertThat(problems("""
                {"id": "w", "nodes": [
                  {"type": "loop", "id": "each", "items": "trigger.items", "do": "a", "next": "done"},
                  {"type": "sql", "id": "a", "sql": "SELECT 1", "next": "b"},
                  {"type": "delay", "id": "b", "ms": 10, "next": "a"},
                  {"type": "end", "id": "done"}
                ]}""")).contains("nodes form a cycle (each -> a -> b -> a)");
        assertThat(problems("""
                {"id": "w", "start": "a", "nodes": [
                  {"type": "sql", "id": "a", "sql": "SELECT 1"},
                  {"type": "loop", "id": "each", "items": "trigger.items", "do": "body"},
                  {"type": "sql", "id": "body", "sql": "SELECT 1"}
                ]}""")).contains("node 'each': unreachable from start node 'a'").contains("node 'body': unreachable");
    }

    @Test
    void aNodeSharedByTwoBranchesIsRefusedNamingBoth() {
        assertThat(problems("""
                {"id": "w", "nodes": [
                  {"type": "parallel", "id": "fan", "branches": ["left", "right"], "next": "done"},
                  {"type": "sql", "id": "left", "sql": "SELECT 1", "next": "shared"},
                  {"type": "sql", "id": "right", "sql": "SELECT 2", "next": "shared"},
                  {"type": "sql", "id": "shared", "sql": "SELECT 3"},
                  {"type": "end", "id": "done"}
                ]}""")).contains("node 'shared' is reached both from branch 'left' of parallel 'fan'"
                + " and from branch 'right' of parallel 'fan'").doesNotContain("node 'left' is").doesNotContain("node 'done' is");
    }

    @Test
    void aBranchThatLeadsIntoTheNodeAfterItsJoinIsRefused() {
        assertThat(problems("""
                {"id": "w", "nodes": [
                  {"type": "parallel", "id": "fan", "branches": ["left", "right"], "next": "done"},
                  {"type": "sql", "id": "left", "sql": "SELECT 1", "next": "done"},
                  {"type": "sql", "id": "right", "sql": "SELECT 2"},
                  {"type": "end", "id": "done"}
                ]}""")).contains("branch 'left' of parallel 'fan' leads into 'done', which follows its join; end the branch "
                + "with a node without 'next' instead ('done' runs once after it)");
    }

    @Test
    void aNodeSharedByARegionAndTheMainPathIsRefused() {
        assertThat(problems("""
                {"id": "w", "nodes": [
                  {"type": "loop", "id": "each", "items": "trigger.items", "do": "book", "next": "check"},
                  {"type": "sql", "id": "book", "sql": "SELECT 1", "next": "done"},
                  {"type": "condition", "id": "check", "if": "true", "then": "done"},
                  {"type": "end", "id": "done"}
                ]}""")).contains("node 'done' is reached both from the main path from start node 'each'"
                + " and from the body of loop 'each'");
        assertThat(problems("""
                {"id": "w", "nodes": [
                  {"type": "sql", "id": "first", "sql": "SELECT 1", "next": "fan"},
                  {"type": "parallel", "id": "fan", "branches": ["a", "first"]},
                  {"type": "sql", "id": "a", "sql": "SELECT 1"}
                ]}""")).containsIgnoringCase("cycle");
    }

    @Test
    void nestedRegionsAreTheirOwn() throws Exception {
        // a branch ends where its last node has no 'next' (leading into the join's 'next' is refused, see above)
        Workflow wf = parse("""
                {"id": "w", "nodes": [
                  {"type": "parallel", "id": "fan", "branches": ["left", "right"], "join": "any", "next": "after"},
                  {"type": "sql", "id": "left", "sql": "SELECT 1"},
                  {"type": "loop", "id": "right", "items": "trigger.items", "do": "inner", "next": "right-done"},
                  {"type": "parallel", "id": "inner", "branches": ["x", "y"]},
                  {"type": "sql", "id": "x", "sql": "SELECT 1"},
                  {"type": "sql", "id": "y", "sql": "SELECT 2"},
                  {"type": "sql", "id": "right-done", "sql": "SELECT 3"},
                  {"type": "end", "id": "after"}
                ]}""");
        assertThat(wf.nodes()).hasSize(8);
        // but a nested branch that leads to the outer parallel's next leaves its own region for the outer one
        assertThat(problems("""
                {"id": "w", "nodes": [
                  {"type": "parallel", "id": "fan", "branches": ["inner"], "next": "after"},
                  {"type": "parallel", "id": "inner", "branches": ["x"], "next": "inner-done"},
                  {"type": "sql", "id": "x", "sql": "SELECT 1", "next": "after"},
                  {"type": "sql", "id": "inner-done", "sql": "SELECT 2"},
                  {"type": "end", "id": "after"}
                ]}""")).contains("node 'after' is reached both from the main path from start node 'fan'"
                + " and from branch 'x' of parallel 'inner'");
    }
}
