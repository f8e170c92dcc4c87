package dev.onceflow.deploy.dev;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.onceflow.common.Json;
import dev.onceflow.deploy.Onceflow;
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

/**
 * The real {@code onceflow dev} command end to end: its own embedded broker and PostgreSQL, a demo
 * of 300 events × 3, the scheduled example's ticks and the table example's row changes.
 */
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
        assertThat(printed).as("the heartbeat stops after the demo, not to flood the console")
                .contains("Disabled the demo-heartbeat schedule");

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
        List<String> families = new java.util.ArrayList<>();
        s.get("metrics_families").forEach(f -> families.add(f.asText()));
        // Every metric of the operations issue: those of events that did not happen in the run (dead
        // letters, missed ticks, an unread slot) are there at 0.
        assertThat(families).contains("onceflow_dead_lettered_total", "onceflow_schedule_ticks_missed_total",
                "onceflow_capture_slot_inactive", "onceflow_executions_stuck", "onceflow_executions_started_total", "onceflow_executions_finished_total",
                "onceflow_node_runs_total", "onceflow_duplicates_absorbed_total", "onceflow_node_duration_seconds",
                "onceflow_execution_duration_seconds", "onceflow_consumer_lag_records", "onceflow_schedule_ticks_fired_total",
                "onceflow_http_calls_total", "onceflow_timers_fired_total", "onceflow_partitions_revoked_total",
                "onceflow_capture_slot_lag_bytes");
        JsonNode scraped = s.get("metrics_absorbed");
        for (String layer : List.of("dispatcher", "execution_key", "processed_key")) {
            assertThat(scraped.path(layer).asLong(-1)).as("/metrics onceflow_duplicates_absorbed_total{layer=%s} equals the summary's", layer)
                    .isEqualTo(absorbed.get(layer).asLong());
        }
        assertThat(absorbed.get("dispatcher").asLong()).isPositive();
        assertThat(absorbed.get("execution_key").asLong()).isPositive();
        assertThat(absorbed.get("dispatcher").asLong() + absorbed.get("execution_key").asLong()).isGreaterThanOrEqualTo(600);

        // The scheduled example: no tick's effect twice.
        s.get("scheduled").forEach(w -> assertThat(w.get("duplicate_effects").asLong()).isZero());

        // The table example (demo-order-status): 10 rows for 300 events. Every insert and every status
        // change of a non-test row ran once; note-only updates, same-status updates, deletes and test
        // rows did not fire; each execution matched to its change by trigger data, not by event key.
        JsonNode t = s.get("table");
        assertThat(t.get("capture_state").asText()).isEqualTo("LEADING");
        long inserted = t.get("rows_inserted").asLong();
        assertThat(inserted).isEqualTo(10);
        // Rows 1..10, row 6 is a test row: 9 inserts fire; status updates: 'paid' for 2, 4, 8, 10,
        // 'packed' and 'shipped' for 5 and 10.
        long statusUpdates = 4 + 2 * 2;
        assertThat(t.get("expected_executions").asLong()).isEqualTo(9 + statusUpdates);
        assertThat(t.get("executions").asLong()).isEqualTo(9 + statusUpdates);
        assertThat(t.get("executions_succeeded").asLong()).isEqualTo(9 + statusUpdates);
        assertThat(t.get("duplicate_executions").asLong()).isZero();
        assertThat(t.get("unexpected").asLong()).isZero();
        assertThat(t.get("lost").asLong()).isZero();
        assertThat(t.get("duplicate_effects").asLong()).isZero();
        assertThat(t.get("effects").asLong()).isEqualTo(9 + statusUpdates + 2); // 'notify' for the two shipped rows
        // Every change of the table was captured, fired or not (more only if Debezium replayed some).
        long made = inserted + t.get("rows_updated").asLong() + t.get("rows_deleted").asLong();
        assertThat(t.get("changes_captured").asLong()).isGreaterThanOrEqualTo(made);
        assertThat(t.get("sample_event_key").asText())
                .matches("demo-order-status@[0-9]+#[0-9]+:[0-9]+:public\\.demo_shop_orders:[0-9]+");
        assertThat(s.get("ok").asBoolean()).isTrue();
        assertThat(printed).contains("table trigger").contains("verdict              OK");
        // one execution of each node type, the http one against dev's local receiver, called once with its key
        assertThat(s.get("node_tour_ok").asBoolean()).isTrue();
        assertThat(printed).contains("nodes-delay          succeeded").contains("nodes-http           succeeded")
                .contains("nodes-loop           succeeded").contains("nodes-parallel       succeeded")
                .contains("nodes-calculation    succeeded").containsPattern("calls per Idempotency-Key \\{nodes-http@[0-9]+#tour/charge=1\\}");
    }

    @Test
    void everyExampleFileIsBundledInTheJar() throws Exception {
        // Run from deploy/, DevCommand.examples() falls back to the bundled list: a file missing from it
        // would be deployed from a checkout but not from the jar.
        try (var files = Files.list(Path.of("examples"))) {
            assertThat(files.map(f -> f.getFileName().toString()).filter(n -> n.endsWith(".json")).sorted().toList())
                    .isEqualTo(DevCommand.BUNDLED_EXAMPLES);
        }
        assertThat(DevCommand.examples()).extracting(w -> w.trigger().getClass().getSimpleName())
                .contains("Kafka", "Schedule", "Api", "Table");
    }
}
