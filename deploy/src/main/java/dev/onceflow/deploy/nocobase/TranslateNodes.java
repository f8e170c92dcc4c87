package dev.onceflow.deploy.nocobase;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.deploy.nocobase.NocoWorkflow.NocoNode;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * A NocoBase workflow's node list as Onceflow nodes. NocoBase links its nodes as a list:
 * {@code downstreamId} is the next node, and a node owning branches (condition, parallel, loop) is
 * the {@code upstreamId} of each branch's first node, told apart by {@code branchIndex}. Here each
 * chain becomes nodes joined by {@code next}, each branch a region (a parallel's branch, a loop's
 * body, a condition's {@code then}/{@code else}). A condition with branches and a node after it
 * (NocoBase continues after either branch) becomes a one-branch {@code parallel} around the
 * condition, whose {@code next} is that node: Onceflow's condition has no join of its own.
 * Not thread-safe; one per workflow.
 */
final class TranslateNodes {

    /** Node types Onceflow translates; every other type makes the workflow not importable. */
    static final List<String> TYPES = List.of("calculation", "condition", "query", "create", "update", "destroy", "sql", "request",
            "delay", "loop", "parallel", "end");

    private static final Pattern ID = Pattern.compile("[A-Za-z0-9_-]{1,60}");
    private static final Pattern VAR = Pattern.compile("[A-Za-z_][A-Za-z0-9_]{0,62}");
    private static final JsonNodeFactory F = JsonNodeFactory.instance;
    static final int FAILED = -1;

    private final Map<Long, NocoNode> byId = new LinkedHashMap<>();
    private final Map<Long, List<NocoNode>> branchesOf = new HashMap<>();
    private final Map<String, Variables.JobRef> jobs = new HashMap<>();
    private final Map<String, String> context;
    private final List<String> approximations;
    private final List<ObjectNode> out = new ArrayList<>();
    private final Set<Long> visited = new HashSet<>();
    /** Keys of the nodes inside a parallel's branches, per parallel (for the join's visibility note). */
    private final Map<String, Set<String>> parallelMembers = new LinkedHashMap<>();

    TranslateNodes(NocoWorkflow wf, Map<String, String> context, List<String> approximations) {
        this.context = context;
        this.approximations = approximations;
        for (NocoNode n : wf.nodes()) {
            byId.put(n.id(), n);
        }
        for (NocoNode n : wf.nodes()) {
            if (n.upstreamId() != null && n.branchIndex() != null) {
                branchesOf.computeIfAbsent(n.upstreamId(), k -> new ArrayList<>()).add(n);
            }
        }
        for (NocoNode n : wf.nodes()) {
            jobs.put(n.key(), jobRef(n));
        }
        branchesOf.values().forEach(l -> l.sort(Comparator.comparing(NocoNode::branchIndex)));
    }

    /** The translated nodes, first node first; {@code waitUntil}: a delay before the first node (date-field schedules). */
    List<ObjectNode> translate(String waitUntil) {
        if (byId.isEmpty()) {
            throw new NotImportable("the workflow has no nodes");
        }
        NocoNode head = byId.values().stream().filter(n -> n.upstreamId() == null).findFirst()
                .orElseThrow(() -> new NotImportable("no first node (every node has an upstreamId): the node list is broken"));
        if (waitUntil != null) {
            int slot = reserve();
            String first = chain(head, List.of());
            put(slot, F.objectNode().put("type", "delay").put("id", "nb-wait-until").put("until", waitUntil).put("next", first));
        } else {
            chain(head, List.of());
        }
        for (NocoNode n : byId.values()) {
            if (!visited.contains(n.id())) {
                approximations.add("node " + n.describe() + " is not linked to the first node: NocoBase never runs it; not imported");
            }
        }
        joinVisibility();
        return out.stream().filter(java.util.Objects::nonNull).toList();
    }

    private int reserve() {
        out.add(null);
        return out.size() - 1;
    }

    private void put(int slot, ObjectNode node) {
        out.set(slot, node);
    }

    /** Translates {@code n} and the nodes after it; returns the id the node before it leads to. */
    private String chain(NocoNode n, List<String> loops) {
        if (!visited.add(n.id())) {
            throw new NotImportable("the node list has a cycle at node " + n.describe());
        }
        if (!TYPES.contains(n.type())) {
            throw new NotImportable("node " + n.describe() + ": Onceflow has no '" + n.type() + "' node (it translates "
                    + String.join(", ", TYPES) + ")");
        }
        Variables vars = new Variables(context, jobs, loops, "node " + n.describe());
        int slot = reserve();
        List<String> branchEntries = new ArrayList<>();
        List<NocoNode> branches = branchesOf.getOrDefault(n.id(), List.of());
        boolean rejectOnFalse = n.type().equals("condition") && n.config().path("rejectOnFalse").asBoolean(false);
        checkBranches(n, branches, vars);
        Set<Long> before = n.type().equals("parallel") ? new HashSet<>(visited) : Set.of();
        for (NocoNode b : branches) {
            if (rejectOnFalse && b.branchIndex() == 0) {
                approximations.add("condition " + n.describe() + " rejects on false: its false branch never runs in NocoBase; not imported");
                continue;
            }
            List<String> inner = loops;
            if (n.type().equals("loop")) {
                inner = new ArrayList<>(loops);
                inner.add(n.key());
            }
            branchEntries.add(b.branchIndex() + ":" + chain(b, inner));
        }
        if (n.type().equals("parallel") && branches.size() > 1) {
            Set<String> members = new HashSet<>();
            visited.stream().filter(id -> !before.contains(id)).forEach(id -> members.add(byId.get(id).key()));
            parallelMembers.put(n.key(), members);
        }
        String next = null;
        if (n.downstreamId() != null) {
            NocoNode down = byId.get(n.downstreamId());
            if (down == null) {
                throw new NotImportable("node " + n.describe() + " has downstreamId " + n.downstreamId() + ", which is not a node of this workflow");
            }
            next = chain(down, loops);
        }
        return node(n, slot, next, branchEntries, vars);
    }

    /** Branches only where NocoBase has them: a condition's 1 and 0, a loop's one body, a parallel's any number. */
    private static void checkBranches(NocoNode n, List<NocoNode> branches, Variables vars) {
        switch (n.type()) {
            case "condition" -> {
                for (NocoNode b : branches) {
                    if (b.branchIndex() != 0 && b.branchIndex() != 1) {
                        throw new NotImportable(vars.where() + ": branch " + b.branchIndex() + " (node " + b.describe()
                                + "); a condition has branches 1 (true) and 0 (false)");
                    }
                }
                if (branches.stream().map(NocoNode::branchIndex).distinct().count() < branches.size()) {
                    throw new NotImportable(vars.where() + ": two nodes start the same branch");
                }
            }
            case "loop" -> {
                if (branches.size() > 1) {
                    throw new NotImportable(vars.where() + ": " + branches.size() + " branches; a loop has one body");
                }
            }
            case "parallel" -> {
            }
            default -> {
                if (!branches.isEmpty()) {
                    throw new NotImportable(vars.where() + ": branches under a " + n.type() + " node (node "
                            + branches.get(0).describe() + ")");
                }
            }
        }
    }

    private String node(NocoNode n, int slot, String next, List<String> branchEntries, Variables vars) {
        String id = id(n);
        JsonNode c = n.config();
        ObjectNode node = F.objectNode().put("type", "sql").put("id", id);
        switch (n.type()) {
            case "calculation" -> {
                node.put("type", "calculation");
                node.putObject("set").put(var(n), Calculations.expression(c.path("engine").asText("math.js"),
                        c.path("expression").asText(""), vars.in("expression")));
            }
            case "condition" -> {
                return condition(n, slot, next, branchEntries, vars);
            }
            case "query" -> {
                CollectionSql.query(n, c, vars, node, approximations);
                if (c.path("failOnEmpty").asBoolean(false)) {
                    String found = id + "-found";
                    String empty = id + "-empty";
                    out.add(F.objectNode().put("type", "condition").put("id", found).put("if", "nodes['" + id + "'].output.rowCount > 0")
                            .put("then", next).put("else", empty));
                    out.add(F.objectNode().put("type", "end").put("id", empty).put("status", "failed")
                            .put("message", "query " + n.describe() + " found nothing (failOnEmpty)"));
                    next = found;
                }
            }
            case "create" -> CollectionSql.create(c, vars, node, approximations);
            case "update" -> CollectionSql.update(c, vars, node, approximations);
            case "destroy" -> CollectionSql.destroy(c, vars, node);
            case "sql" -> CollectionSql.sql(c, vars, node, approximations);
            case "request" -> Request.http(c, vars, node, approximations);
            case "delay" -> {
                node.put("type", "delay");
                JsonNode duration = c.path("duration");
                if (!duration.isMissingNode() && !duration.isNumber()) {
                    throw new NotImportable(vars.where() + " field 'duration': " + duration + " (a delay from a variable is not translated)");
                }
                node.put("ms", (long) (duration.asDouble(1) * c.path("unit").asLong(1000)));
                if (c.path("endStatus").asInt(1) == FAILED) {
                    String failed = id + "-failed";
                    out.add(F.objectNode().put("type", "end").put("id", failed).put("status", "failed")
                            .put("message", "delay " + n.describe() + " ends failed (endStatus)"));
                    next = failed;
                }
            }
            case "loop" -> {
                node.put("type", "loop");
                loop(n, c, vars, node, branchEntries);
            }
            case "parallel" -> {
                node.put("type", "parallel");
                String mode = c.path("mode").asText("all");
                if (!mode.equals("all") && !mode.equals("any")) {
                    throw new NotImportable(vars.where() + " field 'mode': parallel mode '" + mode + "' (Onceflow joins 'all' or 'any')");
                }
                if (branchEntries.isEmpty()) {
                    throw new NotImportable(vars.where() + ": a parallel node without branches");
                }
                node.put("join", mode);
                ArrayNode b = node.putArray("branches");
                branchEntries.forEach(e -> b.add(e.substring(e.indexOf(':') + 1)));
                if (mode.equals("any")) {
                    approximations.add("parallel " + n.describe() + " joins on the first branch that arrives; a failing branch fails the "
                            + "execution (NocoBase's 'any' waited for another branch to succeed)");
                }
            }
            case "end" -> {
                node.put("type", "end");
                node.put("status", c.path("endStatus").asInt(1) == FAILED ? "failed" : "succeeded");
            }
            default -> throw new IllegalStateException(n.type());
        }
        if (next != null && !n.type().equals("end")) {
            node.put("next", next);
        }
        put(slot, node);
        return id;
    }

    private String condition(NocoNode n, int slot, String next, List<String> branchEntries, Variables vars) {
        JsonNode c = n.config();
        String engine = c.path("engine").asText("basic");
        String expression = engine.equals("basic") ? Calculations.basic(c.get("calculation"), vars.in("calculation"))
                : Calculations.expression(engine, c.path("expression").asText(""), vars.in("expression"));
        boolean rejectOnFalse = c.path("rejectOnFalse").asBoolean(false);
        String id = id(n);
        String rejected = id + "-false";
        if (rejectOnFalse) {
            out.add(F.objectNode().put("type", "end").put("id", rejected).put("status", "failed")
                    .put("message", "condition " + n.describe() + " was false (rejectOnFalse)"));
        }
        if (branchEntries.isEmpty()) {
            if (!rejectOnFalse) {
                // NocoBase records the result and continues either way
                ObjectNode calc = F.objectNode().put("type", "calculation").put("id", id);
                calc.putObject("set").put(var(n), expression);
                if (next != null) {
                    calc.put("next", next);
                }
                put(slot, calc);
                return id;
            }
            ObjectNode cond = F.objectNode().put("type", "condition").put("id", id).put("if", expression).put("else", rejected);
            if (next != null) {
                cond.put("then", next);
            }
            put(slot, cond);
            return id;
        }
        ObjectNode cond = F.objectNode().put("type", "condition").put("id", id).put("if", expression);
        for (String e : branchEntries) {
            cond.put(e.startsWith("1:") ? "then" : "else", e.substring(e.indexOf(':') + 1));
        }
        if (rejectOnFalse) {
            cond.put("else", rejected);
        }
        if (next == null) {
            put(slot, cond);
            return id;
        }
        // NocoBase continues with the node after the condition once either branch ends: a one-branch parallel joins it
        String join = id + "-join";
        put(slot, F.objectNode().put("type", "parallel").put("id", join).put("join", "all").put("next", next));
        ((ObjectNode) out.get(slot)).putArray("branches").add(id);
        out.add(cond);
        return join;
    }

    private void loop(NocoNode n, JsonNode c, Variables vars, ObjectNode node, List<String> branchEntries) {
        JsonNode condition = c.get("condition");
        if (condition != null && !condition.isNull() && !(condition.isBoolean() && !condition.asBoolean())) {
            throw new NotImportable(vars.where() + " field 'condition': a loop condition is not translated");
        }
        int exit = c.path("exit").asInt(0);
        if (exit != 0) {
            throw new NotImportable(vars.where() + " field 'exit': " + (exit == 1 ? "break" : "continue")
                    + " on a failed iteration is not translated (Onceflow's loop fails with it)");
        }
        if (branchEntries.isEmpty()) {
            throw new NotImportable(vars.where() + ": a loop without a body");
        }
        JsonNode target = c.get("target");
        String items;
        if (target == null || target.isNull()) {
            items = "[]";
        } else if (target.isNumber()) {
            long count = (long) Math.floor(target.asDouble());
            if (count < 0 || count > dev.onceflow.common.workflow.Node.Loop.MAX_ITEMS) {
                throw new NotImportable(vars.where() + " field 'target': " + target + " iterations (0 to "
                        + dev.onceflow.common.workflow.Node.Loop.MAX_ITEMS + ")");
            }
            List<String> idx = new ArrayList<>();
            for (long i = 0; i < count; i++) {
                idx.add(Long.toString(i));
            }
            items = "[" + String.join(", ", idx) + "]";
        } else if (target.isArray()) {
            items = vars.in("target").expression(target);
        } else {
            items = vars.in("target").expression(target);
            if (Variables.hasVariables(target.asText())) {
                approximations.add("loop " + n.describe() + " over " + target.asText() + ": Onceflow needs a list there (NocoBase "
                        + "also looped once over a single value, or n times over a number)");
            }
        }
        node.put("items", items);
        node.put("do", branchEntries.get(0).substring(branchEntries.get(0).indexOf(':') + 1));
        node.put("maxItems", dev.onceflow.common.workflow.Node.Loop.MAX_ITEMS);
    }

    /** After a join of several branches only the last-arrived branch's node results travel on: note references across it. */
    private void joinVisibility() {
        parallelMembers.forEach((parallel, members) -> {
            for (NocoNode n : byId.values()) {
                if (members.contains(n.key()) || !visited.contains(n.id())) {
                    continue;
                }
                String text = n.config().toString();
                for (String m : members) {
                    if (text.contains("$jobsMapByNodeKey." + m + ".") || text.contains("$jobsMapByNodeKey." + m + "}")) {
                        approximations.add("node " + n.describe() + " reads the result of " + m + ", inside a branch of parallel " + parallel
                                + ": after Onceflow's join only the branch that arrived last carries its nodes' results");
                    }
                }
            }
        });
    }

    static String id(NocoNode n) {
        return n.key() != null && ID.matcher(n.key()).matches() ? n.key() : "n" + n.id();
    }

    static String var(NocoNode n) {
        String k = n.key() == null ? "" : n.key();
        return VAR.matcher(k).matches() ? k : "v_" + k.replaceAll("[^A-Za-z0-9_]", "_");
    }

    /** How {@code $jobsMapByNodeKey.<key>} of this node reads in Onceflow. */
    private Variables.JobRef jobRef(NocoNode n) {
        String out = "nodes['" + id(n) + "'].output";
        JsonNode c = n.config();
        return switch (n.type() == null ? "" : n.type()) {
            case "calculation" -> Variables.JobRef.of("vars." + var(n));
            case "condition" -> !c.path("rejectOnFalse").asBoolean(false) && !branchesOf.containsKey(n.id())
                    ? Variables.JobRef.of("vars." + var(n)) : Variables.JobRef.none("the result of a condition with branches");
            case "query" -> Variables.JobRef.of(c.path("multiple").asBoolean(false) ? out + ".rows" : out + ".rows[0]");
            case "create" -> Variables.JobRef.of(out + ".rows[0]");
            case "update", "destroy" -> Variables.JobRef.of(out + ".rowCount");
            case "sql" -> c.path("withMeta").asBoolean(false) ? Variables.JobRef.none("an sql node's result with meta")
                    : Variables.JobRef.of(out + ".rows");
            case "request" -> c.path("onlyData").asBoolean(false) ? Variables.JobRef.of(out + ".body")
                    : new Variables.JobRef(out, Map.of("data", "body"), null);
            default -> Variables.JobRef.none("a " + n.type() + " node's result");
        };
    }
}
