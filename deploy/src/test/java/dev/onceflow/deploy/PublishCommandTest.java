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

/** The arguments of {@code onceflow publish} and the request to the admin API they make; nothing is sent here. */
class PublishCommandTest {

    private static PublishCommand.Request request(InputStream stdin, String... argv) {
        PublishCommand command = new PublishCommand();
        new picocli.CommandLine(command).parseArgs(argv);
        return command.request(stdin);
    }

    private static PublishCommand.Request request(String... argv) {
        return request(new ByteArrayInputStream(new byte[0]), argv);
    }

    private static InputStream stdin(String text) {
        return new ByteArrayInputStream(text.getBytes(StandardCharsets.UTF_8));
    }

    private static String value(PublishCommand.Request r) {
        return Json.text(r.body());
    }

    @Test
    void userTopicRecordIsSentAsGivenNotWrapped() throws Exception {
        String record = "{\"signupId\":\"s-1\",\"at\":\"2026-01-10T01:00:00Z\",\"email\":\"a@b\"}";
        PublishCommand.Request r = request("--topic", "demo.signups", record);
        assertThat(r.path()).isEqualTo("/api/topics/demo.signups/records");
        assertThat(Json.MAPPER.readTree(value(r))).isEqualTo(Json.MAPPER.readTree(record));
    }

    @Test
    void aWorkflowEventCarriesIdTimeAndDataToThePublishEndpoint() throws Exception {
        PublishCommand.Request r = request("--workflow", "demo-orders", "--id", "ord-42", "--time", "2026-01-10T01:00:00Z",
                "--data", "{\"amount\": 150}");
        assertThat(r.path()).isEqualTo("/api/workflows/demo-orders/publish");
        assertThat(r.body().get("id").asText()).isEqualTo("ord-42");
        assertThat(r.body().get("time").asText()).isEqualTo("2026-01-10T01:00:00Z");
        assertThat(r.body().get("data").get("amount").asInt()).isEqualTo(150);
        assertThat(request("--workflow", "demo-orders", "{\"amount\": 1}").body().has("id")).isFalse();
    }

    @Test
    void dataComesFromAFileOrStandardInput(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("signup.json");
        Files.writeString(file, "{\"signupId\": \"s-2\"}\n");
        assertThat(request("--topic", "demo.signups", "--file", file.toString()).body().get("signupId").asText()).isEqualTo("s-2");
        assertThat(request(stdin("{\"signupId\": \"s-3\"}"), "--topic", "demo.signups", "-").body().get("signupId").asText())
                .isEqualTo("s-3");
        assertThat(request(stdin("{\"amount\": 7}"), "--workflow", "demo-orders", "--stdin").body().get("data").get("amount").asInt())
                .isEqualTo(7);
    }

    @Test
    void aTriggerWithoutDataHasAnEmptyObject() throws Exception {
        assertThat(request("--workflow", "demo-orders").body().get("data").size()).isZero();
    }

    @Test
    void mistakesAreRefusedNamingTheCause(@TempDir Path dir) {
        assertThatThrownBy(() -> request("--topic", "demo.signups", "--workflow", "demo-signups", "{}"))
                .isInstanceOf(Args.UsageException.class).hasMessageContaining("give --workflow or --topic, not both");
        assertThatThrownBy(() -> request("--topic", "demo.signups", "--id", "x", "{}"))
                .hasMessageContaining("--id applies to --workflow only");
        assertThatThrownBy(() -> request("--topic", "demo.signups"))
                .hasMessageContaining("needs the record");
        assertThatThrownBy(() -> request("{\"amount\": 1}"))
                .hasMessageContaining("--workflow is required");
        assertThatThrownBy(() -> request(stdin("{}"), "--workflow", "w", "--stdin", "{}"))
                .hasMessageContaining("give the data once");
        assertThatThrownBy(() -> request("--workflow", "w", "--data", "{}", "-"))
                .hasMessageContaining("give the data once");
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
