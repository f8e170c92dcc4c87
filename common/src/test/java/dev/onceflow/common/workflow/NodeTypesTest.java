package dev.onceflow.common.workflow;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.onceflow.common.Json;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The fields, defaults and deploy-time problems of calculation, delay, http, parallel, loop, end and retry. */
class NodeTypesTest {

    private static Workflow parse(String nodes) throws DefinitionException {
        String json = "{\"id\": \"w\", \"nodes\": [" + nodes + ", {\"type\": \"end\", \"id\": \"done\"}]}";
        return Workflows.parse("nodes.json", json.getBytes(StandardCharsets.UTF_8));
    }

    private static String problems(String nodes) {
        DefinitionException e = catchThrowableOfType(DefinitionException.class, () -> parse(nodes));
        assertThat(e).as("refused: " + nodes).isNotNull();
        return e.getMessage();
    }

    private static <T extends Node> T node(String nodes, String id, Class<T> type) throws DefinitionException {
        return type.cast(parse(nodes).node(id).orElseThrow());
    }

    /** The definition as stored (Json.text of the workflow) parses back to the same workflow. */
    private static void roundTrips(Workflow wf) throws DefinitionException {
        assertThat(Workflows.parse("stored", Json.bytes(wf))).isEqualTo(wf);
    }

    // calculation ---------------------------------------------------------------------------------

    @Test
    void aCalculationKeepsItsVariablesInDeclarationOrder() throws Exception {
        Node.Calculation c = node("""
                {"type": "calculation", "id": "calc", "set": {"z": "trigger.n * 2", "a": "vars.z + 1", "_b9": "'x'"}, "next": "done"}""",
                "calc", Node.Calculation.class);
        assertThat(c.set()).containsExactly(java.util.Map.entry("z", "trigger.n * 2"), java.util.Map.entry("a", "vars.z + 1"),
                java.util.Map.entry("_b9", "'x'"));
        assertThat(c.successors()).containsExactly("done");
        assertThat(c.retry()).isNull();
        roundTrips(parse("""
                {"type": "calculation", "id": "calc", "set": {"z": "1", "a": "2"}, "next": "done"}"""));
    }

    @Test
    void aCalculationNeedsValidNamesAndExpressionsAndAtLeastOneEntry() {
        assertThat(problems("""
                {"type": "calculation", "id": "calc", "set": {}, "next": "done"}"""))
                .contains("node 'calc' field 'set': sets no variable");
        assertThat(problems("""
                {"type": "calculation", "id": "calc", "next": "done"}"""))
                .contains("node 'calc' field 'set': sets no variable");
        String msg = problems("""
                {"type": "calculation", "id": "calc", "set": {"9lives": "1", "with space": "1", "ok": "trigger.n >",
                 "%s": "1", "empty": ""}, "next": "done"}""".formatted("x".repeat(64)));
        assertThat(msg).contains("node 'calc' field 'set': '9lives' is not a valid variable name")
                .contains("node 'calc' field 'set': 'with space' is not a valid variable name")
                .contains("node 'calc' field 'set': '" + "x".repeat(64) + "' is not a valid variable name")
                .contains("node 'calc' field 'set.ok': cannot parse expression 'trigger.n >'")
                .contains("node 'calc' field 'set.empty': expression is empty");
        assertThat(problems("""
                {"type": "calculation", "id": "calc", "set": {"a": "1"}, "next": "nowhere"}"""))
                .contains("node 'calc' field 'next': no node 'nowhere'");
    }

    // delay ---------------------------------------------------------------------------------------

    @Test
    void aDelayWaitsEitherMsOrUntil() throws Exception {
        Node.Delay d = node("""
                {"type": "delay", "id": "wait", "ms": 0, "next": "done"}""", "wait", Node.Delay.class);
        assertThat(d.ms()).isZero();
        assertThat(d.until()).isNull();
        assertThat(node("""
                {"type": "delay", "id": "wait", "ms": 31622400000, "next": "done"}""", "wait", Node.Delay.class).ms()).isEqualTo(Node.Delay.MAX_MS);
        assertThat(node("""
                {"type": "delay", "id": "wait", "until": "trigger.dueAt", "next": "done"}""", "wait", Node.Delay.class).until())
                .isEqualTo("trigger.dueAt");
    }

    @Test
    void aDelayRefusesBothNeitherOutOfRangeAndBadExpressions() {
        assertThat(problems("""
                {"type": "delay", "id": "wait", "ms": 5, "until": "trigger.at", "next": "done"}"""))
                .contains("node 'wait' field 'ms' / 'until': give exactly one of them");
        assertThat(problems("""
                {"type": "delay", "id": "wait", "next": "done"}"""))
                .contains("node 'wait' field 'ms' / 'until': give exactly one of them");
        assertThat(problems("""
                {"type": "delay", "id": "wait", "ms": -1, "next": "done"}"""))
                .contains("node 'wait' field 'ms': must be between 0 and 31622400000, got -1");
        assertThat(problems("""
                {"type": "delay", "id": "wait", "ms": 31622400001, "next": "done"}"""))
                .contains("node 'wait' field 'ms': must be between 0 and 31622400000, got 31622400001");
        assertThat(problems("""
                {"type": "delay", "id": "wait", "until": "trigger.at +", "next": "done"}"""))
                .contains("node 'wait' field 'until': cannot parse expression 'trigger.at +'");
    }

    // http ----------------------------------------------------------------------------------------

    @Test
    void anHttpNodeHasDefaults() throws Exception {
        Node.Http h = node("""
                {"type": "http", "id": "call", "url": "https://api.example.com/orders/${trigger.id}", "next": "done"}""",
                "call", Node.Http.class);
        assertThat(h.method()).isEqualTo("GET");
        assertThat(h.headers()).isEmpty();
        assertThat(h.body()).isNull();
        assertThat(h.timeoutMs()).isEqualTo(10_000L);
        assertThat(h.onUnknownOutcome()).isEqualTo("fail");
        assertThat(h.maxResponseBytes()).isEqualTo(1_048_576L);
        assertThat(h.successors()).containsExactly("done");
    }

    @Test
    void anHttpBodyIsAnExpressionOrAJsonTemplate() throws Exception {
        Workflow wf = parse("""
                {"type": "http", "id": "a", "method": "POST", "url": "http://localhost:8080/x",
                 "headers": {"X-Tenant": "${trigger.tenant}", "Accept": "application/json"},
                 "body": "trigger.order", "timeoutMs": 600000, "onUnknownOutcome": "retry", "maxResponseBytes": 16777216,
                 "next": "b"},
                {"type": "http", "id": "b", "method": "PUT", "url": "https://x.test/${trigger.id}",
                 "body": {"id": "${trigger.id}", "lines": [{"sku": "${trigger.sku}", "qty": 2}], "gift": false, "note": null},
                 "next": "done"}""");
        Node.Http a = (Node.Http) wf.node("a").orElseThrow();
        assertThat(a.bodyIsExpression()).isTrue();
        assertThat(a.body().textValue()).isEqualTo("trigger.order");
        assertThat(a.headers()).containsOnlyKeys("X-Tenant", "Accept");
        assertThat(a.onUnknownOutcome()).isEqualTo("retry");
        Node.Http b = (Node.Http) wf.node("b").orElseThrow();
        assertThat(b.bodyIsExpression()).isFalse();
        assertThat(b.body().get("lines").get(0).get("qty").intValue()).isEqualTo(2);
        ((com.fasterxml.jackson.databind.node.ObjectNode) b.body()).put("id", "changed");
        assertThat(b.body().get("id").textValue()).as("the record's body is not changed through its accessor").isEqualTo("${trigger.id}");
        roundTrips(wf);
    }

    @Test
    void anHttpNodeRefusesTheEnginesIdempotencyKeyInAnyCase() {
        assertThat(problems("""
                {"type": "http", "id": "call", "url": "https://x.test", "headers": {"idempotency-KEY": "mine"}}"""))
                .contains("node 'call' field 'headers.idempotency-KEY': the engine sets Idempotency-Key");
        assertThat(problems("""
                {"type": "http", "id": "call", "url": "https://x.test", "headers": {"Idempotency-Key": "${event.key}"}}"""))
                .contains("node 'call' field 'headers.Idempotency-Key': the engine sets Idempotency-Key");
    }

    @Test
    void anHttpNodeRefusesBadFieldsNamingEach() {
        String msg = problems("""
                {"type": "http", "id": "call", "method": "TRACE", "url": "https://x.test/${trigger.id",
                 "headers": {"Bad Name": "x", "X-A": "${trigger.a >}", "X-B": "1", "x-b": "2", "X-C": null},
                 "body": 42, "timeoutMs": 0, "onUnknownOutcome": "ignore", "maxResponseBytes": 16777217, "next": "nowhere"}""");
        assertThat(msg).contains("node 'call' field 'method': must be one of GET, POST, PUT, PATCH, DELETE, HEAD, got 'TRACE'")
                .contains("node 'call' field 'url': template part '${trigger.id' is not closed")
                .contains("node 'call' field 'headers': 'Bad Name' is not a valid HTTP header name")
                .contains("node 'call' field 'headers.X-A': template part '${trigger.a >}': cannot parse expression 'trigger.a >'")
                .contains("node 'call' field 'headers.x-b': declared twice")
                .contains("node 'call' field 'headers.X-C': missing value")
                .contains("node 'call' field 'body': must be a string (an expression) or a JSON object or array")
                .contains("node 'call' field 'timeoutMs': must be between 1 and 600000, got 0")
                .contains("node 'call' field 'onUnknownOutcome': must be 'fail' or 'retry', got 'ignore'")
                .contains("node 'call' field 'maxResponseBytes': must be between 1 and 16777216, got 16777217")
                .contains("node 'call' field 'next': no node 'nowhere'");
        assertThat(problems("""
                {"type": "http", "id": "call", "method": "get", "url": "https://x.test"}"""))
                .as("methods are upper case, as on the wire").contains("got 'get'");
        assertThat(problems("""
                {"type": "http", "id": "call"}""")).contains("node 'call' field 'url': missing");
        assertThat(problems("""
                {"type": "http", "id": "call", "url": "https://x.test", "body": "trigger.x >"}"""))
                .contains("node 'call' field 'body': cannot parse expression 'trigger.x >'");
        assertThat(problems("""
                {"type": "http", "id": "call", "url": "https://x.test", "body": {"a": [{"b": "${}"}]}}"""))
                .contains("node 'call' field 'body.a[0].b': template part '${}' is empty");
    }

    @Test
    void aLiteralUrlMustBeHttpOrHttpsWithAHost() throws Exception {
        assertThat(problems("""
                {"type": "http", "id": "call", "url": "ftp://files.example.com/x"}"""))
                .contains("node 'call' field 'url': 'ftp://files.example.com/x': the scheme must be http or https, got 'ftp'");
        assertThat(problems("""
                {"type": "http", "id": "call", "url": "file:///etc/passwd"}""")).contains("got 'file'");
        assertThat(problems("""
                {"type": "http", "id": "call", "url": "/relative/path"}""")).contains("the scheme must be http or https, got none");
        assertThat(problems("""
                {"type": "http", "id": "call", "url": "https://"}""")).contains("node 'call' field 'url'");
        assertThat(problems("""
                {"type": "http", "id": "call", "url": "http://a b"}""")).contains("node 'call' field 'url': 'http://a b' is not a URL");
        // a template's scheme is known only when it runs: the engine checks it then
        assertThat(node("""
                {"type": "http", "id": "call", "url": "${trigger.url}", "next": "done"}""", "call", Node.Http.class).url()).isEqualTo("${trigger.url}");
        assertThat(node("""
                {"type": "http", "id": "call", "url": "HTTPS://x.test/path", "next": "done"}""", "call", Node.Http.class)).isNotNull();
        assertThat(problems("""
                {"type": "http", "id": "call", "url": "https://x.test/$${escaped}"}"""))
                .as("an escaped ${ leaves a literal, checked as such").contains("'https://x.test/${escaped}' is not a URL");
    }

    // parallel ------------------------------------------------------------------------------------

    @Test
    void aParallelNodeListsBranchesThenNextAsSuccessors() throws Exception {
        Workflow wf = parse("""
                {"type": "parallel", "id": "fan", "branches": ["a", "b"], "next": "done"},
                {"type": "sql", "id": "a", "sql": "SELECT 1"},
                {"type": "sql", "id": "b", "sql": "SELECT 2"}""");
        Node.Parallel p = (Node.Parallel) wf.node("fan").orElseThrow();
        assertThat(p.join()).isEqualTo("all");
        assertThat(p.successors()).containsExactly("a", "b", "done");
        roundTrips(wf);
    }

    @Test
    void aParallelNodeRefusesBadBranches() {
        assertThat(problems("""
                {"type": "parallel", "id": "fan", "branches": [], "next": "done"}"""))
                .contains("node 'fan' field 'branches': a parallel node needs at least one branch");
        assertThat(problems("""
                {"type": "parallel", "id": "fan", "next": "done"}"""))
                .contains("node 'fan' field 'branches': a parallel node needs at least one branch");
        String msg = problems("""
                {"type": "parallel", "id": "fan", "branches": ["a", "a", "ghost", "fan", "done", null], "join": "some", "next": "done"},
                {"type": "sql", "id": "a", "sql": "SELECT 1"}""");
        assertThat(msg).contains("node 'fan' field 'branches[1]': 'a' is listed twice")
                .contains("node 'fan' field 'branches[2]': no node 'ghost'")
                .contains("node 'fan' field 'branches[3]': 'fan' is the node itself")
                .contains("node 'fan' field 'branches[4]': 'done' is also the node's 'next', which runs after the join")
                .contains("node 'fan' field 'branches[5]': missing")
                .contains("node 'fan' field 'join': must be 'all' or 'any', got 'some'");
        StringBuilder many = new StringBuilder();
        StringBuilder ids = new StringBuilder();
        for (int i = 0; i < 65; i++) {
            ids.append(i == 0 ? "" : ", ").append("\"b").append(i).append('"');
            many.append(", {\"type\": \"end\", \"id\": \"b").append(i).append("\"}");
        }
        assertThat(problems("{\"type\": \"parallel\", \"id\": \"fan\", \"branches\": [" + ids + "]}" + many))
                .contains("node 'fan' field 'branches': at most 64 branches, got 65");
    }

    // loop ----------------------------------------------------------------------------------------

    @Test
    void aLoopRunsItsBodyThenNext() throws Exception {
        Workflow wf = parse("""
                {"type": "loop", "id": "each", "items": "trigger.lines", "do": "book", "next": "done"},
                {"type": "sql", "id": "book", "sql": "SELECT 1"}""");
        Node.Loop loop = (Node.Loop) wf.node("each").orElseThrow();
        assertThat(loop.doNode()).isEqualTo("book");
        assertThat(loop.maxItems()).isEqualTo(1000);
        assertThat(loop.successors()).containsExactly("book", "done");
        assertThat(Json.text(loop)).contains("\"do\":\"book\"").doesNotContain("doNode");
        roundTrips(wf);
    }

    @Test
    void aLoopRefusesBadFields() {
        String msg = problems("""
                {"type": "loop", "id": "each", "items": "trigger.lines[", "maxItems": 100001, "next": "done"}""");
        assertThat(msg).contains("node 'each' field 'items': cannot parse expression 'trigger.lines['")
                .contains("node 'each' field 'do': missing")
                .contains("node 'each' field 'maxItems': must be between 1 and 100000, got 100001");
        assertThat(problems("""
                {"type": "loop", "id": "each", "items": "trigger.lines", "do": "each", "maxItems": 0}"""))
                .contains("node 'each' field 'do': 'each' is the node itself")
                .contains("node 'each' field 'maxItems': must be between 1 and 100000, got 0");
        assertThat(problems("""
                {"type": "loop", "id": "each", "items": "trigger.lines", "do": "done", "next": "done"}"""))
                .contains("node 'each' field 'do': 'done' is also the node's 'next', which runs after the last iteration");
        assertThat(problems("""
                {"type": "loop", "id": "each", "items": "trigger.lines", "do": "ghost", "next": "done"}"""))
                .contains("node 'each' field 'do': no node 'ghost'");
    }

    // end -----------------------------------------------------------------------------------------

    @Test
    void anEndMessageIsATemplateAndPlainTextStillWorks() throws Exception {
        assertThat(node("""
                {"type": "condition", "id": "c", "if": "true", "then": "bye", "else": "done"},
                {"type": "end", "id": "bye", "status": "failed", "message": "order ${trigger.id} refused"}""", "bye", Node.End.class)
                .message()).isEqualTo("order ${trigger.id} refused");
        assertThat(node("""
                {"type": "condition", "id": "c", "if": "true", "then": "bye", "else": "done"},
                {"type": "end", "id": "bye", "message": "plain text: no parts"}""", "bye", Node.End.class).failed()).isFalse();
        assertThat(problems("""
                {"type": "end", "id": "bye", "status": "failed", "message": "order ${trigger.id >} refused"}"""))
                .contains("node 'bye' field 'message': template part '${trigger.id >}': cannot parse expression 'trigger.id >'");
    }

    // retry ---------------------------------------------------------------------------------------

    @Test
    void anyNodeMayCarryARetryPolicyWithDefaults() throws Exception {
        Workflow wf = parse("""
                {"type": "sql", "id": "a", "sql": "SELECT 1", "retry": {}, "next": "b"},
                {"type": "http", "id": "b", "url": "https://x.test", "retry": {"attempts": 5, "on": ["5xx", "40001", "08", "any"]},
                 "next": "c"},
                {"type": "condition", "id": "c", "if": "true", "then": "done", "retry": {"attempts": 1}}""");
        RetryPolicy a = wf.node("a").orElseThrow().retry();
        assertThat(a).isEqualTo(RetryPolicy.defaults());
        assertThat(a.attempts()).isEqualTo(3);
        assertThat(a.backoffMs()).isEqualTo(1000L);
        assertThat(a.maxBackoffMs()).isEqualTo(60_000L);
        assertThat(a.jitter()).isEqualTo(0.2);
        assertThat(a.on()).containsExactly("timeout", "connection", "5xx", "429");
        assertThat(wf.node("b").orElseThrow().retry().on()).containsExactly("5xx", "40001", "08", "any");
        assertThat(wf.node("c").orElseThrow().retry().attempts()).isEqualTo(1);
        assertThat(wf.node("done").orElseThrow().retry()).isNull();
        roundTrips(wf);
    }

    @Test
    void aRetryPolicyRefusesOutOfRangeValuesAndUnknownErrorClasses() {
        String msg = problems("""
                {"type": "sql", "id": "a", "sql": "SELECT 1", "next": "done",
                 "retry": {"attempts": 0, "backoffMs": -1, "maxBackoffMs": 31622400001, "jitter": 1.5,
                           "on": ["5xx", "5xx", "500", "4001", "40p01", "x", null]}}""");
        assertThat(msg).contains("node 'a' field 'retry.attempts': must be between 1 and 100, got 0")
                .contains("node 'a' field 'retry.backoffMs': must be between 0 and 31622400000, got -1")
                .contains("node 'a' field 'retry.maxBackoffMs': must be between 0 and 31622400000, got 31622400001")
                .contains("node 'a' field 'retry.jitter': must be between 0.0 and 1.0, got 1.5")
                .contains("node 'a' field 'retry.on': '5xx' is listed twice")
                .contains("node 'a' field 'retry.on[2]': unknown error class '500'")
                .contains("node 'a' field 'retry.on[3]': unknown error class '4001'")
                .contains("node 'a' field 'retry.on[4]': unknown error class '40p01'")
                .contains("node 'a' field 'retry.on[5]': unknown error class 'x'")
                .contains("node 'a' field 'retry.on[6]': missing");
        assertThat(problems("""
                {"type": "end", "id": "e", "retry": {"attempts": 101, "backoffMs": 120000, "on": []}}"""))
                .contains("node 'e' field 'retry.attempts': must be between 1 and 100, got 101")
                .contains("node 'e' field 'retry.maxBackoffMs': must be at least 'retry.backoffMs' (120000), got 60000 (the default)")
                .contains("node 'e' field 'retry.on': names no error class");
        assertThat(problems("""
                {"type": "end", "id": "e", "retry": {"tries": 3}}""")).contains("tries");
    }

    @Test
    void everyNodeTypeHasATypeName() {
        assertThat(List.of(Node.class.getPermittedSubclasses())).hasSize(8);
        for (String type : List.of("sql", "condition", "calculation", "delay", "http", "parallel", "loop", "end")) {
            assertThat(problems("{\"type\": \"" + type + "\", \"id\": \"x\", \"unknownField\": 1}"))
                    .as(type).contains("unknownField").doesNotContain("Could not resolve type id");
        }
    }
}
