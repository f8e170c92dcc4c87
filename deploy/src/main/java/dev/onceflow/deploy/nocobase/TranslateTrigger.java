package dev.onceflow.deploy.nocobase;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.common.workflow.ScheduleRules;
import dev.onceflow.common.workflow.TableName;
import dev.onceflow.common.workflow.Trigger;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A NocoBase trigger as an Onceflow trigger: {@code collection} → {@code table} (mode bitmask 1
 * create, 2 update, 4 destroy → operations; {@code changed}; {@code condition} → an expression over
 * the row); {@code schedule} static mode → {@code schedule} (cron or repeat ms, {@code startsOn},
 * {@code endsOn}, {@code limit}); schedule on a date field → a {@code table} trigger plus a delay
 * until the field's time (ADR 0023); {@code action} and {@code custom-action} → {@code api}. Also
 * says what {@code $context} becomes. Stateless.
 */
final class TranslateTrigger {

    /**
     * The translated trigger.
     *
     * @param trigger  the Onceflow trigger's JSON
     * @param context  {@code $context.<first segment>} → Onceflow expression root
     * @param waitUntil for a date-field schedule: the expression a delay waits until before the first node; else null
     */
    record Result(ObjectNode trigger, Map<String, String> context, String waitUntil) {
    }

    static final String COLLECTION = "collection";
    static final String SCHEDULE = "schedule";
    static final int STATIC = 0;
    static final int DATE_FIELD = 1;

    private TranslateTrigger() {
    }

    static Result translate(NocoWorkflow wf, String zone, Instant now, List<String> approximations) {
        JsonNode c = wf.config();
        String type = wf.type() == null ? "" : wf.type();
        return switch (type) {
            case COLLECTION -> collection(wf, c, approximations);
            case SCHEDULE -> c.path("mode").asInt(STATIC) == DATE_FIELD ? dateField(wf, c, approximations)
                    : schedule(c, zone, now, approximations);
            case "action", "custom-action" -> api(type, c, approximations);
            default -> throw new NotImportable("trigger type '" + type + "' has no Onceflow counterpart (imported: collection, "
                    + "schedule, action, custom-action)");
        };
    }

    /** {@code "posts"} or {@code "main:posts"} → the table {@code posts}; another data source is refused. */
    static String table(String collection, String where) {
        if (collection == null || collection.isBlank()) {
            throw new NotImportable(where + ": no collection configured");
        }
        int colon = collection.indexOf(':');
        if (colon >= 0) {
            String source = collection.substring(0, colon);
            if (!source.equals("main")) {
                throw new NotImportable(where + ": collection '" + collection + "' is in data source '" + source
                        + "'; Onceflow reaches only the main database");
            }
            return collection.substring(colon + 1);
        }
        return collection;
    }

    /**
     * A collection's table as a table trigger names it (ADR 0024): in {@code public}, where
     * NocoBase keeps its collections, and quoted when not a plain lower-case name, since NocoBase
     * creates its tables with quotes ({@code orderItems} → {@code public."orderItems"}); written bare,
     * the trigger would refuse it rather than watch {@code orderitems}.
     */
    static String triggerTable(String table) {
        return TableName.of(TableName.DEFAULT_SCHEMA, table).toString();
    }

    private static Result collection(NocoWorkflow wf, JsonNode c, List<String> approximations) {
        String table = table(c.path("collection").asText(null), "trigger");
        int mode = c.path("mode").asInt(0);
        if (mode <= 0 || mode > 7) {
            throw new NotImportable("trigger field 'mode': " + mode + " is not a combination of 1 create, 2 update, 4 destroy");
        }
        ObjectNode t = JsonNodeFactory.instance.objectNode().put("type", "table").put("table", triggerTable(table));
        var ops = t.putArray("operations");
        if ((mode & 1) != 0) {
            ops.add("insert");
        }
        if ((mode & 2) != 0) {
            ops.add("update");
        }
        if ((mode & 4) != 0) {
            ops.add("delete");
            approximations.add("on destroy, trigger.row is the deleted row as PostgreSQL logs it: its primary key only, unless the "
                    + "table has REPLICA IDENTITY FULL (ALTER TABLE " + triggerTable(table) + " REPLICA IDENTITY FULL)");
        }
        JsonNode changed = c.path("changed");
        if ((mode & 2) != 0 && changed.isArray() && !changed.isEmpty()) {
            var columns = t.putArray("changed");
            changed.forEach(f -> columns.add(TableName.quoteIfNeeded(f.asText())));
        }
        Map<String, String> context = Map.of("data", "trigger.row");
        JsonNode condition = c.get("condition");
        if (condition != null && condition.isObject() && !condition.isEmpty() && !isEmptyGroup(condition)) {
            if ((mode & 4) != 0) {
                approximations.add("trigger condition not carried over: NocoBase ignores it when the trigger fires on destroy");
            } else {
                Variables vars = new Variables(context, Map.of(), List.of(), "trigger condition");
                t.put("condition", Filters.expression(condition, "row", vars));
            }
        }
        if (c.path("appends").isArray() && !c.path("appends").isEmpty()) {
            approximations.add("trigger appends " + c.path("appends") + " not loaded: trigger.row holds the row's own columns only");
        }
        if (wf.sync() || c.path("rollbackOnFailure").asBoolean(false)) {
            approximations.add("NocoBase ran this workflow synchronously"
                    + (c.path("rollbackOnFailure").asBoolean(false) ? " and rolled the user's change back when it failed" : "")
                    + "; Onceflow starts it from the committed change (after the user's transaction)");
        }
        return new Result(t, context, null);
    }

    private static boolean isEmptyGroup(JsonNode condition) {
        JsonNode and = condition.get("$and");
        JsonNode or = condition.get("$or");
        return condition.size() == 1 && ((and != null && and.isArray() && and.isEmpty()) || (or != null && or.isArray() && or.isEmpty()));
    }

    private static Result schedule(JsonNode c, String zone, Instant now, List<String> approximations) {
        Instant start = instant(c.get("startsOn"), "startsOn");
        if (start == null) {
            throw new NotImportable("trigger field 'startsOn': missing (NocoBase does not schedule a workflow without it)");
        }
        start = Instant.ofEpochSecond(start.getEpochSecond()); // NocoBase drops the milliseconds (parseDateWithoutMs)
        Instant end = instant(c.get("endsOn"), "endsOn");
        ObjectNode t = JsonNodeFactory.instance.objectNode().put("type", "schedule");
        JsonNode repeat = c.get("repeat");
        Integer limit = c.hasNonNull("limit") && c.get("limit").asInt() > 0 ? c.get("limit").asInt() : null;
        Long interval = null;
        String cron = null;
        boolean once = false;
        if (repeat == null || repeat.isNull() || (repeat.isTextual() && repeat.asText().isBlank())) {
            // once, at startsOn: the first tick of a 1-second interval at or after startsOn, limited to one
            interval = 1000L;
            limit = 1;
            end = null;
            once = true;
        } else if (repeat.isNumber()) {
            interval = repeat.asLong();
            if (start.toEpochMilli() % interval != 0) {
                approximations.add("repeat every " + interval + " ms: Onceflow's ticks are multiples of " + interval
                        + " ms since the epoch; NocoBase's counted from startsOn (" + start + "), so each tick is "
                        + (interval - start.toEpochMilli() % interval) + " ms later");
            }
        } else {
            cron = repeat.asText().trim();
            approximations.add("cron '" + cron + "' evaluated in " + zone + " (NocoBase used its server's time zone)");
        }
        t.put("cron", cron);
        if (interval != null) {
            t.put("intervalMs", interval);
        }
        if (cron == null) {
            t.remove("cron");
        } else {
            t.put("zone", zone);
        }
        t.put("misfire", Trigger.Schedule.SKIP); // NocoBase schedules the next tick from now: a tick missed while down never runs
        t.put("start", start.toString());
        if (end != null) {
            t.put("end", end.toString());
        }
        if (limit != null) {
            t.put("limit", limit);
        }
        if (limit != null && !once) {
            approximations.add("limit " + limit + " counts the ticks from startsOn on (" + start + "), those NocoBase ran before the "
                    + "switch included; NocoBase counted its executions");
        }
        if (cron != null) {
            Trigger.Schedule check = new Trigger.Schedule(cron, null, zone, null, null, start, null, null);
            if (ScheduleRules.problems(check).isEmpty()
                    && !new ScheduleRules(check).next(start.minusMillis(1)).map(start::equals).orElse(false)
                    && start.isAfter(now)) {
                approximations.add("NocoBase also runs once at startsOn (" + start + "), which is not a tick of '" + cron + "'");
            }
        }
        return new Result(t, Map.of("date", "event.time"), null);
    }

    private static Result dateField(NocoWorkflow wf, JsonNode c, List<String> approximations) {
        String table = table(c.path("collection").asText(null), "trigger");
        JsonNode startsOn = c.path("startsOn");
        String field = startsOn.path("field").asText("");
        if (field.isEmpty()) {
            throw new NotImportable("trigger field 'startsOn.field': missing");
        }
        if (c.hasNonNull("repeat") && !(c.get("repeat").isTextual() && c.get("repeat").asText().isBlank())) {
            throw new NotImportable("date-field schedule with repeat " + c.get("repeat") + ": not translated (ADR 0023)");
        }
        if (startsOn.path("offset").asLong(0) != 0) {
            throw new NotImportable("date-field schedule with offset " + startsOn.path("offset") + ": Onceflow's expressions have no date "
                    + "arithmetic on the timestamps its row changes carry (ADR 0023)");
        }
        if (c.hasNonNull("limit") && c.get("limit").asInt() > 0) {
            throw new NotImportable("date-field schedule with limit " + c.get("limit") + ": not translated (ADR 0023)");
        }
        ObjectNode t = JsonNodeFactory.instance.objectNode().put("type", "table").put("table", triggerTable(table));
        t.putArray("operations").add("insert").add("update");
        t.putArray("changed").add(TableName.quoteIfNeeded(field));
        approximations.add("date-field schedule on " + table + "." + field + " became a table trigger on insert and on update of "
                + field + " plus a delay until that time (ADR 0023): a row whose " + field + " changes twice waits twice (both "
                + "run); rows written before the switch never fire; a time already past runs at once (NocoBase skips it)");
        return new Result(t, Map.of("data", "trigger.row"), "trigger.row." + field);
    }

    private static Result api(String type, JsonNode c, List<String> approximations) {
        approximations.add((type.equals("action") ? "post-action trigger on " + c.path("collection").asText("?")
                : "custom action trigger") + " became an api trigger: the application calls POST /api/workflows/{id}/trigger with "
                + "{\"data\": <record>, \"user\": <user>} where NocoBase started it from its action");
        Map<String, String> context = new LinkedHashMap<>();
        context.put("data", "trigger.data");
        context.put("user", "trigger.user");
        context.put("roleName", "trigger.roleName");
        return new Result(JsonNodeFactory.instance.objectNode().put("type", "api"), context, null);
    }

    private static Instant instant(JsonNode v, String field) {
        if (v == null || v.isNull() || (v.isTextual() && v.asText().isBlank())) {
            return null;
        }
        if (v.isNumber()) {
            return Instant.ofEpochMilli(v.asLong());
        }
        if (v.isObject()) {
            throw new NotImportable("trigger field '" + field + "': " + v + " is a date-field setting in a static schedule");
        }
        try {
            return java.time.OffsetDateTime.parse(v.asText()).toInstant();
        } catch (DateTimeParseException e) {
            try {
                return Instant.parse(v.asText());
            } catch (DateTimeParseException e2) {
                throw new NotImportable("trigger field '" + field + "': '" + v.asText() + "' is not an ISO date-time");
            }
        }
    }
}
