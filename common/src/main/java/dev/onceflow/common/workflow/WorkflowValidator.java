package dev.onceflow.common.workflow;

import dev.onceflow.common.EventKey;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Checks a parsed definition: the trigger, ids, each node's fields ({@link NodeRules}), reachability,
 * cycles, and that no node is shared between parallel branches, loop bodies and the path around
 * them. Stateless.
 */
final class WorkflowValidator {

    private WorkflowValidator() {
    }

    /** Most executions of one ordering key that may run at once. */
    static final int MAX_PER_KEY = 1_000;
    /** Most executions of one workflow that may run at once across the fleet. */
    static final int MAX_TOTAL = 100_000;
    /** The slowest and the fastest rate limits, in starts per second. */
    static final double MIN_RATE = 0.001;
    static final double MAX_RATE = 100_000;
    /** The largest burst of a rate limit. */
    static final int MAX_BURST = 100_000;
    /** The longest debounce window. */
    static final long MAX_DEBOUNCE_MS = 3_600_000;

    /** {@code order} and {@code concurrency} (ADRs 0020, 0021). */
    static List<String> orderProblems(Workflow wf) {
        List<String> problems = new ArrayList<>();
        if (wf.order() != null && !Workflow.ORDER_KEY.equals(wf.order()) && !Workflow.ORDER_NONE.equals(wf.order())) {
            problems.add("field 'order': unknown order '" + wf.order() + "' (use \"key\" or \"none\")");
        }
        String orderNone = "this workflow's order is \"none\"" + (wf.order() == null ? " (the default for its trigger)" : "")
                + "; set \"order\": \"key\"";
        if (wf.concurrency() != null && wf.concurrency().perKey() != null) {
            int perKey = wf.concurrency().perKey();
            if (perKey < 1 || perKey > MAX_PER_KEY) {
                problems.add("field 'concurrency.perKey': must be 1 to " + MAX_PER_KEY + ", got " + perKey);
            } else if (Workflow.ORDER_NONE.equals(wf.effectiveOrder())) {
                problems.add("field 'concurrency.perKey': applies to lanes of one ordering key, but " + orderNone);
            }
        }
        if (wf.concurrency() != null && wf.concurrency().total() != null) {
            int total = wf.concurrency().total();
            if (total < 1 || total > MAX_TOTAL) {
                problems.add("field 'concurrency.total': must be 1 to " + MAX_TOTAL + ", got " + total);
            }
        }
        if (wf.rateLimit() != null) {
            Workflow.RateLimit r = wf.rateLimit();
            if (r.perSecond() == null || !(r.perSecond() >= MIN_RATE) || r.perSecond() > MAX_RATE) {
                problems.add("field 'rateLimit.perSecond': must be " + MIN_RATE + " to " + (long) MAX_RATE + " starts per second, got "
                        + r.perSecond());
            } else if (r.burst() < 1 || r.burst() > MAX_BURST) {
                problems.add("field 'rateLimit.burst': must be 1 to " + MAX_BURST + ", got " + r.burst());
            }
            if (r.perKey() && Workflow.ORDER_NONE.equals(wf.effectiveOrder())) {
                problems.add("field 'rateLimit.perKey': applies to the events of one ordering key, but " + orderNone);
            }
            if (wf.debounce() != null) {
                problems.add("fields 'rateLimit' and 'debounce': not supported together yet (a debounced burst's start time "
                        + "would overrule the start the rate limit gave it); keep one");
            }
        }
        if (wf.debounce() != null) {
            Workflow.Debounce d = wf.debounce();
            if (d.ms() == null || d.ms() < 1 || d.ms() > MAX_DEBOUNCE_MS) {
                problems.add("field 'debounce.ms': must be 1 to " + MAX_DEBOUNCE_MS + " (one hour), got " + d.ms());
            } else if (d.maxMs() < d.ms()) {
                problems.add("field 'debounce.maxMs': must be at least 'ms' (" + d.ms() + "), got " + d.maxMs());
            }
            if (!Workflow.Debounce.KEEP_LAST.equals(d.keep()) && !Workflow.Debounce.KEEP_FIRST.equals(d.keep())) {
                problems.add("field 'debounce.keep': unknown keep '" + d.keep() + "' (use \"last\": the newest event of a burst "
                        + "runs, or \"first\": the first runs and the rest of its burst is superseded)");
            }
            if (Workflow.ORDER_NONE.equals(wf.effectiveOrder())) {
                problems.add("field 'debounce': applies to the events of one ordering key, but " + orderNone);
            }
        }
        return problems;
    }

    /** A trigger's {@code orderKey} (ADR 0020): a JSON pointer into the event's data. */
    private static Optional<String> orderKeyPointerProblem(String pointer) {
        if (pointer == null) {
            return Optional.empty();
        }
        if (!pointer.startsWith("/")) {
            return Optional.of("trigger field 'orderKey': a JSON pointer starts with '/', got '" + pointer + "'");
        }
        try {
            com.fasterxml.jackson.core.JsonPointer.compile(pointer);
        } catch (IllegalArgumentException e) {
            return Optional.of("trigger field 'orderKey': '" + pointer + "' is not a JSON pointer: " + e.getMessage());
        }
        return Optional.empty();
    }

    static List<String> problems(Workflow wf) {
        List<String> problems = new ArrayList<>();
        if (wf.trigger() instanceof Trigger.Schedule schedule) {
            problems.addAll(ScheduleRules.problems(schedule));
        }
        if (wf.trigger() instanceof Trigger.Table table) {
            problems.addAll(tableProblems(table));
        }
        if (wf.trigger() instanceof Trigger.Kafka kafka) {
            if (!kafka.topic().matches("[A-Za-z0-9._-]{1,249}")) {
                problems.add("trigger field 'topic': '" + kafka.topic() + "' is not a valid Kafka topic name");
            } else if (kafka.userTopic() && (kafka.topic().startsWith("onceflow.") || kafka.topic().startsWith("onceflow-")
                    || kafka.topic().startsWith("__"))) {
                problems.add("trigger field 'topic': '" + kafka.topic() + "' is reserved for Onceflow or Kafka itself");
            }
            orderKeyPointerProblem(kafka.orderKey()).ifPresent(problems::add);
            for (String[] pointer : new String[][] {{"id", kafka.id()}, {"time", kafka.time()}}) {
                if (pointer[1] != null && !pointer[1].startsWith("/")) {
                    problems.add("trigger field '" + pointer[0] + "': a JSON pointer starts with '/', got '" + pointer[1] + "'");
                }
                if (pointer[1] != null && !kafka.userTopic()) {
                    problems.add("trigger field '" + pointer[0] + "': only for user topics; records on " + kafka.topic()
                            + " carry their own id and time");
                }
            }
        }
        if (wf.trigger() instanceof Trigger.Api api) {
            orderKeyPointerProblem(api.orderKey()).ifPresent(problems::add);
        }
        problems.addAll(orderProblems(wf));
        if (wf.id() == null || !EventKey.WORKFLOW_ID.matcher(wf.id()).matches()) {
            problems.add("field 'id': '" + wf.id() + "' is not a valid workflow id (letters, digits, '.', '_', '-'; at most 128)");
        }
        if (wf.version() != null && wf.version() < 1) {
            problems.add("field 'version': must be 1 or more, got " + wf.version());
        }
        if (wf.nodes().isEmpty()) {
            problems.add("field 'nodes': a workflow needs at least one node");
            return problems;
        }
        Map<String, Node> byId = new HashMap<>();
        for (int i = 0; i < wf.nodes().size(); i++) {
            Node node = wf.nodes().get(i);
            if (node.id() == null || node.id().isBlank()) {
                problems.add("nodes[" + i + "] field 'id': missing");
            } else if (!node.id().matches("[A-Za-z0-9_-]{1,64}")) {
                problems.add("node '" + node.id() + "' field 'id': use letters, digits, '_' and '-' (at most 64)");
            } else if (byId.put(node.id(), node) != null) {
                problems.add("node '" + node.id() + "' field 'id': declared twice");
            }
        }
        if (!byId.containsKey(wf.start())) {
            problems.add("field 'start': no node '" + wf.start() + "'");
        }
        for (Node node : wf.nodes()) {
            NodeRules.check(node, byId, problems);
        }
        if (problems.isEmpty()) {
            checkGraph(wf, byId, problems);
        }
        return problems;
    }

    static List<String> tableProblems(Trigger.Table table) {
        List<String> problems = new ArrayList<>();
        if (table.table() == null || table.table().isBlank()) {
            problems.add("trigger field 'table': missing (schema.table, or a table in public)");
        } else {
            try {
                TableName.parse(table.table());
            } catch (IllegalArgumentException e) {
                problems.add("trigger field 'table': " + e.getMessage() + " (a table is written as in SQL: orders, "
                        + "public.orders, public.\"orderItems\")");
            }
        }
        for (String op : table.operations()) {
            if (!Trigger.Table.OPERATIONS.contains(op)) {
                problems.add("trigger field 'operations': unknown operation '" + op + "' (use insert, update, delete)");
            }
        }
        if (new HashSet<>(table.operations()).size() != table.operations().size()) {
            problems.add("trigger field 'operations': an operation is listed twice: " + table.operations());
        }
        for (String column : table.changed()) {
            try {
                TableName.column(column);
            } catch (IllegalArgumentException e) {
                problems.add("trigger field 'changed': " + e.getMessage() + " (a column is written as in SQL: status, \"createdAt\")");
            }
        }
        if (!table.changed().isEmpty() && !table.operations().contains("update")) {
            problems.add("trigger field 'changed': only applies to updates, but 'operations' is " + table.operations());
        }
        if (table.condition() != null) {
            try {
                Expressions.compile(table.condition());
            } catch (IllegalArgumentException e) {
                problems.add("trigger field 'condition': " + e.getMessage());
            }
        }
        return problems;
    }

    /** Counts JDBC '?' placeholders outside quoted strings and identifiers. */
    static long countPlaceholders(String sql) {
        long count = 0;
        char quote = 0;
        for (int i = 0; i < sql.length(); i++) {
            char c = sql.charAt(i);
            if (quote != 0) {
                if (c == quote) {
                    quote = 0;
                }
            } else if (c == '\'' || c == '"') {
                quote = c;
            } else if (c == '?') {
                count++;
            }
        }
        return count;
    }

    /**
     * Every node must be reachable from start; the graph must have no cycle (a loop node repeats
     * work); and every node must belong to one scope: the main path or one region (a parallel
     * branch or a loop body, see {@link Node}).
     */
    private static void checkGraph(Workflow wf, Map<String, Node> byId, List<String> problems) {
        Set<String> reached = new HashSet<>();
        Deque<String> todo = new ArrayDeque<>(List.of(wf.start()));
        while (!todo.isEmpty()) {
            String id = todo.pop();
            if (reached.add(id)) {
                todo.addAll(byId.get(id).successors());
            }
        }
        for (Node node : wf.nodes()) {
            if (!reached.contains(node.id())) {
                problems.add("node '" + node.id() + "': unreachable from start node '" + wf.start() + "'");
            }
        }
        Map<String, Integer> state = new HashMap<>();
        for (Node node : wf.nodes()) {
            String cycle = findCycle(node.id(), byId, state, new ArrayDeque<>());
            if (cycle != null) {
                problems.add("nodes form a cycle (" + cycle + "); use a loop node to repeat work");
                return;
            }
        }
        checkRegions(wf, byId, problems);
    }

    /**
     * A region is what a parallel branch or a loop body runs: the nodes reached from its first
     * node without passing through its owner's {@code next}, where a nested parallel or loop
     * contributes only its own {@code next} (its branches or body are regions of their own). The
     * main path is the same walk from the start node. A node in two of these would run once per
     * branch, per iteration or outside both, under different processed keys: refused.
     */
    private static void checkRegions(Workflow wf, Map<String, Node> byId, List<String> problems) {
        Map<String, String> scopeOf = new HashMap<>();
        Set<String> reported = new HashSet<>();
        walkScope("the main path from start node '" + wf.start() + "'", wf.start(), null, byId, scopeOf, reported, problems);
        for (Node node : wf.nodes()) {
            if (node instanceof Node.Parallel p) {
                for (String branch : p.branches()) {
                    walkScope("branch '" + branch + "' of parallel '" + p.id() + "'", branch, p.next(), byId, scopeOf, reported,
                            problems);
                }
            } else if (node instanceof Node.Loop loop) {
                walkScope("the body of loop '" + loop.id() + "'", loop.doNode(), loop.next(), byId, scopeOf, reported, problems);
            }
        }
    }

    private static void walkScope(String scope, String first, String ownerNext, Map<String, Node> byId, Map<String, String> scopeOf,
                                  Set<String> reported, List<String> problems) {
        Set<String> seen = new HashSet<>();
        Deque<String> todo = new ArrayDeque<>(List.of(first));
        while (!todo.isEmpty()) {
            String id = todo.pop();
            if (id.equals(ownerNext) && !id.equals(first)) {
                // The engine ends a branch where its last node has no follow-up (ADR 0013): a branch
                // that went on into the owner's next would run it once per branch.
                if (reported.add(scope + "->" + id)) {
                    problems.add(scope + " leads into '" + id + "', which follows its " + (scope.startsWith("branch") ? "join" : "loop")
                            + "; end the " + (scope.startsWith("branch") ? "branch" : "body") + " with a node without 'next' instead "
                            + "('" + id + "' runs once after it)");
                }
                continue;
            }
            if (!seen.add(id)) {
                continue;
            }
            String other = scopeOf.putIfAbsent(id, scope);
            if (other != null && reported.add(id)) {
                problems.add("node '" + id + "' is reached both from " + other + " and from " + scope
                        + "; a node belongs to one parallel branch or loop body at most, and then not to the path around it");
            }
            Node node = byId.get(id);
            if (node instanceof Node.Parallel p) {
                Optional.ofNullable(p.next()).ifPresent(todo::push);
            } else if (node instanceof Node.Loop loop) {
                Optional.ofNullable(loop.next()).ifPresent(todo::push);
            } else {
                node.successors().forEach(todo::push);
            }
        }
    }

    private static String findCycle(String id, Map<String, Node> byId, Map<String, Integer> state, Deque<String> path) {
        Integer s = state.get(id);
        if (s != null && s == 2) {
            return null;
        }
        path.addLast(id);
        if (s != null && s == 1) {
            return String.join(" -> ", path);
        }
        state.put(id, 1);
        for (String next : byId.get(id).successors()) {
            String cycle = findCycle(next, byId, state, path);
            if (cycle != null) {
                return cycle;
            }
        }
        state.put(id, 2);
        path.removeLast();
        return null;
    }
}
