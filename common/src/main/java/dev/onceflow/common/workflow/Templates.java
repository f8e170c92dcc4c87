package dev.onceflow.common.workflow;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * String templates: literal text with {@code ${expression}} parts, each an expression of
 * {@link Expressions} (same variables, same limits) whose value is written with
 * {@link String#valueOf} (null writes nothing). <code>$${</code> writes a literal <code>${</code>.
 * Used by an {@code http} node's {@code url}, {@code headers} and JSON {@code body}, and an
 * {@code end} node's {@code message}; a string without <code>${</code> is plain text, as before. An
 * expression part ends at the brace that closes it: braces inside it must balance, and braces
 * inside its '…' or "…" string literals do not count. Stateless, hence thread-safe.
 */
public final class Templates {

    private Templates() {
    }

    /** One piece of a parsed template: literal text, or the source of an expression. */
    private record Part(String text, boolean expression) {
    }

    /**
     * Checks a template at deploy: every {@code ${...}} part is closed and its expression parses.
     *
     * @throws IllegalArgumentException naming the bad {@code ${...}} part and the reason
     */
    public static void check(String template) {
        for (Part part : parse(template)) {
            if (part.expression()) {
                try {
                    Expressions.compile(part.text());
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException(describe(part.text()) + ": " + e.getMessage(), e);
                }
            }
        }
    }

    /**
     * Renders a template over the variables expressions see ({@code trigger}, {@code event},
     * {@code vars}, {@code nodes}).
     *
     * @throws IllegalArgumentException naming the {@code ${...}} part that does not parse or fails to evaluate
     */
    public static String render(String template, Map<String, Object> variables) {
        StringBuilder out = new StringBuilder(template == null ? 0 : template.length());
        for (Part part : parse(template)) {
            if (!part.expression()) {
                out.append(part.text());
                continue;
            }
            Object value;
            try {
                value = Expressions.evaluate(part.text(), variables);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(describe(part.text()) + ": " + e.getMessage(), e);
            }
            if (value != null) {
                out.append(value);
            }
            if (out.length() > Expressions.MAX_STRING_LENGTH) {
                throw new IllegalArgumentException("template would render " + out.length() + " characters, more than the limit of "
                        + Expressions.MAX_STRING_LENGTH);
            }
        }
        return out.toString();
    }

    /**
     * Renders a JSON template: a copy of {@code template} in which every string value is rendered
     * with {@link #render} (object keys, numbers, booleans and nulls are kept as they are, and a
     * rendered value is always a string). The template itself is not changed.
     */
    public static JsonNode renderJson(JsonNode template, Map<String, Object> variables) {
        if (template == null) {
            return null;
        }
        if (template.isTextual()) {
            return TextNode.valueOf(render(template.textValue(), variables));
        }
        if (template.isObject()) {
            ObjectNode out = JsonNodeFactory.instance.objectNode();
            for (Iterator<Map.Entry<String, JsonNode>> fields = template.fields(); fields.hasNext(); ) {
                Map.Entry<String, JsonNode> field = fields.next();
                out.set(field.getKey(), renderJson(field.getValue(), variables));
            }
            return out;
        }
        if (template.isArray()) {
            ArrayNode out = JsonNodeFactory.instance.arrayNode(template.size());
            for (JsonNode element : template) {
                out.add(renderJson(element, variables));
            }
            return out;
        }
        return template; // numbers, booleans, null: immutable values
    }

    /** Whether a template has no {@code ${...}} part: it renders to the same text whatever the variables. */
    static boolean isLiteral(String template) {
        return parse(template).stream().noneMatch(Part::expression);
    }

    /** Splits a template into literal text and expression sources, in order. */
    private static List<Part> parse(String template) {
        if (template == null) {
            throw new IllegalArgumentException("template is missing");
        }
        List<Part> parts = new ArrayList<>();
        StringBuilder literal = new StringBuilder();
        int i = 0;
        while (i < template.length()) {
            if (template.startsWith("$${", i)) {
                literal.append("${");
                i += 3;
            } else if (template.startsWith("${", i)) {
                int close = closingBrace(template, i + 2);
                if (close < 0) {
                    throw new IllegalArgumentException("template part '" + abbreviate(template.substring(i))
                            + "' is not closed with '}' (write $${ for a literal ${)");
                }
                String expression = template.substring(i + 2, close);
                if (expression.isBlank()) {
                    throw new IllegalArgumentException("template part '${" + expression + "}' is empty");
                }
                if (literal.length() > 0) {
                    parts.add(new Part(literal.toString(), false));
                    literal.setLength(0);
                }
                parts.add(new Part(expression, true));
                i = close + 1;
            } else {
                literal.append(template.charAt(i));
                i++;
            }
        }
        if (literal.length() > 0) {
            parts.add(new Part(literal.toString(), false));
        }
        return parts;
    }

    /** The index of the '}' that closes an expression starting at {@code from}, or -1. */
    private static int closingBrace(String template, int from) {
        int depth = 0;
        char quote = 0;
        for (int i = from; i < template.length(); i++) {
            char c = template.charAt(i);
            if (quote != 0) {
                if (c == '\\') {
                    i++;
                } else if (c == quote) {
                    quote = 0;
                }
            } else if (c == '\'' || c == '"') {
                quote = c;
            } else if (c == '{') {
                depth++;
            } else if (c == '}') {
                if (depth == 0) {
                    return i;
                }
                depth--;
            }
        }
        return -1;
    }

    private static String describe(String expression) {
        return "template part '" + abbreviate("${" + expression + "}") + "'";
    }

    private static String abbreviate(String text) {
        return text.length() <= 200 ? text : text.substring(0, 200) + "…";
    }
}
