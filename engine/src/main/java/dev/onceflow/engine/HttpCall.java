package dev.onceflow.engine;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.common.Json;
import dev.onceflow.common.workflow.Expressions;
import dev.onceflow.common.workflow.Node;
import dev.onceflow.common.workflow.Templates;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * An {@code http} node's call (design, "HTTP"): the request rendered from the node's templates when
 * its processed key is claimed, sent after that claim has committed with the header
 * {@code Idempotency-Key: <processed key>} — never without it — and its response turned into the
 * node's result: 2xx succeeds with {@code {status, headers, body}} (body as JSON when it parses,
 * else text), any other status fails with the status as the error class ({@code 503}, which a
 * retry policy's {@code 5xx} matches), a timeout with {@code timeout}, a refused or broken
 * connection with {@code connection}. A node with {@code ignoreFail} succeeds instead, with the
 * failure in its output ({@link #failed}). Immutable; the client is shared and thread-safe.
 */
final class HttpCall {

    /** The request, rendered once at the claim; {@code ignoreFail}: a failed call succeeds the node (see {@link #failed}). */
    record Request(String method, URI url, Map<String, String> headers, byte[] body, long timeoutMs, long maxResponseBytes,
                   boolean ignoreFail) {
        Request(String method, URI url, Map<String, String> headers, byte[] body, long timeoutMs, long maxResponseBytes) {
            this(method, url, headers, body, timeoutMs, maxResponseBytes, false);
        }
    }

    static final String CONTENT_TYPE = "Content-Type";

    private HttpCall() {
    }

    /**
     * Renders the node's request.
     *
     * @throws IllegalArgumentException naming the node and field: a template or expression that
     *                                  fails, a URL that is not http(s), a host not allowed
     */
    static Request render(Node.Http node, Map<String, Object> variables, List<String> allowedHosts) {
        String rendered = Templates.render(node.url(), variables);
        URI url;
        try {
            url = URI.create(rendered.trim());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("http '" + node.id() + "': url '" + rendered + "' is not a URL: " + e.getMessage());
        }
        String scheme = url.getScheme() == null ? "" : url.getScheme().toLowerCase(Locale.ROOT);
        if (!scheme.equals("http") && !scheme.equals("https")) {
            throw new IllegalArgumentException("http '" + node.id() + "': url '" + rendered + "' is not an http or https URL");
        }
        if (url.getHost() == null) {
            throw new IllegalArgumentException("http '" + node.id() + "': url '" + rendered + "' has no host");
        }
        if (!allowed(url.getHost(), allowedHosts)) {
            throw new IllegalArgumentException("http '" + node.id() + "': host '" + url.getHost()
                    + "' is not in engine.http.allowed.hosts " + allowedHosts);
        }
        Map<String, String> headers = new LinkedHashMap<>();
        node.headers().forEach((name, template) -> headers.put(name, Templates.render(template, variables)));
        byte[] body = null;
        JsonNode template = node.body();
        if (template != null) {
            if (node.bodyIsExpression()) {
                Object value = Expressions.evaluate(template.asText(), variables);
                if (value instanceof String text) {
                    body = text.getBytes(StandardCharsets.UTF_8);
                    headers.putIfAbsent(CONTENT_TYPE, "text/plain; charset=utf-8");
                } else {
                    body = Json.bytes(Json.MAPPER.valueToTree(value));
                    headers.putIfAbsent(CONTENT_TYPE, "application/json");
                }
            } else {
                body = Json.bytes(Templates.renderJson(template, variables));
                headers.putIfAbsent(CONTENT_TYPE, "application/json");
            }
        }
        return new Request(node.method(), url, headers, body, node.timeoutMs(), node.maxResponseBytes(), node.ignoreFail());
    }

    static boolean allowed(String host, List<String> allowedHosts) {
        if (allowedHosts.isEmpty()) {
            return true;
        }
        String h = host.toLowerCase(Locale.ROOT);
        for (String a : allowedHosts) {
            String rule = a.toLowerCase(Locale.ROOT);
            if (rule.startsWith("*.") ? h.endsWith(rule.substring(1)) : h.equals(rule)) {
                return true;
            }
        }
        return false;
    }

    /** Sends the request with {@code Idempotency-Key: key}; the future completes with the node's result, never exceptionally. */
    static CompletableFuture<NodeResult> send(HttpClient client, Request r, String key, String nodeId) {
        return send(client, r, key, nodeId, null);
    }

    /**
     * The same, with the W3C {@code traceparent} (ADR 0019) unless null or the node sets that
     * header itself.
     */
    static CompletableFuture<NodeResult> send(HttpClient client, Request r, String key, String nodeId, String traceparent) {
        HttpRequest.Builder b = HttpRequest.newBuilder(r.url()).timeout(Duration.ofMillis(r.timeoutMs()))
                .header(Node.Http.IDEMPOTENCY_KEY, key)
                .method(r.method(), r.body() == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofByteArray(r.body()));
        r.headers().forEach(b::header);
        if (traceparent != null && r.headers().keySet().stream().noneMatch(dev.onceflow.common.tracing.Traceparent.HEADER::equalsIgnoreCase)) {
            b.header(dev.onceflow.common.tracing.Traceparent.HEADER, traceparent);
        }
        String target = r.method() + " " + r.url();
        try {
            return client.sendAsync(b.build(), HttpResponse.BodyHandlers.ofInputStream())
                    .thenApply(response -> result(response, r, target))
                    .exceptionally(e -> failure(e instanceof CompletionException && e.getCause() != null ? e.getCause() : e, target, r))
                    .orTimeout(r.timeoutMs() + 5_000, java.util.concurrent.TimeUnit.MILLISECONDS)
                    .exceptionally(e -> failure(e, target, r));
        } catch (IllegalArgumentException e) {
            return CompletableFuture.completedFuture(new NodeResult.Failed("http '" + nodeId + "': " + target + ": " + e.getMessage()));
        }
    }

    private static NodeResult result(HttpResponse<InputStream> response, Request r, String target) {
        byte[] bytes;
        try (InputStream in = response.body()) {
            bytes = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, r.maxResponseBytes() + 1));
        } catch (IOException e) {
            return failure(e, target, r);
        }
        if (bytes.length > r.maxResponseBytes()) {
            return failed(target + " answered " + response.statusCode() + " with a body over maxResponseBytes ("
                    + r.maxResponseBytes() + ")", "response-too-large", null, r);
        }
        ObjectNode out = JsonNodeFactory.instance.objectNode().put("status", response.statusCode());
        ObjectNode headers = out.putObject("headers");
        response.headers().map().forEach((name, values) -> {
            if (!values.isEmpty()) {
                headers.put(name.toLowerCase(Locale.ROOT), values.get(0));
            }
        });
        String text = new String(bytes, StandardCharsets.UTF_8);
        JsonNode body;
        try {
            body = text.isBlank() ? JsonNodeFactory.instance.nullNode() : Json.tree(text);
        } catch (RuntimeException notJson) {
            body = JsonNodeFactory.instance.textNode(text);
        }
        out.set("body", body);
        int status = response.statusCode();
        if (status >= 200 && status < 300) {
            return NodeResult.Succeeded.continueWith(out, List.of());
        }
        String excerpt = text.length() > 300 ? text.substring(0, 300) + "…" : text;
        return failed(target + " answered " + status + (excerpt.isBlank() ? "" : ": " + excerpt), String.valueOf(status), out, r);
    }

    /**
     * A failed call's result: {@link NodeResult.Failed}, or for an {@code ignoreFail} node (NocoBase's
     * request node with "ignore failure") a success whose output carries {@code error} and
     * {@code errorClass} beside the answer's {@code status}, {@code headers} and {@code body} when
     * there was an answer (a timeout or a broken connection has none: {@code status} is null).
     */
    private static NodeResult failed(String error, String errorClass, ObjectNode answer, Request r) {
        if (!r.ignoreFail()) {
            return new NodeResult.Failed(error, false, errorClass);
        }
        ObjectNode out = answer != null ? answer : JsonNodeFactory.instance.objectNode().putNull("status");
        out.put("error", error);
        out.put("errorClass", errorClass);
        return NodeResult.Succeeded.continueWith(out, List.of());
    }

    /** Whether a failure of this class leaves the call's outcome unknown: it may have reached the receiver. */
    static boolean outcomeUnknown(String errorClass) {
        return "timeout".equals(errorClass) || "connection".equals(errorClass);
    }

    private static NodeResult failure(Throwable e, String target, Request r) {
        if (e instanceof HttpTimeoutException || e instanceof java.util.concurrent.TimeoutException) {
            return failed(target + ": " + CallFailure.describe(e, r.url(), r.timeoutMs()), "timeout", null, r);
        }
        return failed(target + ": " + CallFailure.describe(e, r.url(), r.timeoutMs()), "connection", null, r);
    }
}
