package dev.onceflow.deploy.proof;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.onceflow.deploy.proof.BenchProfile.ThreadRole;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The profile's arithmetic and parsing: counters are measured by {@code bench --only profile}, not tested. */
class BenchCostTest {

    @Test
    void costPerExecutionIsTheDifferenceOfTwoSnapshotsOverTheExecutions() {
        BenchCost before = new BenchCost(Map.of("pg_commits", 100.0, "kafka_records", 10.0, "pg_statements", 7.0));
        BenchCost after = new BenchCost(Map.of("pg_commits", 400.0, "kafka_records", 6010.0));
        BenchCost per = after.minus(before).per(1000);
        assertThat(per.values()).containsOnly(Map.entry("pg_commits", 0.3), Map.entry("kafka_records", 6.0));
        assertThatThrownBy(() -> per.per(0)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void theMarginalCostLeavesOutWhatTheSystemSpendsIdleMeanwhile() {
        BenchCost idlePerS = new BenchCost(Map.of("cpu_ms_engine", 60.0, "pg_statements", 30.0));
        BenchCost run = new BenchCost(Map.of("cpu_ms_engine", 1000.0, "pg_statements", 3150.0));
        // 1,000 executions over 4 s: 240 ms and 120 statements of that were the idle background.
        BenchCost marginal = run.minus(idlePerS.times(4)).per(1000);
        assertThat(marginal.values()).containsOnly(Map.entry("cpu_ms_engine", 0.76), Map.entry("pg_statements", 3.03));
    }

    @Test
    void roundingKeepsSmallFiguresPrecise() {
        assertThat(BenchCost.round(0.123456)).isEqualTo(0.123);
        assertThat(BenchCost.round(123.456)).isEqualTo(123.5);
        assertThat(BenchCost.round(12345.6)).isEqualTo(12346.0);
        assertThat(BenchCost.format(12345.6)).isEqualTo("12,346");
        assertThat(BenchCost.format(0.5)).isEqualTo("0.500");
    }

    @Test
    void theTableHasAColumnPerFigureAnyRowHasInTheDeclaredOrder() {
        Map<String, BenchCost> rows = new LinkedHashMap<>();
        rows.put("w1", new BenchCost(Map.of("kafka_records", 6.0, "pg_commits", 0.25)));
        rows.put("loop-100", new BenchCost(Map.of("pg_commits", 3.5)));
        List<String> table = BenchCost.table(rows);
        assertThat(table).hasSize(3);
        assertThat(table.get(0)).startsWith("per exec").containsSubsequence("pg commits", "kafka recs");
        assertThat(table.get(1)).startsWith("w1").containsSubsequence("0.250", "6.000");
        assertThat(table.get(2)).startsWith("loop-100").containsSubsequence("3.500", "-");
    }

    @Test
    void procStatFieldsAreReadAfterTheCommandNameEvenWithSpacesInIt() {
        String stat = "4242 (postgres: wal (writer)) S 4200 4200 4200 0 -1 4194368 120 0 0 0 17 23 5 7 20 0 1 0 100 1000 10";
        assertThat(BenchProfile.parseStat(stat)).containsExactly(4200, 17, 23, 5, 7);
    }

    @Test
    void threadsAreTheEngineOrTheDispatcherByName() {
        String engine = "engine-host-1234-1";
        String app = "onceflow-dispatcher";
        assertThat(ThreadRole.of("onceflow-engine-host-1234-1-w0", engine, "onceflow-engine", app)).isEqualTo(ThreadRole.ENGINE);
        assertThat(ThreadRole.of("kafka-producer-network-thread | engine-host-1234-1-w2-producer", engine, "onceflow-engine", app))
                .isEqualTo(ThreadRole.ENGINE);
        assertThat(ThreadRole.of("kafka-coordinator-heartbeat-thread | onceflow-engine", engine, "onceflow-engine", app))
                .isEqualTo(ThreadRole.ENGINE);
        assertThat(ThreadRole.of("onceflow-dispatcher-4a3e-StreamThread-1", engine, "onceflow-engine", app))
                .isEqualTo(ThreadRole.DISPATCHER);
        assertThat(ThreadRole.of("onceflow-schedule-source", engine, "onceflow-engine", app)).isEqualTo(ThreadRole.DISPATCHER);
        assertThat(ThreadRole.of("data-plane-kafka-request-handler-0", engine, "onceflow-engine", app)).isEqualTo(ThreadRole.BROKER);
        assertThat(ThreadRole.of("G1 Conc#0", engine, "onceflow-engine", app)).isEqualTo(ThreadRole.OTHER);
        assertThat(ThreadRole.of("main", engine, "onceflow-engine", app)).isEqualTo(ThreadRole.BENCH);
    }
}
