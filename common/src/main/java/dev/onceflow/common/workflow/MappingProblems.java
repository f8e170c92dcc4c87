package dev.onceflow.common.workflow;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.exc.InvalidFormatException;
import com.fasterxml.jackson.databind.exc.InvalidTypeIdException;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.databind.exc.ValueInstantiationException;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.common.Json;
import java.lang.reflect.RecordComponent;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * Jackson's mapping errors told in the definition's own words: a node by its id, a field by its
 * path in the file, JSON types instead of Java classes, the known node and trigger types and
 * field names with the nearest one to a typo ({@code node 'check': unknown node type 'conditon'
 * (known types: sql, condition, …); did you mean 'condition'?}).
 *
 * <p>Jackson stops at the first mismatch, so {@link #of} binds the definition part by part (the
 * workflow's own fields, the trigger, each node) and, within a part, drops an unknown or mistyped
 * field and binds again, so that one deploy names every such problem, as the validator does for
 * the rest. Stateless.
 */
final class MappingProblems {

    /** Enough to list every field of a part; a bound on the rebinding in case a field cannot be dropped. */
    private static final int MAX_PER_PART = 32;

    private static final Pattern OUT_OF_RANGE = Pattern.compile("Numeric value \\((.*?)\\) out of range");
    private static final Pattern SOURCE = Pattern.compile("\\[Source: .*?; line: (\\d+), column: (\\d+)\\]", Pattern.DOTALL);

    private MappingProblems() {
    }

    /**
     * The problems of a definition that parsed as JSON but did not bind; {@code first} is the
     * failure of binding it whole, described when the parts alone bind (which should not happen).
     */
    static List<String> of(JsonNode root, JsonMappingException first) {
        if (!root.isObject()) {
            return List.of("a workflow definition must be a JSON object, got " + jsonType(root));
        }
        List<String> problems = new ArrayList<>();
        ObjectNode top = ((ObjectNode) root).deepCopy();
        JsonNode nodes = root.get("nodes");
        JsonNode trigger = root.get("trigger");
        if (nodes != null && nodes.isArray()) {
            top.putArray("nodes");
            for (int i = 0; i < nodes.size(); i++) {
                JsonNode node = nodes.get(i);
                if (!node.isObject()) {
                    problems.add("nodes[" + i + "]: expected an object (a node), got " + jsonType(node));
                    continue;
                }
                bind(node, Node.class, nodeName(node, i), problems);
            }
        }
        if (trigger != null && trigger.isObject()) {
            top.remove("trigger");
            bind(trigger, Trigger.class, "trigger", problems);
        }
        bind(top, Workflow.class, "", problems);
        if (problems.isEmpty()) {
            problems.add(describe(first, root, ""));
        }
        return problems;
    }

    /** How a problem names the node at {@code nodes[index]}: by its id, or by its place when it has none. */
    static String nodeName(JsonNode node, int index) {
        JsonNode id = node == null ? null : node.get("id");
        return id != null && id.isTextual() && !id.asText().isBlank() ? "node '" + id.asText() + "'" : "nodes[" + index + "]";
    }

    /** Binds one part, dropping each field that fails and binding again; adds a problem per failure. */
    private static void bind(JsonNode part, Class<?> type, String where, List<String> problems) {
        JsonNode copy = part.deepCopy();
        for (int round = 0; round < MAX_PER_PART; round++) {
            try {
                Json.MAPPER.treeToValue(copy, type);
                return;
            } catch (JsonMappingException e) {
                problems.add(describe(e, part, where));
                if (!drop(copy, e.getPath())) {
                    return;
                }
            } catch (JsonProcessingException | IllegalArgumentException e) {
                problems.add(join(where, "") + cleanMessage(e.getMessage()));
                return;
            }
        }
    }

    /** Removes the field a failure points at; false when the failure is about the part itself or an array element. */
    private static boolean drop(JsonNode copy, List<JsonMappingException.Reference> path) {
        if (path.isEmpty() || path.get(path.size() - 1).getFieldName() == null) {
            return false;
        }
        JsonNode parent = copy;
        for (JsonMappingException.Reference r : path.subList(0, path.size() - 1)) {
            parent = r.getFieldName() != null ? parent.get(r.getFieldName()) : parent.get(r.getIndex());
            if (parent == null) {
                return false;
            }
        }
        return parent instanceof ObjectNode object && object.remove(path.get(path.size() - 1).getFieldName()) != null;
    }

    /** One failure, named by {@code where} (the part) and the path below it, with the value found at that path in {@code part}. */
    static String describe(JsonMappingException e, JsonNode part, String where) {
        List<JsonMappingException.Reference> path = e.getPath();
        String field = path(path);
        JsonNode value = at(part, path);
        if (e instanceof InvalidTypeIdException typeId) {
            return typeProblem(typeId, where, field, value);
        }
        if (e instanceof UnrecognizedPropertyException unknown) {
            return unknownField(unknown, where, field, part);
        }
        String at = join(where, field);
        if (e instanceof InvalidFormatException format && format.getTargetType() != null) {
            return at + "expected " + expected(format.getTargetType()) + ", got " + jsonType(value);
        }
        if (e instanceof MismatchedInputException mismatch && mismatch.getTargetType() != null) {
            return at + "expected " + expected(mismatch.getTargetType()) + ", got " + jsonType(value);
        }
        if (e instanceof ValueInstantiationException) {
            return at + "holds a value that cannot be used" + (value != null && hasNullElement(value)
                    ? " (a list or object entry is null)" : "");
        }
        Matcher range = OUT_OF_RANGE.matcher(String.valueOf(e.getOriginalMessage()));
        if (range.find()) {
            return at + "the number " + range.group(1) + " is out of range";
        }
        return at + cleanMessage(e.getOriginalMessage());
    }

    private static String typeProblem(InvalidTypeIdException e, String where, String field, JsonNode value) {
        String at = join(where, field);
        Class<?> base = e.getBaseType() == null ? null : e.getBaseType().getRawClass();
        String kind = base == Trigger.class ? "trigger type" : base == Node.class ? "node type" : "type";
        List<String> known = base == null ? List.of() : typeNames(base);
        String knownText = known.isEmpty() ? "" : " (known types: " + String.join(", ", known) + ")";
        if (value != null && !value.isObject()) {
            return at + "expected an object" + (base == Node.class ? " (a node)" : base == Trigger.class ? " (a trigger)" : "")
                    + ", got " + jsonType(value);
        }
        JsonNode type = value == null ? null : value.get("type");
        if (type == null || type.isNull()) {
            return at + "missing field 'type'" + (known.isEmpty() ? "" : " (one of " + String.join(", ", known) + ")");
        }
        if (!type.isTextual()) {
            return join(where, field.isEmpty() ? "type" : field + ".type") + "expected a string" + knownText + ", got " + jsonType(type);
        }
        return at + "unknown " + kind + " '" + e.getTypeId() + "'" + knownText + didYouMean(e.getTypeId(), known);
    }

    private static String unknownField(UnrecognizedPropertyException e, String where, String field, JsonNode part) {
        List<String> known = knownFields(e.getReferringClass(), e.getKnownPropertyIds());
        String parent = field.contains(".") ? field.substring(0, field.lastIndexOf('.')) : "";
        String of = "";
        String type = e.getReferringClass() == null || !parent.isEmpty() ? null : typeName(e.getReferringClass());
        if (type != null) {
            of = " of " + article(type) + (Trigger.class.isAssignableFrom(e.getReferringClass()) ? " trigger" : " node");
        }
        String nearest = nearest(e.getPropertyName(), known);
        return join(where, "") + "unknown field '" + field + "'" + of
                + (known.isEmpty() || known.equals(List.of("type")) ? " (it takes no fields" + (known.isEmpty() ? "" : " but 'type'") + ")"
                : " (known fields" + (parent.isEmpty() ? "" : " of '" + parent + "'") + ": " + String.join(", ", known) + ")")
                + (nearest == null ? "" : "; did you mean '" + (parent.isEmpty() ? "" : parent + ".") + nearest + "'?");
    }

    /** The names a sealed interface's {@link JsonSubTypes} declares, in declaration order. */
    static List<String> typeNames(Class<?> base) {
        JsonSubTypes types = base.getAnnotation(JsonSubTypes.class);
        return types == null ? List.of() : Arrays.stream(types.value()).map(JsonSubTypes.Type::name).toList();
    }

    /** The JSON type name of a node or trigger class ({@code sql}, {@code schedule}), or null. */
    private static String typeName(Class<?> type) {
        for (Class<?> base : List.of(Node.class, Trigger.class)) {
            JsonSubTypes types = base.getAnnotation(JsonSubTypes.class);
            for (JsonSubTypes.Type t : types.value()) {
                if (t.value() == type) {
                    return t.name();
                }
            }
        }
        return null;
    }

    /** Jackson's known fields in the order the file's reader sees them documented: the record's, node types with 'type' first. */
    private static List<String> knownFields(Class<?> type, Collection<Object> jacksonKnown) {
        List<String> known = jacksonKnown == null ? new ArrayList<>()
                : jacksonKnown.stream().map(String::valueOf).collect(Collectors.toCollection(ArrayList::new));
        List<String> ordered = new ArrayList<>();
        if (type != null && typeName(type) != null) {
            ordered.add("type");
        }
        if (type != null && type.isRecord()) {
            for (RecordComponent c : type.getRecordComponents()) {
                JsonProperty renamed = c.getAccessor().getAnnotation(JsonProperty.class);
                String name = renamed != null && !renamed.value().isEmpty() ? renamed.value() : c.getName();
                if (known.remove(name)) {
                    ordered.add(name);
                }
            }
        }
        known.stream().sorted().forEach(ordered::add);
        return ordered;
    }

    /** {@code "; did you mean 'x'?"} when one known name is close to {@code given} (a typo, a case slip), else "". */
    static String didYouMean(String given, List<String> known) {
        String nearest = nearest(given, known);
        return nearest == null ? "" : "; did you mean '" + nearest + "'?";
    }

    /** The known name closest to {@code given}, when it is close enough to be a typo or a case slip; else null. */
    static String nearest(String given, List<String> known) {
        if (given == null) {
            return null;
        }
        String best = null;
        int bestDistance = Integer.MAX_VALUE;
        for (String candidate : known) {
            int d = given.equalsIgnoreCase(candidate) ? 0 : distance(given.toLowerCase(Locale.ROOT), candidate.toLowerCase(Locale.ROOT));
            if (d < bestDistance) {
                best = candidate;
                bestDistance = d;
            }
        }
        int allowed = Math.max(1, Math.min(given.length(), best == null ? 0 : best.length()) / 3);
        return best != null && bestDistance <= allowed ? best : null;
    }

    /** Levenshtein distance with adjacent transpositions counted as one edit. */
    private static int distance(String a, String b) {
        int[][] d = new int[a.length() + 1][b.length() + 1];
        for (int i = 0; i <= a.length(); i++) {
            d[i][0] = i;
        }
        for (int j = 0; j <= b.length(); j++) {
            d[0][j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            for (int j = 1; j <= b.length(); j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                d[i][j] = Math.min(Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1), d[i - 1][j - 1] + cost);
                if (i > 1 && j > 1 && a.charAt(i - 1) == b.charAt(j - 2) && a.charAt(i - 2) == b.charAt(j - 1)) {
                    d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
                }
            }
        }
        return d[a.length()][b.length()];
    }

    /** What a Java target type is in JSON words. */
    private static String expected(Class<?> target) {
        if (target == Integer.class || target == Long.class || target == int.class || target == long.class
                || target == Short.class || target == java.math.BigInteger.class) {
            return "a whole number";
        }
        if (Number.class.isAssignableFrom(target) || target == double.class || target == float.class) {
            return "a number";
        }
        if (target == Boolean.class || target == boolean.class) {
            return "true or false";
        }
        if (target == String.class) {
            return "a string";
        }
        if (target == Instant.class) {
            return "an ISO-8601 instant such as 2026-01-31T09:00:00Z";
        }
        if (Collection.class.isAssignableFrom(target) || target.isArray()) {
            return "an array";
        }
        if (target == Node.class || Node.class.isAssignableFrom(target)) {
            return "an object (a node)";
        }
        if (target == Trigger.class || Trigger.class.isAssignableFrom(target)) {
            return "an object (a trigger)";
        }
        if (target == Workflow.class) {
            return "an object (a workflow definition)";
        }
        return "an object";
    }

    /** A JSON value as a reader names it: {@code the string "soon"}, {@code an array}, {@code the number 5}. */
    static String jsonType(JsonNode value) {
        if (value == null || value.isMissingNode()) {
            return "nothing";
        }
        if (value.isNull()) {
            return "null";
        }
        if (value.isTextual()) {
            String text = value.asText();
            return "the string \"" + (text.length() > 60 ? text.substring(0, 60) + "…" : text) + "\"";
        }
        if (value.isNumber()) {
            return "the number " + value.asText();
        }
        if (value.isBoolean()) {
            return value.asText();
        }
        if (value.isArray()) {
            return "an array";
        }
        return "an object";
    }

    private static boolean hasNullElement(JsonNode value) {
        for (JsonNode child : value) {
            if (child.isNull() || (child.isContainerNode() && hasNullElement(child))) {
                return true;
            }
        }
        return false;
    }

    /** The value at a failure's path, or null. */
    private static JsonNode at(JsonNode part, List<JsonMappingException.Reference> path) {
        JsonNode n = part;
        for (JsonMappingException.Reference r : path) {
            if (n == null) {
                return null;
            }
            n = r.getFieldName() != null ? n.get(r.getFieldName()) : n.get(r.getIndex());
        }
        return n;
    }

    /** A failure's path as the file spells it: {@code retry.attempts}, {@code params[1]}. */
    static String path(List<JsonMappingException.Reference> path) {
        return path.stream()
                .map(r -> r.getFieldName() != null ? r.getFieldName() : "[" + r.getIndex() + "]")
                .collect(Collectors.joining(".")).replace(".[", "[");
    }

    /** {@code node 'a' field 'x': }, {@code field 'x': }, {@code node 'a': } or nothing. */
    private static String join(String where, String field) {
        String f = field.isEmpty() ? "" : "field '" + field + "'";
        String both = (where + " " + f).trim();
        return both.isEmpty() ? "" : both + ": ";
    }

    private static String article(String word) {
        return ("aeiou".indexOf(word.charAt(0)) >= 0 ? "an " : "a ") + word;
    }

    /**
     * Jackson's message without the Java in it, for the rare failure no case above covers: no
     * class names, no "[Source: …]" (its line and column kept in words).
     */
    static String cleanMessage(String message) {
        if (message == null) {
            return "cannot be read";
        }
        Matcher source = SOURCE.matcher(message);
        String text = source.replaceAll(m -> "line " + m.group(1) + ", column " + m.group(2));
        text = text.replaceAll("`?(?:[a-z]+\\.)+([A-Z][A-Za-z]*)(?:\\$([A-Z][A-Za-z]*))?`?", "$1$2")
                .replaceAll("\\s*\\(for POJO property '[^']*'\\)", "")
                .replaceAll("\\s*\\(class [^)]*\\)", "");
        return text.trim();
    }
}
