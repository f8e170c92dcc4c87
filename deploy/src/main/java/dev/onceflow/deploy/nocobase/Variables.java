package dev.onceflow.deploy.nocobase;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * NocoBase's variables ({@code {{$context.data.title}}}, {@code {{$jobsMapByNodeKey.k.y}}},
 * {@code {{$scopes.<loopKey>.item}}}) as Onceflow expressions ({@code trigger.row.title},
 * {@code nodes.k.output.rows[0].y}, {@code loop.item}), and values that mix them with text as
 * expressions or templates. A variable without an Onceflow counterpart makes the workflow not
 * importable ({@link NotImportable}, naming the variable). Immutable; one per node being translated.
 *
 * @param context   the first segment after {@code $context} → its Onceflow root, per trigger
 *                  ({@code data} → {@code trigger.row} for a collection trigger)
 * @param jobs      node key → how its result reads in Onceflow
 * @param loops     the keys of the loops enclosing the node, innermost last
 * @param where     how messages name the node and field
 */
record Variables(Map<String, String> context, Map<String, JobRef> jobs, List<String> loops, String where) {

    /**
     * How a node's result ({@code $jobsMapByNodeKey.<key>}) reads in Onceflow: {@code root}, then
     * the rest of the path, whose first segment is renamed by {@code rename} (request {@code data}
     * → {@code body}); {@code root} null: the result has no counterpart ({@code why}).
     */
    record JobRef(String root, Map<String, String> rename, String why) {
        static JobRef of(String root) {
            return new JobRef(root, Map.of(), null);
        }

        static JobRef none(String why) {
            return new JobRef(null, Map.of(), why);
        }
    }

    static final Pattern VARIABLE = Pattern.compile("\\{\\{\\s*([^{}]*?)\\s*}}");
    private static final Pattern IDENTIFIER = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");
    private static final Pattern INDEX = Pattern.compile("\\d+");

    Variables in(String field) {
        return new Variables(context, jobs, loops, where + " field '" + field + "'");
    }

    /** The Onceflow expression of one variable path ({@code $context.data.x}, without braces). */
    String path(String variable) {
        String v = variable.startsWith("ctx.") ? variable.substring(4) : variable; // NocoBase 2.0 spells the scopes ctx.$context…
        String[] s = v.split("\\.");
        switch (s[0]) {
            case "$context": {
                String root = s.length > 1 ? context.get(s[1]) : null;
                if (root == null) {
                    throw untranslatable(variable, "this trigger's context has " + context.keySet());
                }
                return root + rest(s, 2, Map.of());
            }
            case "$jobsMapByNodeKey": {
                JobRef ref = s.length > 1 ? jobs.get(s[1]) : null;
                if (ref == null) {
                    throw untranslatable(variable, "no node with that key");
                }
                if (ref.root() == null) {
                    throw untranslatable(variable, ref.why());
                }
                if (s[s.length - 1].equals("length") && s.length > 2) {
                    // JavaScript's array length: JEXL's size()
                    return "size(" + ref.root() + rest(java.util.Arrays.copyOf(s, s.length - 1), 2, ref.rename()) + ")";
                }
                return ref.root() + rest(s, 2, ref.rename());
            }
            case "$scopes": {
                if (s.length < 3) {
                    throw untranslatable(variable, "a loop scope needs a field (item, index, sequence, length)");
                }
                if (loops.isEmpty() || !loops.get(loops.size() - 1).equals(s[1])) {
                    throw untranslatable(variable, loops.contains(s[1])
                            ? "an outer loop's scope: Onceflow's loop.item is the innermost loop's" : "not inside that loop");
                }
                String base = switch (s[2]) {
                    case "item" -> "loop.item";
                    case "index" -> "loop.index";
                    case "sequence" -> "(loop.index + 1)";
                    case "length" -> "size(nodes['" + s[1] + "'].output.items)";
                    default -> throw untranslatable(variable, "a loop scope has item, index, sequence and length");
                };
                return base + rest(s, 3, Map.of());
            }
            default:
                throw untranslatable(variable, "Onceflow has no counterpart of " + s[0] + " ($system and $env are not carried over)");
        }
    }

    private NotImportable untranslatable(String variable, String why) {
        return new NotImportable(where + ": variable {{" + variable + "}} has no Onceflow counterpart: " + why);
    }

    /** Segments from {@code from} on as a JEXL path: {@code .name}, {@code [0]}, or {@code ['odd-name']}. */
    private static String rest(String[] s, int from, Map<String, String> rename) {
        StringBuilder b = new StringBuilder();
        for (int i = from; i < s.length; i++) {
            String seg = i == from ? rename.getOrDefault(s[i], s[i]) : s[i];
            if (INDEX.matcher(seg).matches()) {
                b.append('[').append(seg).append(']');
            } else if (IDENTIFIER.matcher(seg).matches() && !JEXL_WORDS.contains(seg)) {
                b.append('.').append(seg);
            } else {
                b.append("['").append(escape(seg)).append("']");
            }
        }
        return b.toString();
    }

    /** JEXL's reserved words, which cannot follow a dot. */
    private static final java.util.Set<String> JEXL_WORDS = java.util.Set.of("or", "and", "eq", "ne", "lt", "gt", "le", "ge", "div",
            "mod", "not", "null", "true", "false", "new", "var", "do", "while", "break", "continue", "function", "return", "if",
            "else", "for", "size", "empty", "in", "matches");

    /**
     * A NocoBase value as an expression: a string that is one variable is that variable's
     * expression (its type kept); other strings are text with variables concatenated in;
     * numbers, booleans, null, objects and arrays are literals.
     */
    String expression(com.fasterxml.jackson.databind.JsonNode value) {
        if (value == null || value.isNull() || value.isMissingNode()) {
            return "null";
        }
        if (value.isTextual()) {
            return expression(value.asText());
        }
        if (value.isNumber() || value.isBoolean()) {
            return value.asText();
        }
        if (value.isArray()) {
            List<String> items = new ArrayList<>();
            value.forEach(v -> items.add(expression(v)));
            return "[" + String.join(", ", items) + "]";
        }
        List<String> entries = new ArrayList<>();
        value.fields().forEachRemaining(e -> entries.add("'" + escape(e.getKey()) + "': " + expression(e.getValue())));
        return entries.isEmpty() ? "{:}" : "{" + String.join(", ", entries) + "}";
    }

    /** A NocoBase string as an expression (see {@link #expression(com.fasterxml.jackson.databind.JsonNode)}). */
    String expression(String text) {
        Matcher m = VARIABLE.matcher(text);
        if (m.matches()) {
            return path(m.group(1));
        }
        List<String> parts = new ArrayList<>();
        int at = 0;
        m.reset();
        while (m.find()) {
            if (m.start() > at) {
                parts.add(literal(text.substring(at, m.start())));
            }
            parts.add("(" + path(m.group(1)) + ")");
            at = m.end();
        }
        if (at < text.length() || parts.isEmpty()) {
            parts.add(literal(text.substring(at)));
        }
        // a leading literal makes every + a concatenation, as NocoBase's text rendering is
        if (!parts.get(0).startsWith("'")) {
            parts.add(0, "''");
        }
        return String.join(" + ", parts);
    }

    /** A NocoBase string as an Onceflow template ({@code ${expression}} parts). */
    String template(String text) {
        Matcher m = VARIABLE.matcher(text);
        StringBuilder b = new StringBuilder();
        int at = 0;
        while (m.find()) {
            b.append(text.substring(at, m.start()).replace("${", "$${"));
            b.append("${").append(path(m.group(1))).append('}');
            at = m.end();
        }
        b.append(text.substring(at).replace("${", "$${"));
        return b.toString();
    }

    static boolean hasVariables(String text) {
        return text != null && VARIABLE.matcher(text).find();
    }

    static String literal(String text) {
        return "'" + escape(text) + "'";
    }

    static String escape(String text) {
        return text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t");
    }
}
