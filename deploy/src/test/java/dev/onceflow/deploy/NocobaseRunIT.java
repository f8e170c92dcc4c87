package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.sun.net.httpserver.HttpServer;
import dev.onceflow.common.Json;
import dev.onceflow.deploy.nocobase.NocoSource;
import dev.onceflow.deploy.nocobase.NocobaseImport;
import dev.onceflow.dispatcher.Dispatcher;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Imported NocoBase workflows, run: NocoBase-shaped tables (camelCase columns, {@code createdAt}),
 * a collection workflow with a rejecting condition, a create, a query, a loop of updates and a
 * condition with branches followed by a node; and a custom-action workflow whose request answers
 * 503 under {@code ignoreFail}. Rows inserted as the application would insert them; then each
 * effect is checked against what NocoBase's semantics say, once each.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class NocobaseRunIT {

    @RegisterExtension
    final Fleet fleet = new Fleet(TestInfra.embedded());

    @Test
    void importedWorkflowsRunAsNocoBaseWouldAndEachEffectHappensOnce(@TempDir Path dir) throws Exception {
        String s = UUID.randomUUID().toString().replace("-", "").substring(0, 8);
        String posts = "nbposts_" + s;
        String logs = "nblogs_" + s;
        String lines = "nblines_" + s;
        Scripts.run(fleet.ds, """
                CREATE TABLE %1$s (id bigint PRIMARY KEY, title text, status text, score int, featured boolean DEFAULT false,
                    "createdAt" timestamptz, "updatedAt" timestamptz);
                CREATE TABLE %2$s (id bigserial PRIMARY KEY, "postId" bigint, note text, "createdAt" timestamptz NOT NULL,
                    "updatedAt" timestamptz NOT NULL);
                CREATE TABLE %3$s (id bigint PRIMARY KEY, "postId" bigint, state text, position int, "updatedAt" timestamptz);
                INSERT INTO %3$s (id, "postId", state) VALUES (1, 1, 'open'), (2, 1, 'open'), (3, 1, 'closed'), (4, 3, 'closed');
                """.formatted(posts, logs, lines));
        HttpServer receiver = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 8);
        AtomicInteger calls = new AtomicInteger();
        receiver.createContext("/", x -> {
            calls.incrementAndGet();
            byte[] body = "{\"error\": \"maintenance\"}".getBytes(StandardCharsets.UTF_8);
            x.sendResponseHeaders(503, body.length);
            x.getResponseBody().write(body);
            x.close();
        });
        receiver.start();
        try {
            Path json = dir.resolve("workflows.json");
            Files.writeString(json, nocobase(s, posts, logs, lines, "http://127.0.0.1:" + receiver.getAddress().getPort() + "/hook"));
            List<NocobaseImport.Outcome> outcomes = NocobaseImport.translate(NocoSource.fromJson(json),
                    new NocobaseImport.Settings("UTC", Instant.now()));
            assertThat(outcomes).allSatisfy(o -> assertThat(o.reasons()).as(o.source().key()).isEmpty());
            String onPosts = fleet.deployUntilClosed(outcomes.get(0).definition()).id();
            String onAction = fleet.deployUntilClosed(outcomes.get(1).definition()).id();

            fleet.startEngine(2);
            Dispatcher d = fleet.startDispatcher();
            await().atMost(Duration.ofSeconds(60)).until(() -> d.captureStatus().capturing("public." + posts));

            // post 1: published, big → logged, its open lines done, featured; post 2: a draft → rejected;
            // post 3: published, small → logged with 'small'
            Scripts.run(fleet.ds, ("INSERT INTO %s (id, title, status, score, \"createdAt\", \"updatedAt\") VALUES "
                    + "(1, 'P1', 'published', 150, now(), now()), (2, 'P2', 'draft', 50, now(), now())").formatted(posts));
            Scripts.run(fleet.ds, "INSERT INTO %s (id, title, status, score, \"createdAt\", \"updatedAt\") VALUES (3, 'P3', 'published', 20, now(), now())"
                    .formatted(posts));
            HttpClient http = HttpClient.newHttpClient();
            String url = "http://localhost:" + d.httpPort() + "/api/workflows/" + onAction + "/trigger";
            await().atMost(Duration.ofSeconds(30)).until(() -> post(http, url, "warm-up").statusCode() != 404);
            for (int i = 0; i < 2; i++) {
                assertThat(post(http, url, "act-1").statusCode()).isEqualTo(202);
            }

            await().atMost(Duration.ofSeconds(90)).until(() -> fleet.finished(onPosts) >= 3 && fleet.finished(onAction) >= 2);
            await().during(Duration.ofSeconds(2)).atMost(Duration.ofSeconds(30))
                    .until(() -> fleet.executions(onPosts) == 3 && fleet.executions(onAction) == 2);
            assertThat(fleet.succeeded(onPosts)).isEqualTo(2);
            assertThat(fleet.count("SELECT count(*) FROM executions WHERE workflow_id = ? AND status = 'failed' AND error LIKE ?",
                    onPosts, "%rejectOnFalse%")).as("the draft, rejected by the condition").isEqualTo(1);

            assertThat(notes(logs, 1)).containsExactlyInAnyOrder("created: P1", "tally " + logId(logs, 1, "created: P1"));
            assertThat(notes(logs, 2)).isEmpty();
            assertThat(notes(logs, 3)).containsExactlyInAnyOrder("created: P3", "small", "tally " + logId(logs, 3, "created: P3"));
            assertThat(fleet.count("SELECT count(*) FROM " + lines + " WHERE \"postId\" = 1 AND state = 'done'")).isEqualTo(2);
            assertThat(fleet.count("SELECT count(*) FROM " + lines + " WHERE id = 1 AND position = 0")).isEqualTo(1);
            assertThat(fleet.count("SELECT count(*) FROM " + lines + " WHERE id = 2 AND position = 1")).isEqualTo(1);
            assertThat(fleet.count("SELECT count(*) FROM " + lines + " WHERE id = 3 AND state = 'closed'")).isEqualTo(1);
            assertThat(fleet.count("SELECT count(*) FROM " + posts + " WHERE featured")).as("only the big one").isEqualTo(1);
            // the request answered 503; ignoreFail resolved it and the next node saw the status; the keyed call ran once
            assertThat(notes(logs, 42)).as("the warm-up call and act-1 (sent twice), once each").containsExactly("status 503", "status 503");
            assertThat(fleet.succeeded(onAction)).isEqualTo(2);
            assertThat(calls.get()).as("the warm-up call and act-1, once").isEqualTo(2);
        } finally {
            receiver.stop(0);
        }
    }

    private List<String> notes(String logs, long postId) throws Exception {
        List<String> out = new java.util.ArrayList<>();
        try (var c = fleet.ds.getConnection(); var q = c.prepareStatement("SELECT note FROM " + logs + " WHERE \"postId\" = ? ORDER BY id")) {
            q.setLong(1, postId);
            try (var rs = q.executeQuery()) {
                while (rs.next()) {
                    out.add(rs.getString(1));
                }
            }
        }
        return out;
    }

    private long logId(String logs, long postId, String note) throws Exception {
        try (var c = fleet.ds.getConnection(); var q = c.prepareStatement("SELECT id FROM " + logs + " WHERE \"postId\" = ? AND note = ?")) {
            q.setLong(1, postId);
            q.setString(2, note);
            try (var rs = q.executeQuery()) {
                assertThat(rs.next()).isTrue();
                return rs.getLong(1);
            }
        }
    }

    private static HttpResponse<String> post(HttpClient http, String url, String key) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(url)).header("Authorization", "Bearer " + TestInfra.TOKEN)
                .header("Idempotency-Key", key).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"data\": {\"id\": 42}}")).build(), HttpResponse.BodyHandlers.ofString());
    }

    /** Two NocoBase workflows as its REST API returns them; the keys sort the collection one first. */
    private static String nocobase(String s, String posts, String logs, String lines, String hook) {
        return Json.text(Json.tree("""
                {"data": [
                 {"id": 1, "key": "a%1$s", "title": "Post created", "type": "collection", "enabled": true, "current": true,
                  "config": {"mode": 1, "collection": "%2$s"},
                  "nodes": [
                   {"id": 11, "key": "chk", "type": "condition", "upstreamId": null, "branchIndex": null, "downstreamId": 12,
                    "config": {"rejectOnFalse": true, "engine": "basic", "calculation": {"group": {"type": "and", "calculations": [
                      {"calculator": "notEqual", "operands": ["{{$context.data.status}}", "draft"]},
                      {"calculator": "gte", "operands": ["{{$context.data.score}}", 10]}]}}}},
                   {"id": 12, "key": "log", "type": "create", "upstreamId": 11, "branchIndex": null, "downstreamId": 13,
                    "config": {"collection": "%3$s", "params": {"values": {"postId": "{{$context.data.id}}", "note": "created: {{$context.data.title}}"}}}},
                   {"id": 13, "key": "lines", "type": "query", "upstreamId": 12, "branchIndex": null, "downstreamId": 14,
                    "config": {"collection": "main:%4$s", "multiple": true, "params": {"filter": {"$and": [
                      {"postId": {"$eq": "{{$context.data.id}}"}}, {"state": {"$in": ["open"]}}]}, "sort": [{"field": "id", "direction": "asc"}]}}},
                   {"id": 14, "key": "each", "type": "loop", "upstreamId": 13, "branchIndex": null, "downstreamId": 16,
                    "config": {"target": "{{$jobsMapByNodeKey.lines}}"}},
                   {"id": 15, "key": "upd", "type": "update", "upstreamId": 14, "branchIndex": 0, "downstreamId": null,
                    "config": {"collection": "%4$s", "params": {"filter": {"id": {"$eq": "{{$scopes.each.item.id}}"}},
                      "values": {"state": "done", "position": "{{$scopes.each.index}}"}}}},
                   {"id": 16, "key": "big", "type": "condition", "upstreamId": 14, "branchIndex": null, "downstreamId": 19,
                    "config": {"rejectOnFalse": false, "engine": "math.js", "expression": "{{$context.data.score}} >= 100"}},
                   {"id": 17, "key": "feat", "type": "update", "upstreamId": 16, "branchIndex": 1, "downstreamId": null,
                    "config": {"collection": "%2$s", "params": {"filter": {"id": "{{$context.data.id}}"}, "values": {"featured": true}}}},
                   {"id": 18, "key": "small", "type": "create", "upstreamId": 16, "branchIndex": 0, "downstreamId": null,
                    "config": {"collection": "%3$s", "params": {"values": {"postId": "{{$context.data.id}}", "note": "small"}}}},
                   {"id": 19, "key": "tally", "type": "create", "upstreamId": 16, "branchIndex": null, "downstreamId": null,
                    "config": {"collection": "%3$s", "params": {"values": {"postId": "{{$context.data.id}}", "note": "tally {{$jobsMapByNodeKey.log.id}}"}}}}
                  ]},
                 {"id": 2, "key": "b%1$s", "title": "Notify", "type": "custom-action", "enabled": true, "current": true,
                  "config": {"type": 0},
                  "nodes": [
                   {"id": 21, "key": "r", "type": "request", "upstreamId": null, "branchIndex": null, "downstreamId": 22,
                    "config": {"method": "POST", "url": "%5$s", "data": {"id": "{{$context.data.id}}"}, "ignoreFail": true, "timeout": 5000}},
                   {"id": 22, "key": "seen", "type": "create", "upstreamId": 21, "branchIndex": null, "downstreamId": null,
                    "config": {"collection": "%3$s", "params": {"values": {"postId": "{{$context.data.id}}", "note": "status {{$jobsMapByNodeKey.r.status}}"}}}}
                  ]}
                ]}""".formatted(s, posts, logs, lines, hook)));
    }
}
