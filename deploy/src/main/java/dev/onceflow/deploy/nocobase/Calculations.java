package dev.onceflow.deploy.nocobase;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;

/**
 * NocoBase's calculations as Onceflow expressions: the {@code math.js} and {@code formula.js}
 * engines' common subset (numbers, strings, variables, {@code + - * / %}, comparisons, {@code and
 * or not} / {@code && || !}, {@code ? :}, parentheses), and the {@code basic} engine's calculator
 * groups ({@code {"group": {"type": "and", "calculations": [{"calculator": "gt", "operands": [a, b]}]}}}).
 * Anything else — functions ({@code round}, {@code SUM}), {@code ^}, units, matrices — makes the
 * workflow not importable, naming the exact expression. Stateless.
 */
final class Calculations {

    /** The basic engine's calculators, as JEXL; {@code %1$s} and {@code %2$s} are the operands. */
    static final Map<String, String> CALCULATORS = Map.ofEntries(
            Map.entry("equal", "(%1$s == %2$s)"), Map.entry("==", "(%1$s == %2$s)"),
            Map.entry("notEqual", "(%1$s != %2$s)"), Map.entry("!=", "(%1$s != %2$s)"),
            Map.entry("gt", "(%1$s > %2$s)"), Map.entry(">", "(%1$s > %2$s)"),
            Map.entry("gte", "(%1$s >= %2$s)"), Map.entry(">=", "(%1$s >= %2$s)"),
            Map.entry("lt", "(%1$s < %2$s)"), Map.entry("<", "(%1$s < %2$s)"),
            Map.entry("lte", "(%1$s <= %2$s)"), Map.entry("<=", "(%1$s <= %2$s)"),
            Map.entry("includes", "(%1$s).contains(%2$s)"), Map.entry("notIncludes", "!(%1$s).contains(%2$s)"),
            Map.entry("startsWith", "(%1$s).toString().startsWith((%2$s).toString())"),
            Map.entry("notStartsWith", "!(%1$s).toString().startsWith((%2$s).toString())"),
            Map.entry("endsWith", "(%1$s).toString().endsWith((%2$s).toString())"),
            Map.entry("notEndsWith", "!(%1$s).toString().endsWith((%2$s).toString())"));

    private Calculations() {
    }

    /** A condition's or loop's {@code calculation} (basic engine) as a boolean expression. */
    static String basic(JsonNode calculation, Variables vars) {
        if (calculation == null || calculation.isNull() || calculation.isMissingNode()) {
            return "true";
        }
        JsonNode group = calculation.get("group");
        if (group != null && group.isObject()) {
            String type = group.path("type").asText("and");
            if (!type.equals("and") && !type.equals("or")) {
                throw new NotImportable(vars.where() + ": calculation group type '" + type + "' (expected and, or)");
            }
            List<String> parts = new ArrayList<>();
            for (JsonNode c : group.path("calculations")) {
                parts.add(basic(c, vars));
            }
            if (parts.isEmpty()) {
                return type.equals("and") ? "true" : "false"; // [].every → true, [].some → false
            }
            return "(" + String.join(type.equals("and") ? " && " : " || ", parts) + ")";
        }
        String calculator = calculation.path("calculator").asText("");
        JsonNode operands = calculation.path("operands");
        if (calculator.isEmpty() || !operands.isArray() || operands.isEmpty()) {
            return "true"; // NocoBase: a calculation without calculator or operands is true
        }
        String pattern = CALCULATORS.get(calculator);
        if (pattern == null) {
            throw new NotImportable(vars.where() + ": calculator '" + calculator + "' (Onceflow translates " + CALCULATORS.keySet() + ")");
        }
        return String.format(pattern, vars.expression(operands.get(0)), vars.expression(operands.get(1)));
    }

    /**
     * A {@code math.js} or {@code formula.js} expression as JEXL. Division is written
     * {@code * 1.0 /} so that {@code 7 / 2} is 3.5 as in JavaScript (JEXL divides integers as integers).
     */
    static String expression(String engine, String expression, Variables vars) {
        if (engine != null && !engine.equals("math.js") && !engine.equals("formula.js")) {
            throw new NotImportable(vars.where() + ": engine '" + engine + "' (Onceflow translates math.js and formula.js expressions)");
        }
        if (expression == null || expression.isBlank()) {
            throw new NotImportable(vars.where() + ": empty expression");
        }
        StringBuilder out = new StringBuilder();
        Matcher m = Variables.VARIABLE.matcher(expression);
        int at = 0;
        while (m.find()) {
            out.append(plain(expression.substring(at, m.start()), expression, vars));
            out.append('(').append(vars.path(m.group(1))).append(')');
            at = m.end();
        }
        out.append(plain(expression.substring(at), expression, vars));
        return out.toString().trim();
    }

    /** The text between variables, token by token; anything outside the common subset is refused. */
    private static String plain(String text, String whole, Variables vars) {
        StringBuilder b = new StringBuilder();
        int i = 0;
        while (i < text.length()) {
            char c = text.charAt(i);
            if (Character.isWhitespace(c)) {
                b.append(c);
                i++;
            } else if (Character.isDigit(c) || (c == '.' && i + 1 < text.length() && Character.isDigit(text.charAt(i + 1)))) {
                int j = i;
                while (j < text.length() && (Character.isDigit(text.charAt(j)) || text.charAt(j) == '.')) {
                    j++;
                }
                if (j < text.length() && (Character.isLetter(text.charAt(j)))) {
                    throw refuse(whole, "'" + text.substring(i, Math.min(text.length(), j + 1)) + "…' (units and exponents)", vars);
                }
                b.append(text, i, j);
                i = j;
            } else if (c == '\'' || c == '"') {
                int j = i + 1;
                StringBuilder s = new StringBuilder();
                while (j < text.length() && text.charAt(j) != c) {
                    if (text.charAt(j) == '\\' && j + 1 < text.length()) {
                        j++;
                    }
                    s.append(text.charAt(j));
                    j++;
                }
                if (j >= text.length()) {
                    throw refuse(whole, "an unterminated string", vars);
                }
                b.append(Variables.literal(s.toString()));
                i = j + 1;
            } else if (Character.isLetter(c) || c == '_' || c == '$') {
                int j = i;
                while (j < text.length() && (Character.isLetterOrDigit(text.charAt(j)) || text.charAt(j) == '_' || text.charAt(j) == '$')) {
                    j++;
                }
                String word = text.substring(i, j);
                switch (word) {
                    case "and" -> b.append("&&");
                    case "or" -> b.append("||");
                    case "not" -> b.append("!");
                    case "true", "false", "null" -> b.append(word);
                    default -> throw refuse(whole, "'" + word + "'" + (j < text.length() && text.substring(j).trim().startsWith("(")
                            ? " (a function)" : " (a name that is not a variable)"), vars);
                }
                i = j;
            } else {
                String three = text.length() >= i + 3 ? text.substring(i, i + 3) : "";
                String two = text.length() >= i + 2 ? text.substring(i, i + 2) : "";
                if (three.equals("===") || three.equals("!==")) {
                    b.append(three, 0, 2);
                    i += 3;
                } else if (List.of("==", "!=", "<=", ">=", "&&", "||").contains(two)) {
                    b.append(two);
                    i += 2;
                } else if (c == '/') {
                    b.append("* 1.0 /");
                    i++;
                } else if ("+-*%()<>!?:".indexOf(c) >= 0) {
                    b.append(c);
                    i++;
                } else {
                    throw refuse(whole, "'" + c + "'" + (c == '^' ? " (power)" : ""), vars);
                }
            }
        }
        return b.toString();
    }

    private static NotImportable refuse(String whole, String what, Variables vars) {
        return new NotImportable(vars.where() + ": expression \"" + whole + "\" is outside the translated subset: " + what);
    }
}
