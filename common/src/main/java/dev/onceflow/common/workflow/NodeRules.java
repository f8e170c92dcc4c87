package dev.onceflow.common.workflow;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The field rules of each node type, checked at deploy by {@link WorkflowValidator} (which checks
 * the graph as a whole). Every problem names the node and the field: {@code node 'call' field
 * 'timeoutMs': must be between 1 and 600000, got 0}. Stateless.
 */
final class NodeRules {

    /** An HTTP header name (RFC 9110 token). */
    private static final Pattern HEADER_NAME = Pattern.compile("[!#$%&'*+.^_`|~0-9A-Za-z-]+");
    private static final Pattern VARIABLE = Pattern.compile(Node.Calculation.NAME);

    private NodeRules() {
    }

    static void check(Node node, Map<String, Node> byId, List<String> problems) {
        String where = "node '" + node.id() + "'";
        if (node instanceof Node.Sql sql) {
            sql(where, sql, byId, problems);
        } else if (node instanceof Node.Condition c) {
            expression(where + " field 'if'", c.expression(), problems);
            reference(where + " field 'then'", c.thenNode(), byId, problems);
            reference(where + " field 'else'", c.elseNode(), byId, problems);
        } else if (node instanceof Node.Calculation calculation) {
            calculation(where, calculation, byId, problems);
        } else if (node instanceof Node.Delay delay) {
            delay(where, delay, byId, problems);
        } else if (node instanceof Node.Http http) {
            http(where, http, byId, problems);
        } else if (node instanceof Node.Parallel parallel) {
            parallel(where, parallel, byId, problems);
        } else if (node instanceof Node.Loop loop) {
            loop(where, loop, byId, problems);
        } else if (node instanceof Node.End end) {
            if (!end.status().equals("succeeded") && !end.status().equals("failed")) {
                problems.add(where + " field 'status': must be 'succeeded' or 'failed', got '" + end.status() + "'");
            }
            if (end.message() != null) {
                template(where + " field 'message'", end.message(), problems);
            }
        }
        if (node.retry() != null) {
            retry(where, node.retry(), problems);
        }
    }

    private static void sql(String where, Node.Sql sql, Map<String, Node> byId, List<String> problems) {
        if (sql.sql() == null || sql.sql().isBlank()) {
            problems.add(where + " field 'sql': missing");
        } else {
            String statement = SqlStatements.problem(sql.sql());
            if (statement != null) {
                problems.add(where + " field 'sql': " + statement);
            }
            long placeholders = WorkflowValidator.countPlaceholders(sql.sql());
            if (placeholders != sql.params().size()) {
                problems.add(where + " field 'params': the statement has " + placeholders
                        + " '?' placeholders but " + sql.params().size() + " params are given");
            }
        }
        for (int i = 0; i < sql.params().size(); i++) {
            expression(where + " field 'params[" + i + "]'", sql.params().get(i), problems);
        }
        reference(where + " field 'next'", sql.next(), byId, problems);
        if (sql.timeoutMs() != null && sql.timeoutMs() < 1) {
            problems.add(where + " field 'timeoutMs': must be positive");
        }
    }

    private static void calculation(String where, Node.Calculation c, Map<String, Node> byId, List<String> problems) {
        if (c.set().isEmpty()) {
            problems.add(where + " field 'set': sets no variable; give at least one name and expression");
        }
        for (Map.Entry<String, String> entry : c.set().entrySet()) {
            if (!VARIABLE.matcher(entry.getKey()).matches()) {
                problems.add(where + " field 'set': '" + entry.getKey() + "' is not a valid variable name"
                        + " (a letter or '_', then letters, digits and '_'; at most 63)");
            } else {
                expression(where + " field 'set." + entry.getKey() + "'", entry.getValue(), problems);
            }
        }
        reference(where + " field 'next'", c.next(), byId, problems);
    }

    private static void delay(String where, Node.Delay delay, Map<String, Node> byId, List<String> problems) {
        if ((delay.ms() == null) == (delay.until() == null)) {
            problems.add(where + " field 'ms' / 'until': give exactly one of them");
        } else if (delay.ms() != null) {
            range(where + " field 'ms'", delay.ms(), 0, Node.Delay.MAX_MS, problems);
        } else {
            expression(where + " field 'until'", delay.until(), problems);
        }
        reference(where + " field 'next'", delay.next(), byId, problems);
    }

    private static void http(String where, Node.Http http, Map<String, Node> byId, List<String> problems) {
        if (!Node.Http.METHODS.contains(http.method())) {
            problems.add(where + " field 'method': must be one of " + String.join(", ", Node.Http.METHODS)
                    + ", got '" + http.method() + "'");
        }
        if (http.url() == null || http.url().isBlank()) {
            problems.add(where + " field 'url': missing");
        } else if (template(where + " field 'url'", http.url(), problems) && Templates.isLiteral(http.url())) {
            String problem = literalUrlProblem(Templates.render(http.url(), Map.of()));
            if (problem != null) {
                problems.add(where + " field 'url': " + problem);
            }
        }
        Set<String> seen = new HashSet<>();
        for (Map.Entry<String, String> header : http.headers().entrySet()) {
            String name = header.getKey();
            String field = where + " field 'headers." + name + "'";
            if (!HEADER_NAME.matcher(name).matches()) {
                problems.add(where + " field 'headers': '" + name + "' is not a valid HTTP header name");
            } else if (name.equalsIgnoreCase(Node.Http.IDEMPOTENCY_KEY)) {
                problems.add(field + ": the engine sets " + Node.Http.IDEMPOTENCY_KEY
                        + " (the node's processed key); a node may not set it");
            } else if (!seen.add(name.toLowerCase(Locale.ROOT))) {
                problems.add(field + ": declared twice (header names ignore case)");
            } else if (header.getValue() == null) {
                problems.add(field + ": missing value");
            } else {
                template(field, header.getValue(), problems);
            }
        }
        if (http.body() != null) {
            if (http.bodyIsExpression()) {
                expression(where + " field 'body'", http.body().textValue(), problems);
            } else if (http.body().isContainerNode()) {
                jsonTemplate(where, "body", http.body(), problems);
            } else {
                problems.add(where + " field 'body': must be a string (an expression) or a JSON object or array (a template),"
                        + " got " + http.body());
            }
        }
        range(where + " field 'timeoutMs'", http.timeoutMs(), 1, Node.Http.MAX_TIMEOUT_MS, problems);
        if (!http.onUnknownOutcome().equals(Node.Http.FAIL) && !http.onUnknownOutcome().equals(Node.Http.RETRY)) {
            problems.add(where + " field 'onUnknownOutcome': must be 'fail' or 'retry', got '" + http.onUnknownOutcome() + "'");
        }
        range(where + " field 'maxResponseBytes'", http.maxResponseBytes(), 1, Node.Http.MAX_RESPONSE_BYTES, problems);
        reference(where + " field 'next'", http.next(), byId, problems);
    }

    /** Why a literal URL cannot be called, or null: it must be absolute, http or https, with a host. */
    static String literalUrlProblem(String url) {
        URI uri;
        try {
            uri = new URI(url);
        } catch (URISyntaxException e) {
            return "'" + url + "' is not a URL: " + e.getMessage();
        }
        String scheme = uri.getScheme();
        if (scheme == null || !(scheme.equalsIgnoreCase("http") || scheme.equalsIgnoreCase("https"))) {
            return "'" + url + "': the scheme must be http or https, got " + (scheme == null ? "none" : "'" + scheme + "'");
        }
        if (uri.getHost() == null) {
            return "'" + url + "' has no host";
        }
        return null;
    }

    private static void parallel(String where, Node.Parallel p, Map<String, Node> byId, List<String> problems) {
        if (p.branches().isEmpty()) {
            problems.add(where + " field 'branches': a parallel node needs at least one branch");
        } else if (p.branches().size() > Node.Parallel.MAX_BRANCHES) {
            problems.add(where + " field 'branches': at most " + Node.Parallel.MAX_BRANCHES + " branches, got " + p.branches().size());
        }
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < p.branches().size(); i++) {
            String field = where + " field 'branches[" + i + "]'";
            String branch = p.branches().get(i);
            if (branch == null) {
                problems.add(field + ": missing");
            } else if (!seen.add(branch)) {
                problems.add(field + ": '" + branch + "' is listed twice");
            } else {
                regionStart(field, branch, p, byId, problems);
            }
        }
        if (!p.join().equals(Node.Parallel.ALL) && !p.join().equals(Node.Parallel.ANY)) {
            problems.add(where + " field 'join': must be 'all' or 'any', got '" + p.join() + "'");
        }
        reference(where + " field 'next'", p.next(), byId, problems);
    }

    private static void loop(String where, Node.Loop loop, Map<String, Node> byId, List<String> problems) {
        expression(where + " field 'items'", loop.items(), problems);
        if (loop.doNode() == null) {
            problems.add(where + " field 'do': missing");
        } else {
            regionStart(where + " field 'do'", loop.doNode(), loop, byId, problems);
        }
        range(where + " field 'maxItems'", loop.maxItems(), 1, Node.Loop.MAX_ITEMS, problems);
        reference(where + " field 'next'", loop.next(), byId, problems);
    }

    /** The first node of a branch or loop body: an existing node, neither the owner nor the owner's {@code next}. */
    private static void regionStart(String field, String start, Node owner, Map<String, Node> byId, List<String> problems) {
        String next = owner instanceof Node.Parallel p ? p.next() : ((Node.Loop) owner).next();
        if (start.equals(owner.id())) {
            problems.add(field + ": '" + start + "' is the node itself");
        } else if (start.equals(next)) {
            problems.add(field + ": '" + start + "' is also the node's 'next', which runs after "
                    + (owner instanceof Node.Parallel ? "the join" : "the last iteration"));
        } else {
            reference(field, start, byId, problems);
        }
    }

    private static void retry(String where, RetryPolicy retry, List<String> problems) {
        String field = where + " field 'retry.";
        range(field + "attempts'", retry.attempts(), 1, RetryPolicy.MAX_ATTEMPTS, problems);
        range(field + "backoffMs'", retry.backoffMs(), 0, RetryPolicy.MAX_WAIT_MS, problems);
        range(field + "maxBackoffMs'", retry.maxBackoffMs(), 0, RetryPolicy.MAX_WAIT_MS, problems);
        if (retry.maxBackoffMs() < retry.backoffMs()) {
            problems.add(field + "maxBackoffMs': must be at least 'retry.backoffMs' (" + retry.backoffMs() + "), got "
                    + retry.maxBackoffMs() + (retry.maxBackoffMs() == RetryPolicy.DEFAULT_MAX_BACKOFF_MS ? " (the default)" : ""));
        }
        if (!(retry.jitter() >= 0.0 && retry.jitter() <= 1.0)) {
            problems.add(field + "jitter': must be between 0.0 and 1.0, got " + retry.jitter());
        }
        if (retry.on().isEmpty()) {
            problems.add(field + "on': names no error class; leave it out for the default " + RetryPolicy.DEFAULT_ON);
        }
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < retry.on().size(); i++) {
            String entry = retry.on().get(i);
            if (entry == null || !(RetryPolicy.WORDS.contains(entry) || RetryPolicy.SQLSTATE.matcher(entry).matches()
                    || RetryPolicy.SQLSTATE_CLASS.matcher(entry).matches())) {
                problems.add(field + "on[" + i + "]': " + (entry == null ? "missing" : "unknown error class '" + entry + "'")
                        + " (use " + String.join(", ", RetryPolicy.WORDS)
                        + ", a SQLSTATE such as 40001 or a SQLSTATE class such as 08; upper-case letters)");
            } else if (!seen.add(entry)) {
                problems.add(field + "on': '" + entry + "' is listed twice");
            }
        }
    }

    /** Checks every string value of a JSON template, naming its path ({@code body.items[0].name}). */
    private static void jsonTemplate(String where, String path, JsonNode template, List<String> problems) {
        if (template.isTextual()) {
            template(where + " field '" + path + "'", template.textValue(), problems);
        } else if (template.isObject()) {
            for (Iterator<Map.Entry<String, JsonNode>> fields = template.fields(); fields.hasNext(); ) {
                Map.Entry<String, JsonNode> field = fields.next();
                jsonTemplate(where, path + "." + field.getKey(), field.getValue(), problems);
            }
        } else if (template.isArray()) {
            for (int i = 0; i < template.size(); i++) {
                jsonTemplate(where, path + "[" + i + "]", template.get(i), problems);
            }
        }
    }

    private static void range(String field, Number value, long min, long max, List<String> problems) {
        if (value.longValue() < min || value.longValue() > max) {
            problems.add(field + ": must be between " + min + " and " + max + ", got " + value);
        }
    }

    private static void expression(String where, String expression, List<String> problems) {
        try {
            Expressions.compile(expression);
        } catch (IllegalArgumentException e) {
            problems.add(where + ": " + e.getMessage());
        }
    }

    /** Adds the template's problem, if any; true when it is a valid template. */
    private static boolean template(String where, String template, List<String> problems) {
        try {
            Templates.check(template);
            return true;
        } catch (IllegalArgumentException e) {
            problems.add(where + ": " + e.getMessage());
            return false;
        }
    }

    static void reference(String where, String target, Map<String, Node> byId, List<String> problems) {
        if (target != null && !byId.containsKey(target)) {
            problems.add(where + ": no node '" + target + "'");
        }
    }
}
