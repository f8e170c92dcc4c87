package dev.onceflow.common.workflow;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.onceflow.common.Json;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class TemplatesTest {

    private static final Map<String, Object> VARS = vars();

    private static Map<String, Object> vars() {
        Map<String, Object> trigger = new HashMap<>();
        trigger.put("id", "ord-42");
        trigger.put("n", 3);
        trigger.put("none", null);
        trigger.put("lines", List.of("a", "b"));
        return Map.of("trigger", trigger, "event", Map.of("key", "orders@1#ord-42"), "vars", Map.of("total", 12.5));
    }

    @Test
    void rendersLiteralTextAndExpressionParts() {
        assertThat(Templates.render("https://api.test/orders/${trigger.id}?n=${trigger.n + 1}", VARS))
                .isEqualTo("https://api.test/orders/ord-42?n=4");
        assertThat(Templates.render("${trigger.id}${vars.total}", VARS)).isEqualTo("ord-4212.5");
        assertThat(Templates.render("total: ${vars.total > 10 ? 'big' : 'small'}", VARS)).isEqualTo("total: big");
        assertThat(Templates.render("lines ${trigger.lines.size()}: ${trigger.lines}", VARS)).isEqualTo("lines 2: [a, b]");
    }

    @Test
    void plainTextRendersAsItIs() {
        assertThat(Templates.render("order refused", VARS)).isEqualTo("order refused");
        assertThat(Templates.render("", VARS)).isEmpty();
        assertThat(Templates.render("costs $5 {not a part} $ {nor this} }", VARS)).isEqualTo("costs $5 {not a part} $ {nor this} }");
        assertThat(Templates.isLiteral("https://x.test/a?b={c}")).isTrue();
        assertThat(Templates.isLiteral("https://x.test/$${c}")).isTrue();
        assertThat(Templates.isLiteral("https://x.test/${c}")).isFalse();
    }

    @Test
    void nullRendersAsNothing() {
        assertThat(Templates.render("[${trigger.none}]", VARS)).isEqualTo("[]");
    }

    @Test
    void doubleDollarEscapesALiteralPart() {
        assertThat(Templates.render("$${trigger.id} is ${trigger.id}", VARS)).isEqualTo("${trigger.id} is ord-42");
        assertThat(Templates.render("$${", VARS)).isEqualTo("${");
        assertThat(Templates.render("a$$b", VARS)).as("$$ not before { is text").isEqualTo("a$$b");
        Templates.check("$${never evaluated >");
    }

    @Test
    void bracesInsideAnExpressionBalanceAndStringLiteralsDoNotCount() {
        assertThat(Templates.render("${{'k': trigger.id}.k}", VARS)).isEqualTo("ord-42");
        assertThat(Templates.render("${trigger.id + '}'}!", VARS)).isEqualTo("ord-42}!");
        assertThat(Templates.render("${\"{\" + trigger.n}", VARS)).isEqualTo("{3");
    }

    @Test
    void checkNamesTheBadPart() {
        assertThatThrownBy(() -> Templates.check("id=${trigger.id} n=${trigger.n >}")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("template part '${trigger.n >}': cannot parse expression 'trigger.n >'");
        assertThatThrownBy(() -> Templates.check("id=${trigger.id")).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("template part '${trigger.id' is not closed with '}' (write $${ for a literal ${)");
        assertThatThrownBy(() -> Templates.check("a ${ } b")).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("template part '${ }' is empty");
        assertThatThrownBy(() -> Templates.check("${while (true) {}}")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("template part '${while (true) {}}'").hasMessageContaining("cannot parse expression");
        assertThatThrownBy(() -> Templates.check("${`${x}`}")).hasMessageContaining("template strings");
        assertThatThrownBy(() -> Templates.check(null)).hasMessage("template is missing");
        Templates.check("plain");
        Templates.check("${trigger.id} and ${vars.total * 2}");
    }

    @Test
    void renderNamesThePartThatFails() {
        assertThatThrownBy(() -> Templates.render("x ${trigger.nosuch.field} y", VARS)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("template part '${trigger.nosuch.field}': expression 'trigger.nosuch.field' failed");
        assertThatThrownBy(() -> Templates.render("${trigger.id.getClass()}", VARS)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("template part '${trigger.id.getClass()}'");
        assertThatThrownBy(() -> Templates.render("${trigger.id", VARS)).hasMessageContaining("is not closed");
    }

    @Test
    void aLongBadPartIsAbbreviatedInTheMessage() {
        String longExpression = "trigger.n + ".repeat(100) + ")";
        assertThatThrownBy(() -> Templates.check("${" + longExpression + "}")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("template part '${trigger.n + trigger.n").hasMessageContaining("…'");
    }

    @Test
    void rendersEveryStringOfAJsonTemplateAndLeavesTheRestAsItIs() {
        JsonNode template = Json.tree("""
                {"id": "${trigger.id}", "${key}": "literal", "lines": ["${trigger.lines.get(0)}", 7, {"n": "${trigger.n}"}],
                 "gift": false, "note": null, "escaped": "$${trigger.id}"}""");
        String before = template.toString();
        JsonNode rendered = Templates.renderJson(template, VARS);
        assertThat(rendered).isEqualTo(Json.tree("""
                {"id": "ord-42", "${key}": "literal", "lines": ["a", 7, {"n": "3"}], "gift": false, "note": null,
                 "escaped": "${trigger.id}"}"""));
        assertThat(template.toString()).as("the template is not changed").isEqualTo(before);
        assertThat(Templates.renderJson(Json.tree("\"${trigger.n * 2}\""), VARS)).isEqualTo(Json.tree("\"6\""));
        assertThat(Templates.renderJson(Json.tree("[]"), VARS)).isEqualTo(Json.tree("[]"));
        assertThat(Templates.renderJson(null, VARS)).isNull();
    }

    @Test
    void aJsonTemplateFailsNamingThePart() {
        assertThatThrownBy(() -> Templates.renderJson(Json.tree("{\"a\": [\"${trigger.missing.x}\"]}"), VARS))
                .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("template part '${trigger.missing.x}'");
    }
}
