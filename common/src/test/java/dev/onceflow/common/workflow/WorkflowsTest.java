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
    void rejectsExpressionsThatDoNotParse() {
        assertThat(problems("""
                {"id": "w", "nodes": [{"type": "condition", "id": "c", "if": "trigger.x >", "then": null}]}"""))
                .contains("node 'c'").contains("field 'if'");
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
