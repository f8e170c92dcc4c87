package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.onceflow.common.Json;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PublishCommandTest {

    private static final Set<String> VALUED = Set.of("config", "set", "workflow", "id", "time", "topic", "file");

    private static PublishCommand.Request request(InputStream stdin, String... argv) {
        return PublishCommand.request(Args.parse("publish", List.of(argv), VALUED, Set.of("stdin")), stdin);
    }

    private static PublishCommand.Request request(String... argv) {
        return request(new ByteArrayInputStream(new byte[0]), argv);
    }

    private static InputStream stdin(String text) {
        return new ByteArrayInputStream(text.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void userTopicRecordIsSentAsGivenNotWrapped() throws Exception {
        String record = "{\"signupId\": \"s-1\", \"at\": \"2026-01-10T01:00:00Z\", \"email\": \"a@b\"}";
        PublishCommand.Request r = request("--topic", "demo.signups", record);
        assertThat(r.topic()).isEqualTo("demo.signups");
        assertThat(new String(r.value(), StandardCharsets.UTF_8)).isEqualTo(record);
        assertThat(r.key()).isNull();
        assertThat(r.trigger()).isNull();
        assertThat(r.describe(2, 17, 1_795_000_000_000L))
                .contains("published to demo.signups partition 2 offset 17")
                .contains("else demo.signups-2-17")
                .contains("else 1795000000000");
    }

    @Test
    void triggerTopicWrapsTheDataAndPrintsTheDispatchersEventKey() throws Exception {
        PublishCommand.Request r = request("--workflow", "demo-orders", "--id", "ord-42", "--time", "2026-01-10T01:00:00Z",
                "{\"amount\": 150}");
        assertThat(r.topic()).isEqualTo("onceflow.triggers");
        JsonNode value = Json.MAPPER.readTree(r.value());
        assertThat(value.get("workflow").asText()).isEqualTo("demo-orders");
        assertThat(value.get("data").get("amount").asInt()).isEqualTo(150);
        assertThat(new String(r.key(), StandardCharsets.UTF_8)).isEqualTo("ord-42");
        assertThat(r.describe(0, 5, 99)).endsWith("event key demo-orders@1768006800000#ord-42");
        // With an id and no time the id alone is the identity: timestamp 0, whenever it is published.
        assertThat(request("--workflow", "demo-orders", "--id", "ord-42", "{}").describe(0, 5, 99))
                .endsWith("event key demo-orders@0#ord-42");
    }

    @Test
    void withoutIdTheKeyCarriesTheRecordsTimeAndPosition() {
        String out = request("--workflow", "demo-orders", "{\"amount\": 1}").describe(3, 41, 1_795_000_000_123L);
        assertThat(out).contains("event key demo-orders@1795000000123#onceflow.triggers-3-41")
                .contains("the same data published again is another event");
    }

    @Test
    void dataComesFromAFileOrStandardInput(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("signup.json");
        Files.writeString(file, "{\"signupId\": \"s-2\"}\n");
        assertThat(new String(request("--topic", "demo.signups", "--file", file.toString()).value(), StandardCharsets.UTF_8))
                .isEqualTo("{\"signupId\": \"s-2\"}\n");
        assertThat(new String(request(stdin("{\"signupId\": \"s-3\"}"), "--topic", "demo.signups", "-").value(),
                StandardCharsets.UTF_8)).isEqualTo("{\"signupId\": \"s-3\"}");
        assertThat(Json.MAPPER.readTree(request(stdin("{\"amount\": 7}"), "--workflow", "demo-orders", "--stdin").value())
                .get("data").get("amount").asInt()).isEqualTo(7);
    }

    @Test
    void aTriggerWithoutDataHasAnEmptyObject() throws Exception {
        assertThat(Json.MAPPER.readTree(request("--workflow", "demo-orders").value()).get("data").size()).isZero();
    }

    @Test
    void mistakesAreRefusedNamingTheCause(@TempDir Path dir) {
        assertThatThrownBy(() -> request("--topic", "demo.signups", "--workflow", "demo-signups", "{}"))
                .isInstanceOf(Args.UsageException.class).hasMessageContaining("--workflow applies to onceflow.triggers only");
        assertThatThrownBy(() -> request("--topic", "demo.signups", "--id", "x", "{}"))
                .hasMessageContaining("--id applies to onceflow.triggers only");
        assertThatThrownBy(() -> request("--topic", "demo.signups"))
                .hasMessageContaining("needs the record");
        assertThatThrownBy(() -> request("{\"amount\": 1}"))
                .hasMessageContaining("--workflow is required");
        assertThatThrownBy(() -> request(stdin("{}"), "--workflow", "w", "--stdin", "{}"))
                .hasMessageContaining("give the data once");
        assertThatThrownBy(() -> request("--workflow", "w", "-", "{}"))
                .hasMessageContaining("give no other DATA");
        assertThatThrownBy(() -> request("--topic", "t", "--file", dir.resolve("missing.json").toString()))
                .hasMessageContaining("no such file");
        assertThatThrownBy(() -> request("--topic", "t", "[1, 2]"))
                .hasMessageContaining("must be a JSON object, got array");
        assertThatThrownBy(() -> request(stdin(""), "--topic", "t", "-"))
                .hasMessageContaining("must be a JSON object, got nothing");
        assertThatThrownBy(() -> request("--workflow", "w", "{oops"))
                .hasMessageContaining("not valid JSON");
        assertThatThrownBy(() -> request("--workflow", "w", "--time", "yesterday"))
                .hasMessageContaining("ISO-8601");
        assertThatThrownBy(() -> request("--workflow", "bad@id"))
                .hasMessageContaining("invalid workflow id");
    }
}
