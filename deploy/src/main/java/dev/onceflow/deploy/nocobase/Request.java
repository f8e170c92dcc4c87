package dev.onceflow.deploy.nocobase;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * NocoBase's {@code request} node as an Onceflow {@code http} node: method (NocoBase's default
 * POST), url and headers as templates, {@code params} appended to the url, {@code data} as a body
 * expression (types kept), {@code timeout} (NocoBase's default 5000 ms), {@code ignoreFail}.
 * Content types {@code application/json} and {@code text/plain} are translated;
 * {@code application/x-www-form-urlencoded} with written values too; others are not. Stateless.
 */
final class Request {

    static final long DEFAULT_TIMEOUT_MS = 5000;

    private Request() {
    }

    static void http(JsonNode c, Variables vars, ObjectNode node, List<String> approximations) {
        node.put("type", "http");
        String method = c.path("method").asText("POST").toUpperCase(java.util.Locale.ROOT);
        node.put("method", method);
        String url = c.path("url").asText("").trim();
        if (url.isEmpty()) {
            throw new NotImportable(vars.where() + " field 'url': empty");
        }
        StringBuilder u = new StringBuilder(vars.in("url").template(url));
        List<String> query = new ArrayList<>();
        boolean unencoded = false;
        for (JsonNode p : c.path("params")) {
            String name = p.path("name").asText("");
            if (name.isEmpty()) {
                continue;
            }
            String value = p.path("value").asText("").trim();
            if (Variables.hasVariables(value)) {
                query.add(encode(name) + "=" + vars.in("params." + name).template(value));
                unencoded = true;
            } else {
                query.add(encode(name) + "=" + encode(value).replace("${", "$${"));
            }
        }
        if (!query.isEmpty()) {
            u.append(url.contains("?") ? "&" : "?").append(String.join("&", query));
        }
        if (unencoded) {
            approximations.add(vars.where() + ": query parameters from variables are not URL-encoded");
        }
        node.put("url", u.toString());
        String contentType = c.path("contentType").asText("application/json");
        ObjectNode headers = node.putObject("headers");
        for (JsonNode h : c.path("headers")) {
            String name = h.path("name").asText("").trim();
            if (name.isEmpty() || name.equalsIgnoreCase("content-type")) {
                continue; // NocoBase sets Content-Type from contentType
            }
            if (name.equalsIgnoreCase(dev.onceflow.common.workflow.Node.Http.IDEMPOTENCY_KEY)) {
                approximations.add(vars.where() + ": header Idempotency-Key dropped: Onceflow sends its own (the processed key)");
                continue;
            }
            headers.put(name, vars.in("headers." + name).template(h.path("value").asText("").trim()));
        }
        JsonNode data = c.get("data");
        boolean hasBody = !method.equals("GET") && data != null && !data.isNull();
        if (hasBody) {
            headers.put("Content-Type", contentType);
            switch (contentType) {
                case "application/json", "text/plain" -> node.put("body", vars.in("data").expression(data));
                case "application/x-www-form-urlencoded" -> node.put("body", form(data, vars, approximations));
                default -> throw new NotImportable(vars.where() + " field 'contentType': " + contentType
                        + " (translated: application/json, text/plain, application/x-www-form-urlencoded)");
            }
            if (data.isTextual() && contentType.equals("application/json")) {
                approximations.add(vars.where() + ": the JSON body is text with variables inserted as text");
            }
        }
        long timeout = c.path("timeout").asLong(DEFAULT_TIMEOUT_MS);
        node.put("timeoutMs", timeout <= 0 ? DEFAULT_TIMEOUT_MS : timeout);
        if (c.path("ignoreFail").asBoolean(false)) {
            node.put("ignoreFail", true);
        }
    }

    /** {@code [{name, value}]} as an urlencoded body expression. */
    private static String form(JsonNode data, Variables vars, List<String> approximations) {
        if (!data.isArray()) {
            throw new NotImportable(vars.where() + " field 'data': a form body must be a list of {name, value}, got " + data);
        }
        List<String> parts = new ArrayList<>();
        boolean unencoded = false;
        for (JsonNode f : data) {
            String name = f.path("name").asText("");
            if (name.isEmpty() || f.get("value") == null) {
                continue;
            }
            String value = f.path("value").asText("");
            if (Variables.hasVariables(value)) {
                parts.add(Variables.literal(encode(name) + "=") + " + " + vars.in("data." + name).expression(value));
                unencoded = true;
            } else {
                parts.add(Variables.literal(encode(name) + "=" + encode(value)));
            }
        }
        if (unencoded) {
            approximations.add(vars.where() + ": form values from variables are not URL-encoded");
        }
        return parts.isEmpty() ? "''" : String.join(" + '&' + ", parts);
    }

    private static String encode(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }
}
