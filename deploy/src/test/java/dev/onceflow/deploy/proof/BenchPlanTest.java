package dev.onceflow.deploy.proof;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.onceflow.deploy.proof.BenchPlan.Workload;
import dev.onceflow.deploy.proof.BenchSlowKey.Publication;
import dev.onceflow.deploy.proof.BenchSlowKey.Sample;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * The bench's pure parts: which workloads a run measures, the slow-key workload's plan and
 * figures, the ordering rounds and the ratios. Timings are measured by {@code bench}, not tested.
 */
class BenchPlanTest {

    @Test
    void byDefaultEveryWorkloadButScalingRunsInItsOrder() {
        BenchPlan plan = BenchPlan.of(null, false);
        assertThat(plan.labels()).containsExactly("latency", "w1", "w1-engine", "w1-order", "w2", "w3", "slow-key", "profile", "limits",
                "brokers-3");
        assertThat(plan.runsThroughput()).isTrue();
    }

    @Test
    void theDefaultRunMeasuresTheCostModelAndThe3BrokerFiguresApartAfterTheRest() {
        BenchPlan plan = BenchPlan.of(null, false);
        assertThat(plan.apart(1)).containsExactly(Workload.PROFILE, Workload.BROKERS_3);
        assertThat(plan.without(plan.apart(1)).labels()).containsExactly("latency", "w1", "w1-engine", "w1-order", "w2", "w3",
                "slow-key", "limits");
        // A run on 3 brokers is its own 3-broker figure.
        assertThat(plan.apart(3)).containsExactly(Workload.PROFILE);
        // Asked for alone (or with the limits only), the profile runs on the shared infrastructure.
        assertThat(BenchPlan.of("profile,limits", false).apart(1)).isEmpty();
        assertThat(BenchPlan.of("w1,profile", false).apart(1)).containsExactly(Workload.PROFILE);
        assertThat(BenchPlan.of("brokers-3", false).apart(1)).containsExactly(Workload.BROKERS_3);
        assertThat(BenchPlan.of("brokers-3", false).needsSharedInfra()).isFalse();
    }

    @Test
    void profileIsAddedByTheFlagAndNamedWithOnly() {
        assertThat(BenchPlan.of(null, false, true).labels()).containsExactly("latency", "w1", "w1-engine", "w1-order", "w2", "w3",
                "slow-key", "profile", "limits", "brokers-3");
        assertThat(BenchPlan.of(null, false, false).labels()).doesNotContain("scaling");
        assertThat(BenchPlan.of("profile,limits", false, false).labels()).containsExactly("profile", "limits");
        assertThat(BenchPlan.of("limits", false, true).labels()).containsExactly("profile", "limits");
        assertThat(BenchPlan.of("w1", false, false).runs(Workload.PROFILE)).isFalse();
        assertThat(BenchPlan.of("profile", false, false).runsThroughput()).isTrue();
    }

    @Test
    void the3BrokerFiguresStandNextToThe1BrokerOnesWithWhatReplicationCosts() {
        Map<String, Object> one = new LinkedHashMap<>();
        one.put("w1", Map.of("executions_per_s", 4000.0));
        one.put("limits", Map.of("kafka_txn_consume_produce_records_per_s", 30000.0));
        Map<String, Object> three = new LinkedHashMap<>();
        three.put("kafka", Map.of("brokers", 3));
        three.put("w1", Map.of("executions", 10000, "executions_per_s", 3000.0, "latency_ms", Map.of("p99", 900.0),
                "timeline", List.of(), "at_half_load", Map.of("latency_ms", Map.of("p50", 200.0, "p99", 300.0), "timeline", List.of())));
        three.put("limits", Map.of("kafka_txn_consume_produce_records_per_s", 15000.0));
        three.put("ratios", Map.of("w1_statements_per_s_over_postgres_insert_limit", 0.4));
        Map<String, Object> r = BenchCommand.brokersThree(one, three);
        assertThat(r.get("replication_cost")).isEqualTo(Map.of("w1_3_brokers_over_1_broker", 0.75,
                "kafka_limit_3_brokers_over_1_broker", 0.5));
        @SuppressWarnings("unchecked")
        Map<String, Object> w1 = (Map<String, Object>) r.get("w1");
        assertThat(w1).doesNotContainKey("timeline");
        @SuppressWarnings("unchecked")
        Map<String, Object> half = (Map<String, Object>) w1.get("at_half_load");
        assertThat(half).doesNotContainKey("timeline").containsKey("latency_ms");
        assertThat(BenchSummary.lines(Map.of("brokers_3", r))).singleElement().asString()
                .contains("3 brokers").contains("3,000 executions/s").contains("p99 300.0 ms").contains("w1_3_brokers_over_1_broker=0.75");
    }

    @Test
    void scalingRunsOnlyWhenNamedAndAloneNeedsNoSharedInfra() {
        assertThat(BenchPlan.of(null, false, true).runs(Workload.SCALING)).isFalse();
        assertThat(BenchPlan.of("scaling", false, false).needsSharedInfra()).isFalse();
        assertThat(BenchPlan.of("scaling,w1", false, false).needsSharedInfra()).isTrue();
        assertThat(BenchPlan.of("scaling", false, true).labels()).containsExactly("profile", "scaling");
    }

    @Test
    void scalingCountsAreCommaSeparatedPositiveNumbers() {
        assertThat(BenchPlan.counts("scaling-partitions", " 6,12 ,24,", 1000)).containsExactly(6, 12, 24);
        assertThatThrownBy(() -> BenchPlan.counts("scaling-workers", "1,two", 64)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("--scaling-workers").hasMessageContaining("'two'");
        assertThatThrownBy(() -> BenchPlan.counts("scaling-workers", "0", 64)).hasMessageContaining("from 1 to 64");
        assertThatThrownBy(() -> BenchPlan.counts("scaling-workers", " , ", 64)).hasMessageContaining("at least one");
    }

    @Test
    void onlyNamesTheWorkloadsInAnyOrderAndCase() {
        BenchPlan plan = BenchPlan.of(" Slow-Key ,w1-order,", false);
        assertThat(plan.labels()).containsExactly("w1-order", "slow-key");
        assertThat(plan.runs(Workload.SLOW_KEY)).isTrue();
        assertThat(plan.runs(Workload.W1)).isFalse();
        assertThat(plan.runs(Workload.LIMITS)).isFalse();
    }

    @Test
    void latencyOnlyIsOnlyLatencyAndExcludesOnly() {
        BenchPlan plan = BenchPlan.of(null, true);
        assertThat(plan.labels()).containsExactly("latency");
        assertThat(plan.runsThroughput()).isFalse();
        assertThat(BenchPlan.of("limits", false).runsThroughput()).isFalse();
        assertThatThrownBy(() -> BenchPlan.of("w1", true)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("--latency-only");
    }

    @Test
    void anUnknownOrEmptyListIsRefusedNamingTheKnownOnes() {
        assertThatThrownBy(() -> BenchPlan.of("w1,slowkey", false)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'slowkey'").hasMessageContaining("slow-key").hasMessageContaining("w1-order").hasMessageContaining("profile");
        assertThatThrownBy(() -> BenchPlan.of(" , ", false)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("at least one");
    }

    @Test
    void orderRoundsAreAbbaWithOneWorkflowEach() {
        List<String> rounds = BenchPlan.orderRounds();
        assertThat(rounds).containsExactly("key", "none", "none", "key");
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < rounds.size(); i++) {
            ids.add(BenchCommand.orderRoundWorkflow(rounds, i));
        }
        assertThat(ids).containsExactly("bench-w1-order-key-1", "bench-w1-order-none-1", "bench-w1-order-none-2",
                "bench-w1-order-key-2");
    }

    @Test
    void slowKeyPlanKeepsASlowCallInFlightAndSpreadsTheOthersOverTheirKeys() {
        List<Publication> plan = BenchSlowKey.schedule(60, 100, 1000, 4000);
        List<Publication> slow = plan.stream().filter(p -> p.key().equals(BenchSlowKey.SLOW_KEY)).toList();
        List<Publication> other = plan.stream().filter(p -> !p.key().equals(BenchSlowKey.SLOW_KEY)).toList();
        assertThat(slow).extracting(Publication::atMs).containsExactly(0L, 4000L, 8000L, 12000L, 16000L, 20000L, 24000L, 28000L,
                32000L, 36000L, 40000L, 44000L, 48000L, 52000L, 56000L);
        assertThat(other).hasSize(6000);
        assertThat(other.stream().map(Publication::key).distinct().count()).isEqualTo(1000);
        assertThat(plan).extracting(Publication::id).doesNotHaveDuplicates();
        assertThat(plan).isSortedAccordingTo(java.util.Comparator.comparingLong(Publication::atMs));
        assertThat(plan.get(0).key()).isEqualTo("slow");
        assertThat(other.get(1234)).isEqualTo(new Publication(12340, "k234", "k234-1"));
        // each other key gets one event every 10 s: none of them ever queues behind its own previous one
        Map<String, List<Long>> byKey = other.stream().collect(Collectors.groupingBy(Publication::key,
                Collectors.mapping(Publication::atMs, Collectors.toList())));
        assertThat(byKey.get("k7")).containsExactly(70L, 10070L, 20070L, 30070L, 40070L, 50070L);
    }

    @Test
    void theEntityKeyIsTheEventIdWithoutItsSequence() {
        assertThat(BenchSlowKey.keyOf("bench-slow-key@0#k17-3")).isEqualTo("k17");
        assertThat(BenchSlowKey.keyOf("bench-slow-key@0#slow-12")).isEqualTo("slow");
        assertThat(BenchSlowKey.keyOf("bench-slow-key@0#plain")).isEqualTo("plain");
    }

    @Test
    void slowKeyFiguresSeparateTheUnaffectedKeysFromTheSlowOne() {
        List<Sample> samples = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            // 1..100 ms, published one per 10 ms from t = 1,000,000
            samples.add(new Sample("k" + i, 1_000_000 + i * 10L, 1_000_000 + i * 10L + i + 1, "succeeded"));
        }
        samples.add(new Sample("k5", 1_000_000, 1_004_000, "succeeded")); // stalled 4 s
        samples.add(new Sample("k6", 1_000_000, -1, "running")); // not finished
        samples.add(new Sample("slow", 1_000_000, 1_005_010, "succeeded"));
        samples.add(new Sample("slow", 1_004_000, 1_010_020, "failed"));

        Map<String, Object> f = BenchSlowKey.figures(samples, 102, 3);
        Map<?, ?> unaffected = (Map<?, ?>) f.get("unaffected");
        assertThat(unaffected.get("published")).isEqualTo(102);
        assertThat(unaffected.get("finished")).isEqualTo(101);
        assertThat(unaffected.get("failed")).isEqualTo(0L);
        assertThat(unaffected.get("over_1s")).isEqualTo(1L);
        Map<?, ?> lat = (Map<?, ?>) unaffected.get("latency_ms");
        assertThat(lat.get("p50")).isEqualTo(51L);
        assertThat(lat.get("p99")).isEqualTo(100L);
        assertThat(lat.get("max")).isEqualTo(4000L);
        assertThat(f.get("unaffected_p99_under_1s")).isEqualTo(true);
        Map<?, ?> slow = (Map<?, ?>) f.get("slow_key");
        assertThat(slow.get("published")).isEqualTo(3);
        assertThat(slow.get("finished")).isEqualTo(2);
        assertThat(slow.get("failed")).isEqualTo(1L);
        assertThat(((Map<?, ?>) slow.get("latency_ms")).get("p50")).isEqualTo(5010L);
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> timeline = (List<Map<String, Object>>) f.get("timeline");
        assertThat(timeline).extracting(p -> p.get("t_s")).containsExactly(0L, 1L, 4L);
        assertThat(timeline.get(2)).containsEntry("executions", 1).containsEntry("latency_p99_ms", 4000L);
    }

    @Test
    void ratiosAreComputedFromWhatTheRunMeasured() {
        Map<String, Object> report = new LinkedHashMap<>();
        report.put("w1_order", Map.of("on_executions_per_s", 2700.0, "off_executions_per_s", 3000.0));
        assertThat(BenchCommand.ratios(report)).containsExactly(Map.entry("w1_order_on_over_off", 0.9));

        report.put("w1", Map.of("executions_per_s", 3000.0));
        report.put("w1_engine_only", Map.of("executions_per_s", 4000.0));
        report.put("limits", Map.of("kafka_txn_consume_produce_records_per_s", 30000.0, "postgres_batched_insert_rows_per_s", 66000.0));
        Map<String, Object> ratios = BenchCommand.ratios(report);
        assertThat(ratios).containsEntry("w1_engine_records_per_s_over_kafka_limit", 0.2)
                .containsEntry("w1_statements_per_s_over_postgres_insert_limit", 0.5)
                .containsEntry("engine_only_records_per_s_over_kafka_limit", 0.267)
                .containsEntry("w1_over_engine_only", 0.75)
                .containsEntry("w1_order_on_over_off", 0.9);
        assertThat(BenchSummary.ratio(1, 0)).isNull();
        assertThat(BenchSummary.ratio(null, 2)).isNull();
    }

    @Test
    void theSameOrderSpreadIsTheLargerGapBetweenRoundsOfOneOrder() {
        List<Map<String, Object>> rounds = List.of(
                Map.of("order", "key", "executions_per_s", 900.0), Map.of("order", "none", "executions_per_s", 1000.0),
                Map.of("order", "none", "executions_per_s", 1000.0), Map.of("order", "key", "executions_per_s", 1100.0));
        assertThat(BenchCommand.sameOrderSpread(rounds)).isEqualTo(0.2);
        assertThat(BenchCommand.sameOrderSpread(rounds.subList(1, 3))).isEqualTo(0.0);
    }

    @Test
    void summaryNamesOnlyTheMeasuredFigures() {
        Map<String, Object> report = new LinkedHashMap<>();
        report.put("w1_order", Map.of("on_executions_per_s", 2712.4, "off_executions_per_s", 3000.0, "on_over_off", 0.904,
                "within_10_percent", true, "same_order_spread", 0.021));
        Map<String, Object> slow = new LinkedHashMap<>();
        slow.put("unaffected", Map.of("published", 6000, "finished", 6000, "over_1s", 120L,
                "latency_ms", Map.of("p50", 35L, "p99", 4900L)));
        slow.put("slow_key", Map.of("published", 15, "finished", 15, "latency_ms", Map.of("p50", 5040L)));
        report.put("slow_key", slow);
        List<String> lines = BenchSummary.lines(report);
        assertThat(lines).containsExactly(
                "w1 with order \"key\" (on): 2,712 executions/s; with order \"none\" (off): 3,000 executions/s; on/off 0.904 (at most 10 % lower); "
                        + "rounds of one order 2 % apart",
                "slow-key: unaffected keys p50 35 ms, p99 4900 ms (6000 of 6000 finished, 120 over 1 s); slow key: 15 of 15 finished, "
                        + "p50 5040 ms");
        assertThat(BenchChart.html(Map.of(), "t", lines)).contains("<li>w1 with order &quot;key&quot; (on)");
    }

    @Test
    void summaryHasALinePerProfiledShape() {
        Map<String, Object> per = new LinkedHashMap<>();
        per.put("pg_statements", 3.134);
        per.put("pg_tup_written", 11.0);
        per.put("pg_wal_bytes", 4334.0);
        per.put("cpu_ms_engine", 0.173);
        per.put("cpu_ms_postgres", 0.24);
        Map<String, Object> report = Map.of("profile", Map.of("workloads", Map.of("w1", Map.of("per_execution", per))));
        assertThat(BenchSummary.lines(report)).containsExactly("profile w1, per execution: 3.134 PostgreSQL statements, 11.0 tuples "
                + "written, 4,334 WAL bytes, - Kafka records; CPU ms: engine 0.173, PostgreSQL 0.240");
    }
}
