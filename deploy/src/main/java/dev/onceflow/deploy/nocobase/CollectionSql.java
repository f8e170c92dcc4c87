package dev.onceflow.deploy.nocobase;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.common.workflow.TableName;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * NocoBase's collection nodes (query, create, update, destroy) and its {@code sql} node as
 * Onceflow {@code sql} nodes: one statement with {@code ?} parameters, each an expression the
 * engine binds (values from variables are never spliced into the text). Identifiers are quoted,
 * as NocoBase's columns are camelCase, and tables are qualified with {@code public}: with
 * {@code db.schema} set, a node's search path is {@code <schema>, public} (ADR 0024), so an
 * unqualified {@code workflows} or {@code executions} — NocoBase has collections of both names —
 * would reach Onceflow's own table. For the same reason an {@code sql} node's own text naming one
 * of Onceflow's tables unqualified is not importable. Stateless.
 */
final class CollectionSql {

    private static final Pattern FIELD = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");
    /** Onceflow's sql node output keeps this many rows. */
    static final int OUTPUT_ROWS = 100;

    private CollectionSql() {
    }

    static void query(NocoWorkflow.NocoNode n, JsonNode c, Variables vars, ObjectNode node, List<String> approximations) {
        String table = table(c, vars);
        JsonNode params = c.path("params");
        Filters.Sql where = Filters.sql(params.get("filter"), vars.in("params.filter"));
        StringBuilder sql = new StringBuilder("SELECT * FROM ").append(table);
        if (!where.always()) {
            sql.append(" WHERE ").append(where.where());
        }
        List<String> order = new ArrayList<>();
        for (JsonNode s : params.path("sort")) {
            String field = s.path("field").asText("");
            if (field.isEmpty()) {
                continue;
            }
            order.add(column(field, vars) + ("desc".equalsIgnoreCase(s.path("direction").asText("asc")) ? " DESC" : " ASC"));
        }
        if (!order.isEmpty()) {
            sql.append(" ORDER BY ").append(String.join(", ", order));
        }
        boolean multiple = c.path("multiple").asBoolean(false);
        long page = number(params.get("page"), 1, "params.page", vars);
        long pageSize = multiple ? number(params.get("pageSize"), 20, "params.pageSize", vars) : 1;
        sql.append(" LIMIT ").append(pageSize);
        if (page > 1) {
            sql.append(" OFFSET ").append((page - 1) * pageSize);
        }
        if (pageSize > OUTPUT_ROWS) {
            approximations.add("query " + n.describe() + " reads " + pageSize + " rows; an sql node's output keeps the first " + OUTPUT_ROWS);
        }
        if (params.path("appends").isArray() && !params.path("appends").isEmpty()) {
            approximations.add("query " + n.describe() + " appends " + params.path("appends") + " not loaded: the rows hold their own columns only");
        }
        set(node, sql.toString(), where.params());
    }

    static void create(JsonNode c, Variables vars, ObjectNode node, List<String> approximations) {
        String table = table(c, vars);
        JsonNode values = c.path("params").path("values");
        List<String> cols = new ArrayList<>();
        List<String> marks = new ArrayList<>();
        List<String> params = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = values.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            cols.add(column(e.getKey(), vars));
            marks.add("?");
            params.add(value(e.getKey(), e.getValue(), vars));
        }
        timestamps(values, List.of("createdAt", "updatedAt"), cols, marks, vars, approximations);
        if (c.path("params").path("appends").isArray() && !c.path("params").path("appends").isEmpty()) {
            approximations.add(vars.where() + ": appends " + c.path("params").path("appends") + " not loaded");
        }
        set(node, "INSERT INTO " + table + " (" + String.join(", ", cols) + ") VALUES (" + String.join(", ", marks) + ") RETURNING *",
                params);
    }

    static void update(JsonNode c, Variables vars, ObjectNode node, List<String> approximations) {
        String table = table(c, vars);
        JsonNode values = c.path("params").path("values");
        List<String> sets = new ArrayList<>();
        List<String> params = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = values.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            sets.add(column(e.getKey(), vars) + " = ?");
            params.add(value(e.getKey(), e.getValue(), vars));
        }
        if (sets.isEmpty()) {
            throw new NotImportable(vars.where() + ": an update without values");
        }
        List<String> cols = new ArrayList<>();
        List<String> marks = new ArrayList<>();
        timestamps(values, List.of("updatedAt"), cols, marks, vars, approximations);
        for (int i = 0; i < cols.size(); i++) {
            sets.add(cols.get(i) + " = " + marks.get(i));
        }
        Filters.Sql where = Filters.sql(c.path("params").get("filter"), vars.in("params.filter"));
        if (where.always()) {
            throw new NotImportable(vars.where() + ": an update without a filter (it would change every row)");
        }
        List<String> all = new ArrayList<>(params);
        all.addAll(where.params());
        set(node, "UPDATE " + table + " SET " + String.join(", ", sets) + " WHERE " + where.where(), all);
    }

    static void destroy(JsonNode c, Variables vars, ObjectNode node) {
        String table = table(c, vars);
        Filters.Sql where = Filters.sql(c.path("params").get("filter"), vars.in("params.filter"));
        if (where.always()) {
            throw new NotImportable(vars.where() + ": a destroy without a filter (it would delete every row)");
        }
        set(node, "DELETE FROM " + table + " WHERE " + where.where(), where.params());
    }

    /** Sequelize's {@code :name} replacements outside quotes (not {@code ::type} casts). */
    private static final Pattern REPLACEMENT = Pattern.compile("'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|::|(?<![A-Za-z0-9_]):([A-Za-z_][A-Za-z0-9_]*)");

    static void sql(JsonNode c, Variables vars, ObjectNode node, List<String> approximations) {
        String source = c.path("dataSource").asText("main");
        if (!source.isEmpty() && !source.equals("main")) {
            throw new NotImportable(vars.where() + " field 'dataSource': '" + source + "' (Onceflow reaches only the main database)");
        }
        String text = c.path("sql").asText("").trim();
        if (text.isEmpty()) {
            throw new NotImportable(vars.where() + " field 'sql': empty");
        }
        refuseOnceflowNames(text, vars);
        List<String> params = new ArrayList<>();
        Map<String, JsonNode> named = new java.util.HashMap<>();
        for (JsonNode v : c.path("variables")) {
            named.put(v.path("name").asText(""), v.get("value"));
        }
        // {{variables}} in the text (NocoBase splices them in with unsafeInjection, and did so always before it had
        // replacements): bound as parameters here
        StringBuilder b = new StringBuilder();
        Matcher m = Variables.VARIABLE.matcher(text);
        int at = 0;
        boolean spliced = false;
        while (m.find()) {
            if (quoted(text, m.start())) {
                throw new NotImportable(vars.where() + " field 'sql': variable {{" + m.group(1) + "}} inside a quoted string or "
                        + "identifier: it can only be spliced in as text, which Onceflow does not do (" + text + ")");
            }
            b.append(text, at, m.start());
            b.append('?');
            params.add(vars.in("sql").path(m.group(1)));
            at = m.end();
            spliced = true;
        }
        b.append(text.substring(at));
        if (spliced) {
            approximations.add(vars.where() + ": variables in the SQL text are bound as parameters, not spliced in as text: one that "
                    + "stood for a table, column or SQL fragment fails (" + text + ")");
        }
        String withVars = b.toString();
        if (!named.isEmpty()) {
            // with {{}} already turned into ?, the parameters' order follows the text: rebuild both in one pass
            StringBuilder r = new StringBuilder();
            List<String> ordered = new ArrayList<>();
            Matcher q = Pattern.compile(REPLACEMENT.pattern() + "|\\?").matcher(withVars);
            int last = 0;
            int spliceIndex = 0;
            while (q.find()) {
                r.append(withVars, last, q.start());
                String tok = q.group();
                if (tok.equals("?")) {
                    ordered.add(params.get(spliceIndex++));
                    r.append('?');
                } else if (q.group(1) != null) {
                    JsonNode value = named.get(q.group(1));
                    if (value == null && !named.containsKey(q.group(1))) {
                        throw new NotImportable(vars.where() + " field 'sql': replacement :" + q.group(1) + " has no variable of that name");
                    }
                    ordered.add(vars.in("variables." + q.group(1)).expression(value));
                    r.append('?');
                } else {
                    r.append(tok);
                }
                last = q.end();
            }
            r.append(withVars.substring(last));
            withVars = r.toString();
            params = ordered;
        }
        if (c.path("withMeta").asBoolean(false)) {
            approximations.add(vars.where() + ": withMeta: Onceflow's output is {rows, rowCount}, not [rows, meta]");
        }
        set(node, withVars, params);
    }

    /** Whether {@code pos} is inside a '…' literal or a "…" identifier of {@code sql}. */
    static boolean quoted(String sql, int pos) {
        char open = 0;
        for (int i = 0; i < pos; i++) {
            char c = sql.charAt(i);
            if (open == 0 && (c == '\'' || c == '"')) {
                open = c;
            } else if (c == open) {
                open = 0; // a doubled quote closes and reopens: the same as staying inside
            }
        }
        return open != 0;
    }

    private static void set(ObjectNode node, String sql, List<String> params) {
        node.put("sql", sql);
        ArrayNode p = node.putArray("params");
        params.forEach(p::add);
    }

    private static String table(JsonNode c, Variables vars) {
        return TableName.DEFAULT_SCHEMA + "." + Filters.quote(TranslateTrigger.table(c.path("collection").asText(null), vars.where()));
    }

    /**
     * Onceflow's own tables (common's migrations): with {@code db.schema} set they come first on a
     * node's search path, so an unqualified name in an {@code sql} node resolves to them (ADR 0024).
     */
    static final List<String> ONCEFLOW_TABLES = List.of("workflows", "executions", "processed_keys", "timers", "branch_arrivals",
            "absorbed_duplicates", "retired_event_keys", "rowchange_offsets", "debounce_windows", "rate_buckets", "onceflow_schema");
    /** A name not after a dot nor before one (qualified, or a qualifier itself), bare or quoted, outside '…' literals. */
    private static final Pattern UNQUALIFIED = Pattern.compile("'(?:[^']|'')*'|(?<![.\\w\"])\"?(" + String.join("|", ONCEFLOW_TABLES)
            + ")\"?(?![\\w\"])(?!\\s*\\.)", Pattern.CASE_INSENSITIVE);

    /** Refuses SQL text that names one of Onceflow's tables unqualified: it would read or change Onceflow's, not NocoBase's. */
    private static void refuseOnceflowNames(String text, Variables vars) {
        Matcher m = UNQUALIFIED.matcher(text);
        while (m.find()) {
            if (m.group(1) != null) {
                throw new NotImportable(vars.where() + " field 'sql': names '" + m.group(1) + "' without a schema; Onceflow has a table "
                        + "of that name, found first on a node's search path when Onceflow runs in the application's database "
                        + "(db.schema, ADR 0024). Write public." + m.group(1) + " in NocoBase's node, then import again (" + text + ")");
            }
        }
    }

    private static String column(String field, Variables vars) {
        if (!FIELD.matcher(field).matches()) {
            throw new NotImportable(vars.where() + ": field '" + field + "' (association paths are not translated)");
        }
        return Filters.quote(field);
    }

    private static String value(String field, JsonNode v, Variables vars) {
        if (v.isObject() || v.isArray()) {
            throw new NotImportable(vars.where() + " field 'params.values." + field + "': " + v
                    + " (association and JSON values are not translated)");
        }
        return vars.in("params.values." + field).expression(v);
    }

    /** NocoBase's default collection fields, which Sequelize fills in and PostgreSQL has no default for. */
    private static void timestamps(JsonNode values, List<String> names, List<String> cols, List<String> marks, Variables vars,
                                   List<String> approximations) {
        List<String> added = new ArrayList<>();
        for (String name : names) {
            if (!values.has(name)) {
                cols.add(Filters.quote(name));
                marks.add("now()");
                added.add(name);
            }
        }
        if (!added.isEmpty()) {
            approximations.add(vars.where() + ": sets " + String.join(" and ", added) + " to now(), as NocoBase does for its default "
                    + "fields; remove them for a collection without them");
        }
    }

    private static long number(JsonNode v, long dflt, String field, Variables vars) {
        if (v == null || v.isNull() || (v.isTextual() && v.asText().isBlank())) {
            return dflt;
        }
        try {
            long n = v.isNumber() ? v.asLong() : Long.parseLong(v.asText().trim());
            if (n < 1) {
                throw new NotImportable(vars.where() + " field '" + field + "': " + v + " (at least 1)");
            }
            return n;
        } catch (NumberFormatException e) {
            throw new NotImportable(vars.where() + " field '" + field + "': " + v + " (a number written in the node; variables are not translated)");
        }
    }
}
