package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.onceflow.common.Json;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The real {@code onceflow dev} command end to end: its own embedded broker and PostgreSQL, a demo of 300 events × 3. */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class DevCommandIT {

    @Test
    void devDemoRunsEveryEventOnceAndReportsIt(@TempDir Path tmp) throws Exception {
        Path json = tmp.resolve("out.json");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = Onceflow.run(List.of("dev", "--events", "300", "--workers", "2", "--exit", "--json", json.toString(),
                        "--seed", "7"),
                new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        String printed = out.toString(StandardCharsets.UTF_8);
        assertThat(code).as(printed + err.toString(StandardCharsets.UTF_8)).isZero();
        assertThat(printed).contains("published").contains("Summary");

        JsonNode s = Json.MAPPER.readTree(Files.readAllBytes(json));
        assertThat(s.get("events_published").asLong()).isEqualTo(900);
        assertThat(s.get("distinct_event_keys").asLong()).isEqualTo(300);
        assertThat(s.get("executions").asLong()).isEqualTo(300);
        assertThat(s.get("duplicate_effects").asLong()).isZero();
        assertThat(s.get("lost").asLong()).isZero();
        assertThat(s.get("effects").asLong()).isEqualTo(600);
        // 600 duplicate copies in all; the dispatcher absorbs the retried publishes, the execution key
        // the copies that bypass it. A copy can only be absorbed once, by one layer.
        JsonNode absorbed = s.get("absorbed");
        assertThat(absorbed.get("dispatcher").asLong()).isPositive();
        assertThat(absorbed.get("execution_key").asLong()).isPositive();
        assertThat(absorbed.get("dispatcher").asLong() + absorbed.get("execution_key").asLong()).isGreaterThanOrEqualTo(600);
    }
}
