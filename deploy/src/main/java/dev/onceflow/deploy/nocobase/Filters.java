package dev.onceflow.deploy.nocobase;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * NocoBase's filters ({@code {"$and": [{"status": {"$eq": "draft"}}, {"total": {"$gt": "{{$context.data.min}}"}}]}})
 * as a SQL condition with {@code ?} parameters (expressions, bound by the engine, never spliced
 * in), or as an expression over a row (a collection trigger's {@code condition}). Operators:
 * {@code $eq $ne $in $notIn $gt $gte $lt $lte $includes $notIncludes $startsWith $notStartsWith
 * $endWith $notEndWith $empty $notEmpty $exists $notExists $isTruly $isFalsy}, combined by
 * {@code $and}/{@code $or} and by listing several fields; the SQL follows NocoBase's PostgreSQL
 * dialect ({@code $ne} keeps nulls, text operators are {@code ILIKE} on the column as text). Others
 * (dates, arrays, association paths) make the workflow not importable, naming the operator. Stateless.
 */
final class Filters {

    /** A SQL condition and its parameters, in order. */
    record Sql(String where, List<String> params) {
        boolean always() {
            return where.equals("TRUE");
        }
    }

    private static final Pattern FIELD = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");

    private Filters() {
    }

    static Sql sql(JsonNode filter, Variables vars) {
        List<String> params = new ArrayList<>();
        String where = sql(filter, vars, params);
        return new Sql(where, params);
    }

    private static String sql(JsonNode filter, Variables vars, List<String> params) {
        if (filter == null || filter.isNull() || filter.isMissingNode() || (filter.isObject() && filter.isEmpty())) {
            return "TRUE";
        }
        if (!filter.isObject()) {
            throw new NotImportable(vars.where() + ": a filter must be an object, got " + filter);
        }
        List<String> parts = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = filter.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String key = e.getKey();
            if (key.equals("$and") || key.equals("$or")) {
                List<String> inner = new ArrayList<>();
                for (JsonNode f : e.getValue()) {
                    String s = sql(f, vars, params);
                    if (!s.equals("TRUE")) {
                        inner.add(s);
                    }
                }
                if (!inner.isEmpty()) {
                    parts.add("(" + String.join(key.equals("$and") ? " AND " : " OR ", inner) + ")");
                }
            } else {
                parts.add(field(key, e.getValue(), vars, params));
            }
        }
        return parts.isEmpty() ? "TRUE" : parts.size() == 1 ? parts.get(0) : "(" + String.join(" AND ", parts) + ")";
    }

    private static String field(String name, JsonNode condition, Variables vars, List<String> params) {
        if (!FIELD.matcher(name).matches()) {
            throw new NotImportable(vars.where() + ": filter on '" + name + "' (association paths and operators other than $and/$or "
                    + "at this level are not translated)");
        }
        String col = quote(name);
        if (!condition.isObject()) {
            return comparison(col, "$eq", condition, vars, params);
        }
        List<String> parts = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = condition.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!e.getKey().startsWith("$")) {
                throw new NotImportable(vars.where() + ": filter on association '" + name + "." + e.getKey() + "' is not translated");
            }
            parts.add(comparison(col, e.getKey(), e.getValue(), vars, params));
        }
        return parts.size() == 1 ? parts.get(0) : "(" + String.join(" AND ", parts) + ")";
    }

    private static String comparison(String col, String op, JsonNode value, Variables vars, List<String> params) {
        switch (op) {
            case "$eq":
                if (value.isNull()) {
                    return col + " IS NULL";
                }
                if (value.isArray()) {
                    return in(col, value, vars, params, false);
                }
                params.add(vars.expression(value));
                return col + " = ?";
            case "$ne":
                if (value.isNull()) {
                    return col + " IS NOT NULL";
                }
                if (value.isArray()) {
                    return in(col, value, vars, params, true);
                }
                params.add(vars.expression(value));
                return "(" + col + " <> ? OR " + col + " IS NULL)";
            case "$in":
                return in(col, value, vars, params, false);
            case "$notIn":
                return in(col, value, vars, params, true);
            case "$gt":
            case "$gte":
            case "$lt":
            case "$lte":
                params.add(vars.expression(value));
                return col + " " + Map.of("$gt", ">", "$gte", ">=", "$lt", "<", "$lte", "<=").get(op) + " ?";
            case "$includes":
                return like(col, "ILIKE", "%", value, "%", vars, params);
            case "$notIncludes":
                return like(col, "NOT ILIKE", "%", value, "%", vars, params);
            case "$startsWith":
                return like(col, "ILIKE", "", value, "%", vars, params);
            case "$notStartsWith":
                return like(col, "NOT ILIKE", "", value, "%", vars, params);
            case "$endWith":
                return like(col, "ILIKE", "%", value, "", vars, params);
            case "$notEndWith":
                return like(col, "NOT ILIKE", "%", value, "", vars, params);
            case "$empty":
                return "(" + col + " IS NULL OR CAST(" + col + " AS TEXT) = '')";
            case "$notEmpty":
                return "(" + col + " IS NOT NULL AND CAST(" + col + " AS TEXT) <> '')";
            case "$exists":
                return col + " IS NOT NULL";
            case "$notExists":
                return col + " IS NULL";
            case "$isTruly":
                return col + " = TRUE";
            case "$isFalsy":
                return "(" + col + " = FALSE OR " + col + " IS NULL)";
            default:
                throw new NotImportable(vars.where() + ": filter operator " + op + " on " + col + " is not translated");
        }
    }

    private static String in(String col, JsonNode value, Variables vars, List<String> params, boolean not) {
        if (!value.isArray()) {
            throw new NotImportable(vars.where() + ": " + (not ? "$notIn" : "$in") + " on " + col
                    + " needs a list written in the filter, got " + value + " (a list from a variable is not translated)");
        }
        if (value.isEmpty()) {
            return not ? "TRUE" : "FALSE";
        }
        List<String> marks = new ArrayList<>();
        for (JsonNode v : value) {
            params.add(vars.expression(v));
            marks.add("?");
        }
        return col + (not ? " NOT IN (" : " IN (") + String.join(", ", marks) + ")";
    }

    /** NocoBase's text operators on PostgreSQL: {@code CAST(col AS TEXT) ILIKE '%value%'}, with % and _ escaped in a written value. */
    private static String like(String col, String op, String before, JsonNode value, String after, Variables vars, List<String> params) {
        String text = value.isTextual() ? value.asText() : value.toString();
        if (Variables.hasVariables(text)) {
            params.add(vars.expression(value));
            return "CAST(" + col + " AS TEXT) " + op + " " + (before.isEmpty() ? "" : "'" + before + "' || ") + "CAST(? AS TEXT)"
                    + (after.isEmpty() ? "" : " || '" + after + "'");
        }
        params.add(Variables.literal(before + text.replaceAll("[_%\\\\]", "\\\\$0") + after));
        return "CAST(" + col + " AS TEXT) " + op + " ?";
    }

    /** A PostgreSQL identifier, quoted: NocoBase's columns are camelCase ({@code "createdAt"}). */
    static String quote(String name) {
        return "\"" + name.replace("\"", "\"\"") + "\"";
    }

    /**
     * A filter as a boolean expression over {@code row} (a collection trigger's condition, which
     * NocoBase checks against the changed row): {@code $eq $ne $in $notIn $gt $gte $lt $lte
     * $empty $notEmpty $exists $notExists}, {@code $and}/{@code $or}.
     */
    static String expression(JsonNode filter, String row, Variables vars) {
        if (filter == null || filter.isNull() || filter.isMissingNode() || (filter.isObject() && filter.isEmpty())) {
            return "true";
        }
        List<String> parts = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = filter.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String key = e.getKey();
            if (key.equals("$and") || key.equals("$or")) {
                List<String> inner = new ArrayList<>();
                for (JsonNode f : e.getValue()) {
                    inner.add(expression(f, row, vars));
                }
                if (!inner.isEmpty()) {
                    parts.add("(" + String.join(key.equals("$and") ? " && " : " || ", inner) + ")");
                }
                continue;
            }
            if (!FIELD.matcher(key).matches()) {
                throw new NotImportable(vars.where() + ": condition on '" + key + "' is not translated");
            }
            String f = row + "." + key;
            JsonNode cond = e.getValue();
            if (!cond.isObject()) {
                parts.add("(" + f + " == " + vars.expression(cond) + ")");
                continue;
            }
            for (Iterator<Map.Entry<String, JsonNode>> ops = cond.fields(); ops.hasNext(); ) {
                Map.Entry<String, JsonNode> o = ops.next();
                String v = o.getValue().isArray() ? null : vars.expression(o.getValue());
                parts.add(switch (o.getKey()) {
                    case "$eq" -> "(" + f + " == " + v + ")";
                    case "$ne" -> "(" + f + " != " + v + ")";
                    case "$gt" -> "(" + f + " > " + v + ")";
                    case "$gte" -> "(" + f + " >= " + v + ")";
                    case "$lt" -> "(" + f + " < " + v + ")";
                    case "$lte" -> "(" + f + " <= " + v + ")";
                    case "$in" -> "(" + f + " =~ " + vars.expression(o.getValue()) + ")";
                    case "$notIn" -> "(" + f + " !~ " + vars.expression(o.getValue()) + ")";
                    case "$empty" -> "(" + f + " == null || " + f + " == '')";
                    case "$notEmpty" -> "(" + f + " != null && " + f + " != '')";
                    case "$exists" -> "(" + f + " != null)";
                    case "$notExists" -> "(" + f + " == null)";
                    default -> throw new NotImportable(vars.where() + ": condition operator " + o.getKey() + " on '" + key
                            + "' is not translated");
                });
            }
        }
        return parts.isEmpty() ? "true" : parts.size() == 1 ? parts.get(0) : "(" + String.join(" && ", parts) + ")";
    }
}
