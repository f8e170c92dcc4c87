package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.onceflow.common.Json;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import java.util.function.BiConsumer;
import org.junit.jupiter.api.Test;

/** How the CLI prints executions: whole keys, runs in the API's order, outputs cut, errors shown, statuses as the API says. */
class ExecutionViewTest {

    private static final String KEY = "demo-orders@1700000000000#order-with-a-rather-long-identifier-0042";

    private static List<String> lines(BiConsumer<com.fasterxml.jackson.databind.JsonNode, PrintWriter> print, String json) {
        StringWriter s = new StringWriter();
        print.accept(Json.tree(json), new PrintWriter(s, true));
        return s.toString().lines().toList();
    }

    @Test
    void theListPrintsWholeEventKeysLastOnTheLineAndTheErrorBelow() {
        List<String> out = lines(ExecutionView::printList, """
                {"items": [
                  {"id": 2, "eventKey": "%s", "workflow": "demo-orders", "version": 3, "status": "failed",
                   "createdAt": "2026-12-06T20:17:02.821Z", "finishedAt": "2026-12-06T20:17:03.100Z",
                   "error": "node 'write' failed:\\nrelation \\"x\\" does not exist"},
                  {"id": 1, "eventKey": "demo-heartbeat@1765052220000", "workflow": "demo-heartbeat", "version": 1, "status": "waiting",
                   "createdAt": "2026-12-06T20:17:00Z"}
                ], "nextCursor": 1}""".formatted(KEY));

        assertThat(out.get(0)).startsWith("STATUS").endsWith("EVENT KEY");
        assertThat(out.get(1)).startsWith("failed").contains("2026-12-06 20:17:02").contains("279 ms").contains("demo-orders v3")
                .endsWith(KEY).doesNotContain("…");
        assertThat(out.get(2)).isEqualTo("  error: node 'write' failed: relation \"x\" does not exist");
        assertThat(out.get(3)).startsWith("waiting").endsWith("demo-heartbeat@1765052220000").contains(" - ");
        assertThat(out.get(1).indexOf(KEY)).as("the key column lines up").isEqualTo(out.get(3).indexOf("demo-heartbeat@"));
        assertThat(out.get(4)).isEqualTo("(more: --cursor 1)");
        assertThat(lines(ExecutionView::printList, "{\"items\": []}")).containsExactly("no executions match");
    }

    @Test
    void showPrintsTheRunsInTheOrderGivenWithOutputsCutAndTheFailedRunsError() {
        String longOutput = "{\"rows\": [" + "1, ".repeat(40) + "2]}";
        List<String> out = lines(ExecutionView::printExecution, """
                {"eventKey": "%s", "workflow": "demo-orders", "version": 3, "status": "cancelled",
                 "createdAt": "2026-12-06T20:17:02.821Z", "finishedAt": "2026-12-06T20:17:12.821Z", "error": "cancelled through the admin API",
                 "trigger": {"amount": 150},
                 "nodes": [
                   {"node": "zeta", "path": "", "attempt": 1, "status": "succeeded", "startedAt": "2026-12-06T20:17:02.821Z",
                    "finishedAt": "2026-12-06T20:17:02.830Z", "output": %s},
                   {"node": "alpha", "path": "", "attempt": 1, "status": "failed", "startedAt": "2026-12-06T20:17:02.900Z",
                    "finishedAt": "2026-12-06T20:17:02.950Z", "error": "connection refused to localhost:9"},
                   {"node": "alpha", "path": "", "attempt": 2, "status": "succeeded", "startedAt": "2026-12-06T20:17:03.900Z",
                    "finishedAt": "2026-12-06T20:17:04.000Z", "output": {"ok": true}},
                   {"node": "wait", "path": "", "attempt": 1, "status": "cancelled", "startedAt": "2026-12-06T20:17:04.000Z"}
                 ]}""".formatted(KEY, longOutput));

        assertThat(out).contains("execution  " + KEY, "workflow   demo-orders v3", "status     cancelled",
                "error      cancelled through the admin API", "trigger    {\"amount\":150}");
        assertThat(out).anyMatch(l -> l.startsWith("finished   2026-12-06 20:17:12.821 UTC (took 10.0 s)"));
        int header = out.indexOf(out.stream().filter(l -> l.startsWith("NODE")).findFirst().orElseThrow());
        List<String> runs = out.subList(header + 1, out.size());
        assertThat(runs).extracting(l -> l.split("\\s+")[0] + "#" + l.split("\\s+")[1] + ":" + l.split("\\s+")[2])
                .as("the order the API gave (the order they ran), not the alphabet")
                .containsExactly("zeta#1:succeeded", "alpha#1:failed", "alpha#2:succeeded", "wait#1:cancelled");
        assertThat(out.get(header)).doesNotContain("PATH").endsWith("OUTPUT / ERROR");
        String cut = runs.get(0).substring(out.get(header).indexOf("OUTPUT"));
        assertThat(cut).hasSize(ExecutionView.OUTPUT_WIDTH).startsWith("{\"rows\":[1,1,").endsWith("…");
        assertThat(runs.get(1)).endsWith("error: connection refused to localhost:9").contains("50 ms");
        assertThat(runs.get(2)).endsWith("{\"ok\":true}");
        assertThat(runs.get(3)).as("unfinished: no duration, no output").endsWith("20:17:04.000  -");
    }

    @Test
    void aPathColumnAppearsWhenARunIsOnABranchAndAnExecutionWithoutRunsSaysSo() {
        List<String> branched = lines(ExecutionView::printExecution, """
                {"eventKey": "k", "workflow": "w", "version": 1, "status": "running", "createdAt": "2026-12-06T20:17:02Z",
                 "nodes": [{"node": "body", "path": "0", "attempt": 1, "status": "running", "startedAt": "2026-12-06T20:17:02Z"}]}""");
        assertThat(branched).anyMatch(l -> l.startsWith("NODE") && l.contains("PATH"));
        assertThat(branched).noneMatch(l -> l.startsWith("finished"));
        assertThat(lines(ExecutionView::printExecution, """
                {"eventKey": "k", "workflow": "w", "version": 1, "status": "running", "createdAt": "2026-12-06T20:17:02Z", "nodes": []}"""))
                .contains("no node ran yet");
    }
}
