package dev.onceflow.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.onceflow.common.workflow.Node;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.common.workflow.Workflows;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Run-time expression errors name the node's field, in the author's words (no connection needed: no sql node). */
class NodeRunnerTest {

    private static Node node(String json) throws Exception {
        Workflow wf = Workflows.parse("w.json", ("{\"id\":\"w\",\"trigger\":{\"type\":\"kafka\"},\"start\":\"n\",\"nodes\":[" + json
                + ",{\"type\":\"end\",\"id\":\"done\"}]}").getBytes(StandardCharsets.UTF_8));
        return wf.node("n").orElseThrow();
    }

    private static String error(String json) throws Exception {
        NodeResult result = new NodeRunner(5_000).run(node(json), Map.of("trigger", Map.of(), "vars", Map.of()), null);
        assertThat(result).isInstanceOf(NodeResult.Failed.class);
        return ((NodeResult.Failed) result).error();
    }

    @Test
    void aConditionThatFailsAtRunTimeNamesItsIfField() throws Exception {
        assertThat(error("{\"type\":\"condition\",\"id\":\"n\",\"if\":\"nosuch + 1 > 2\",\"then\":\"done\",\"else\":\"done\"}"))
                .startsWith("field 'if': ").contains("nosuch").doesNotContain("Expressions.", "JEXL");
    }

    @Test
    void aLoopThatFailsAtRunTimeNamesItsItemsField() throws Exception {
        assertThat(error("{\"type\":\"loop\",\"id\":\"n\",\"items\":\"nosuch.lines\",\"do\":\"b\",\"next\":\"done\"},"
                + "{\"type\":\"calculation\",\"id\":\"b\",\"set\":{\"x\":\"1\"}}"))
                .startsWith("field 'items': ").contains("nosuch");
    }

    @Test
    void aDelayThatFailsAtRunTimeNamesItsUntilField() throws Exception {
        assertThat(error("{\"type\":\"delay\",\"id\":\"n\",\"until\":\"nosuch.at\",\"next\":\"done\"}"))
                .startsWith("field 'until': ").contains("nosuch");
    }
}
