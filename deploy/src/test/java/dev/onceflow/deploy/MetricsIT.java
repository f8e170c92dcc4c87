package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.common.Topics;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.dispatcher.Dispatcher;
import dev.onceflow.engine.Engine;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The Prometheus metrics of a real dispatcher and engine on the real broker and PostgreSQL: what
 * {@code scrape()} shows after events ran through them and duplicates were sent at every layer,
 * against the roles' own counters and the database.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class MetricsIT {

    private static final int EVENTS = 40;

    @RegisterExtension
    final Fleet fleet = new Fleet(TestInfra.embedded());

    @Test
    void scrapeShowsExecutionsAndDuplicatesAbsorbedPerLayerEqualToTheRolesOwnCounters() throws Exception {
        String id = Fleet.uniqueId("metrics");
        Workflow wf = fleet.deploy("""
                {"id": "%s", "trigger": {"type": "kafka"}, "nodes": [
                  {"type": "sql", "id": "before", "sql": "INSERT INTO it_effects (event_key, node) VALUES (?, 'before')",
                   "params": ["event.key"], "next": "wait"},
                  {"type": "delay", "id": "wait", "ms": 1000, "next": "after"},
                  {"type": "sql", "id": "after", "sql": "INSERT INTO it_effects (event_key, node) VALUES (?, 'after')",
                   "params": ["event.key"]}
                ]}""".formatted(id));
        Dispatcher dispatcher = fleet.startDispatcher();
        Engine engine = fleet.startEngine(2);
        for (int i = 0; i < EVENTS; i++) {
            fleet.publish(wf.id(), "m-" + i, Fleet.data(i));
        }
        fleet.publishRaw(Topics.TRIGGERS, "bad", "{\"workflow\":".getBytes(StandardCharsets.UTF_8));
        fleet.flush();
        await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofMillis(500)).until(() -> fleet.succeeded(wf.id()) == EVENTS);

        // Duplicates at every layer: the same triggers again (the dedupe store drops them), the
        // events the dispatcher wrote (their keys have executions), the tasks the timers produced
        // (their nodes' processed keys exist).
        for (int i = 0; i < EVENTS; i++) {
            fleet.publish(wf.id(), "m-" + i, Fleet.data(i));
        }
        List<ConsumerRecord<byte[], byte[]>> events = ofWorkflow(fleet.readCommitted(Topics.EVENTS), wf);
        List<ConsumerRecord<byte[], byte[]>> tasks = ofWorkflow(fleet.readCommitted(Topics.TASKS), wf);
        assertThat(events).hasSize(EVENTS);
        assertThat(tasks).as("one task per fired delay").hasSizeGreaterThanOrEqualTo(EVENTS);
        events.forEach(r -> fleet.publishRaw(Topics.EVENTS, new String(r.key(), StandardCharsets.UTF_8), r.value()));
        tasks.forEach(r -> fleet.publishRaw(Topics.TASKS, new String(r.key(), StandardCharsets.UTF_8), r.value()));
        fleet.flush();

        await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofMillis(500)).until(() ->
                dispatcher.metrics().deduplicated() >= EVENTS && engine.metrics().duplicateEvents() >= events.size()
                        && engine.metrics().duplicateNodeRuns() >= tasks.size());
        // Counted once committed, and nothing more arrives: the scrape and the counters agree.
        await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(500)).untilAsserted(() -> {
            String e = engine.scrape();
            String d = dispatcher.scrape();
            assertThat(value(d, "onceflow_duplicates_absorbed_total{layer=\"dispatcher\"}")).as("dispatcher layer")
                    .isEqualTo(dispatcher.metrics().deduplicated());
            assertThat(value(e, "onceflow_duplicates_absorbed_total{layer=\"execution_key\"}")).as("execution_key layer")
                    .isEqualTo(engine.metrics().duplicateEvents());
            assertThat(value(e, "onceflow_duplicates_absorbed_total{layer=\"processed_key\"}")).as("processed_key layer")
                    .isEqualTo(engine.metrics().duplicateNodeRuns());
        });

        String e = engine.scrape();
        String d = dispatcher.scrape();
        assertThat(value(d, "onceflow_duplicates_absorbed_total{layer=\"dispatcher\"}")).isGreaterThanOrEqualTo(EVENTS);
        assertThat(value(e, "onceflow_duplicates_absorbed_total{layer=\"execution_key\"}")).isGreaterThanOrEqualTo(events.size());
        assertThat(value(e, "onceflow_duplicates_absorbed_total{layer=\"processed_key\"}")).isGreaterThanOrEqualTo(tasks.size());
        assertThat(e).as("the engine absorbs no dispatcher-layer duplicates").doesNotContain("layer=\"dispatcher\"");

        assertThat(value(e, "onceflow_executions_started_total{workflow=\"" + wf.id() + "\"}")).isEqualTo(EVENTS);
        assertThat(value(e, "onceflow_executions_finished_total{status=\"succeeded\",workflow=\"" + wf.id() + "\"}"))
                .isEqualTo(fleet.succeeded(wf.id())).isEqualTo(EVENTS);
        assertThat(e).doesNotContain("status=\"failed\",workflow=\"" + wf.id() + "\"");
        assertThat(value(e, "onceflow_node_runs_total{outcome=\"succeeded\",type=\"sql\"}")).isGreaterThanOrEqualTo(2 * EVENTS);
        assertThat(value(e, "onceflow_node_runs_total{outcome=\"waiting\",type=\"delay\"}")).isGreaterThanOrEqualTo(EVENTS);
        assertThat(value(e, "onceflow_node_duration_seconds_count{type=\"sql\"}")).isGreaterThanOrEqualTo(2 * EVENTS);
        assertThat(value(e, "onceflow_execution_duration_seconds_count")).isEqualTo(EVENTS);
        assertThat(value(e, "onceflow_execution_duration_seconds_bucket{le=\"1.0\"}")).as("each waited a second").isZero();
        assertThat(value(e, "onceflow_timers_fired_total")).isEqualTo(engine.metrics().timersFired()).isGreaterThanOrEqualTo(EVENTS);
        assertThat(value(d, "onceflow_dead_lettered_total{reason=\"MALFORMED_JSON\",role=\"dispatcher\"}"))
                .isEqualTo(dispatcher.metrics().dlq()).isGreaterThanOrEqualTo(1);

        // Lag: every partition the engine's workers own, and the dispatcher's trigger partitions.
        int partitions = fleet.config(1).getInt(OnceflowConfig.PARTITIONS);
        await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(500)).untilAsserted(() -> {
            String now = engine.scrape();
            for (String topic : List.of(Topics.EVENTS, Topics.TASKS)) {
                for (int p = 0; p < partitions; p++) {
                    assertThat(value(now, "onceflow_consumer_lag_records{group=\"" + fleet.group + "\",partition=\"" + p
                            + "\",topic=\"" + topic + "\"}")).as("%s-%d, all consumed", topic, p).isZero();
                }
            }
            assertThat(value(dispatcher.scrape(), "onceflow_consumer_lag_records{group=\""
                    + fleet.config(1).get(OnceflowConfig.DISPATCHER_APP_ID) + "\",partition=\"0\",topic=\"" + Topics.TRIGGERS + "\"}"))
                    .isZero();
        });
    }

    @Test
    void stuckExecutionsAndAReplicationSlotNobodyReadsAreReported() throws Exception {
        String slot = "metrics_it_" + UUID.randomUUID().toString().substring(0, 8);
        String stuckKey = "metrics-stuck-" + UUID.randomUUID() + "@1";
        execute("SELECT pg_create_logical_replication_slot(?, 'pgoutput')", slot);
        try {
            Dispatcher dispatcher = fleet.startDispatcher(Map.of(OnceflowConfig.TABLE_SLOT.name(), slot));
            Engine engine = fleet.startEngine(1, Map.of(OnceflowConfig.ENGINE_STALL_REPORT.name(), "3000",
                    OnceflowConfig.ENGINE_STUCK_REPORT.name(), "1000"));
            execute("INSERT INTO executions (event_key, workflow_id, workflow_version, status, trigger, created_at) "
                    + "VALUES (?, 'metrics-stuck', 1, 'running', '{}', now() - interval '1 hour')", stuckKey);
            execute("INSERT INTO it_effects (event_key, node) SELECT ?, 'wal' FROM generate_series(1, 100)", stuckKey);

            String series = "{slot=\"" + slot + "\"}";
            await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(500)).untilAsserted(() -> {
                assertThat(value(engine.scrape(), "onceflow_executions_stuck")).isGreaterThanOrEqualTo(1);
                String d = dispatcher.scrape();
                assertThat(value(d, "onceflow_capture_slot_inactive" + series)).isEqualTo(1);
                assertThat(value(d, "onceflow_capture_slot_lag_bytes" + series)).as("the WAL written since the slot was made")
                        .isPositive();
            });

            execute("UPDATE executions SET status = 'failed', finished_at = now() WHERE event_key = ?", stuckKey);
            execute("SELECT pg_drop_replication_slot(?)", slot);
            await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(500)).untilAsserted(() -> {
                assertThat(value(engine.scrape(), "onceflow_executions_stuck")).isZero();
                assertThat(dispatcher.scrape()).as("a dropped slot is not shown").doesNotContain(series);
            });
        } finally {
            execute("UPDATE executions SET status = 'failed', finished_at = now() WHERE event_key = ? AND finished_at IS NULL",
                    stuckKey);
            execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = ?", slot);
        }
    }

    private void execute(String sql, String arg) throws Exception {
        try (Connection c = fleet.ds.getConnection(); PreparedStatement s = c.prepareStatement(sql)) {
            s.setString(1, arg);
            s.execute();
        }
    }

    private static List<ConsumerRecord<byte[], byte[]>> ofWorkflow(List<ConsumerRecord<byte[], byte[]>> records, Workflow wf) {
        // Event records are keyed by ordering key (wf/...) where the trigger record had a key (ADR 0020), tasks by event key (wf@...).
        return records.stream().filter(r -> r.key() != null && (new String(r.key(), StandardCharsets.UTF_8).startsWith(wf.id() + "@")
                || new String(r.key(), StandardCharsets.UTF_8).startsWith(wf.id() + "/"))).toList();
    }

    /** The value of one series in the scrape text ({@code name{labels}} exactly as exposed); NaN when absent. */
    static double value(String scrape, String series) {
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(series) + " (\\S+)$").matcher(scrape);
        return m.find() ? Double.parseDouble(m.group(1)) : Double.NaN;
    }
}
