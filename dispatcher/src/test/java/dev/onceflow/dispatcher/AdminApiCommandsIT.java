package dev.onceflow.dispatcher;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.onceflow.common.Json;
import dev.onceflow.common.Migrations;
import dev.onceflow.common.OperatorCommand;
import dev.onceflow.common.Topics;
import dev.onceflow.common.WorkflowStore;
import dev.onceflow.common.http.RoleServer;
import dev.onceflow.common.local.LocalPostgres;
import dev.onceflow.common.workflow.Workflows;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import javax.sql.DataSource;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The admin API's operator commands (ADR 0025) over a real PostgreSQL, with Kafka's mock producer:
 * the API validates against the executions as stored and publishes a command keyed by the
 * execution's ordering key; it never changes an execution itself.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(180)
class AdminApiCommandsIT {

    @TempDir
    static Path dir;
    LocalPostgres pg;
    DataSource ds;
    final MockProducer<byte[], byte[]> producer = new MockProducer<>(true, null, new ByteArraySerializer(), new ByteArraySerializer());
    RoleServer server;
    final HttpClient http = HttpClient.newHttpClient();

    @BeforeAll
    void start() throws Exception {
        pg = LocalPostgres.start(dir.resolve("postgres"));
        ds = pg.dataSource();
        Migrations.apply(ds);
        new WorkflowStore(ds).deploy(Workflows.parse("wf", """
                {"id": "wf", "nodes": [{"type": "end", "id": "done", "status": "succeeded"}]}""".getBytes(StandardCharsets.UTF_8)));
        AdminApi admin = new AdminApi(ds, producer, new DeadLetterApi("localhost:1", producer),
                new FleetApi("localhost:1", "engines", "dispatchers", ds, "slot", () -> null), Clock.systemUTC());
        server = new RoleServer("127.0.0.1", 0, "t", new RoleServer.Role("test", () -> RoleServer.Health.up(Map.of()),
                () -> RoleServer.Health.up(Map.of()), () -> "", admin::routes));
    }

    @AfterAll
    void stop() {
        if (server != null) {
            server.close();
        }
        if (pg != null) {
            pg.close();
        }
    }

    @BeforeEach
    void clear() {
        producer.clear();
        producer.sendException = null;
    }

    long execution(String key, String status, String orderingKey) throws Exception {
        try (Connection c = ds.getConnection(); PreparedStatement ins = c.prepareStatement("INSERT INTO executions (event_key, workflow_id, "
                + "workflow_version, status, trigger, finished_at, ordering_key) VALUES (?, 'wf', 1, ?, '{}'::jsonb, "
                + "CASE WHEN ? IN ('running', 'queued') THEN NULL ELSE now() END, ?) RETURNING id")) {
            ins.setString(1, key);
            ins.setString(2, status);
            ins.setString(3, status);
            ins.setString(4, orderingKey);
            try (ResultSet rs = ins.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    String stored(String key) throws Exception {
        try (Connection c = ds.getConnection(); PreparedStatement q = c.prepareStatement("SELECT status || ' ' || coalesce(error, '-') "
                + "FROM executions WHERE event_key = ?")) {
            q.setString(1, key);
            try (ResultSet rs = q.executeQuery()) {
                return rs.next() ? rs.getString(1) : null;
            }
        }
    }

    HttpResponse<String> post(String key, String action, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/api/executions/"
                        + java.net.URLEncoder.encode(key, StandardCharsets.UTF_8) + "/" + action))
                .header("Authorization", "Bearer t")
                .POST(body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void aCancelIsPublishedKeyedByTheOrderingKeyAndChangesNothingItself() throws Exception {
        long id = execution("wf@1#a", "running", "wf/row-1");

        HttpResponse<String> r = post("wf@1#a", "cancel", "{\"reason\": \"bad data\"}");

        assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
        List<ProducerRecord<byte[], byte[]>> sent = producer.history();
        assertThat(sent).singleElement().satisfies(record -> {
            assertThat(record.topic()).isEqualTo(Topics.TASKS);
            assertThat(new String(record.key(), StandardCharsets.UTF_8)).as("on the partition of the execution's tasks").isEqualTo("wf/row-1");
            assertThat(new String(record.headers().lastHeader(Topics.H_COMMAND).value(), StandardCharsets.UTF_8)).isEqualTo("cancel");
            OperatorCommand command = Json.read(record.value(), OperatorCommand.class);
            assertThat(command.eventKey()).isEqualTo("wf@1#a");
            assertThat(command.executionId()).isEqualTo(id);
            assertThat(command.reason()).isEqualTo("bad data");
            assertThat(command.id()).isEqualTo(Json.tree(r.body()).get("commandId").asText());
        });
        assertThat(stored("wf@1#a")).as("the engine applies it; the API wrote nothing").isEqualTo("running -");
    }

    @Test
    void aCancelOfAnEndedOrUnknownExecutionIsRefusedWithTheReasonAndNothingIsPublished() throws Exception {
        execution("wf@2#done", "succeeded", null);

        HttpResponse<String> ended = post("wf@2#done", "cancel", null);
        HttpResponse<String> unknown = post("wf@2#nobody", "cancel", null);

        assertThat(ended.statusCode()).isEqualTo(409);
        assertThat(Json.tree(ended.body()).get("error").asText()).contains("is already succeeded");
        assertThat(unknown.statusCode()).isEqualTo(404);
        assertThat(producer.history()).isEmpty();
    }

    @Test
    void aRetryNamesTheFailedNodeAndItsNextAttemptAndIsKeyedByTheEventKeyWithoutAnOrderingKey() throws Exception {
        long id = execution("wf@3#f", "failed", null);
        try (Connection c = ds.getConnection(); PreparedStatement ins = c.prepareStatement("INSERT INTO processed_keys (key, execution_id, "
                + "node_id, path, status, attempt, finished_at) VALUES ('wf@3#f/done', ?, 'done', '', 'failed', 1, now())")) {
            ins.setLong(1, id);
            ins.executeUpdate();
        }
        execution("wf@3#nothing-ran", "failed", null);

        HttpResponse<String> r = post("wf@3#f", "retry", null);

        assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
        JsonNode answer = Json.tree(r.body());
        assertThat(answer.get("node").asText()).isEqualTo("done");
        assertThat(answer.get("attempt").asInt()).isEqualTo(2);
        assertThat(answer.get("processedKey").asText()).isEqualTo("wf@3#f/done#2");
        OperatorCommand command = Json.read(producer.history().get(0).value(), OperatorCommand.class);
        assertThat(command.kind()).isEqualTo(OperatorCommand.RETRY);
        assertThat(command.node()).isEqualTo("done");
        assertThat(command.attempt()).isEqualTo(2);
        assertThat(new String(producer.history().get(0).key(), StandardCharsets.UTF_8)).isEqualTo("wf@3#f");
        assertThat(stored("wf@3#f")).as("still failed until the engine applies it").startsWith("failed");

        HttpResponse<String> nothingRan = post("wf@3#nothing-ran", "retry", null);
        assertThat(nothingRan.statusCode()).isEqualTo(409);
        assertThat(nothingRan.body()).contains("failed before any node ran");
        assertThat(producer.history()).hasSize(1);
    }

    @Test
    void aCommandKafkaDoesNotTakeIs503AndChangesNothing() throws Exception {
        execution("wf@4#a", "running", null);
        producer.sendException = new KafkaException("the broker is away");

        HttpResponse<String> r = post("wf@4#a", "cancel", null);

        assertThat(r.statusCode()).isEqualTo(503);
        assertThat(Json.tree(r.body()).get("error").asText()).contains("did not take the cancel command").contains("nothing changed");
        assertThat(stored("wf@4#a")).isEqualTo("running -");
    }
}
