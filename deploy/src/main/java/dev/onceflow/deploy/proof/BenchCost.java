package dev.onceflow.deploy.proof;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * One snapshot of cumulative counters (PostgreSQL's, the broker's, CPU time), by name, and the
 * arithmetic of the cost model: the difference of two snapshots, divided by the executions that ran
 * between them. Pure and immutable; {@link BenchProfile} takes the snapshots.
 *
 * @param values counter name → cumulative value, in the order they are reported
 */
record BenchCost(Map<String, Double> values) {

    /** The figures of the cost table, in its column order: counter name → column heading. */
    static final Map<String, String> COLUMNS = columns();

    BenchCost {
        values = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(values));
    }

    private static Map<String, String> columns() {
        Map<String, String> c = new LinkedHashMap<>();
        c.put("pg_statements", "pg stmts");
        c.put("pg_rows", "pg rows");
        c.put("pg_commits", "pg commits");
        c.put("pg_tup_written", "tup ins+upd+del");
        c.put("pg_wal_bytes", "WAL bytes");
        c.put("pg_wal_records", "WAL recs");
        c.put("kafka_records", "kafka recs");
        c.put("kafka_bytes", "kafka bytes");
        c.put("kafka_transactions", "kafka txns");
        c.put("cpu_ms_engine", "engine cpu ms");
        c.put("cpu_ms_dispatcher", "dispatcher cpu ms");
        c.put("cpu_ms_broker", "broker cpu ms");
        c.put("cpu_ms_postgres", "pg cpu ms");
        c.put("cpu_ms_bench", "bench cpu ms");
        c.put("cpu_ms_jvm_other", "rest of jvm cpu ms");
        return java.util.Collections.unmodifiableMap(c);
    }

    /** This snapshot minus an earlier one, counter by counter (counters missing from either are left out). */
    BenchCost minus(BenchCost earlier) {
        Map<String, Double> d = new LinkedHashMap<>();
        values.forEach((k, v) -> {
            Double before = earlier.values.get(k);
            if (before != null) {
                d.put(k, v - before);
            }
        });
        return new BenchCost(d);
    }

    /** Each counter times {@code factor} (an idle cost per second times the seconds of a run, say). */
    BenchCost times(double factor) {
        Map<String, Double> d = new LinkedHashMap<>();
        values.forEach((k, v) -> d.put(k, v * factor));
        return new BenchCost(d);
    }

    /** Each counter divided by {@code executions}, rounded to 3 significant-enough digits. */
    BenchCost per(long executions) {
        if (executions <= 0) {
            throw new IllegalArgumentException("executions must be positive, not " + executions);
        }
        Map<String, Double> d = new LinkedHashMap<>();
        values.forEach((k, v) -> d.put(k, round(v / executions)));
        return new BenchCost(d);
    }

    /** Rounds to 3 decimals under 10, 1 decimal under 1,000, whole numbers above. */
    static double round(double v) {
        double a = Math.abs(v);
        return a < 10 ? BenchCommand.round(v, 3) : a < 1000 ? BenchCommand.round(v, 1) : Math.round(v);
    }

    /**
     * A plain-text table: one row per workload, one column per {@link #COLUMNS} figure the rows have
     * ("-" where a row lacks it).
     */
    static List<String> table(Map<String, BenchCost> perExecution) {
        List<String> heads = new ArrayList<>();
        List<String> keys = new ArrayList<>();
        COLUMNS.forEach((k, head) -> {
            if (perExecution.values().stream().anyMatch(c -> c.values.containsKey(k))) {
                keys.add(k);
                heads.add(head);
            }
        });
        int first = Math.max(8, perExecution.keySet().stream().mapToInt(String::length).max().orElse(8));
        List<String> lines = new ArrayList<>();
        StringBuilder h = new StringBuilder(String.format(Locale.ROOT, "%-" + first + "s", "per exec"));
        heads.forEach(x -> h.append(" | ").append(String.format(Locale.ROOT, "%" + Math.max(9, x.length()) + "s", x)));
        lines.add(h.toString());
        perExecution.forEach((name, cost) -> {
            StringBuilder row = new StringBuilder(String.format(Locale.ROOT, "%-" + first + "s", name));
            for (int i = 0; i < keys.size(); i++) {
                Double v = cost.values.get(keys.get(i));
                String cell = v == null ? "-" : format(v);
                row.append(" | ").append(String.format(Locale.ROOT, "%" + Math.max(9, heads.get(i).length()) + "s", cell));
            }
            lines.add(row.toString());
        });
        return lines;
    }

    static String format(double v) {
        double a = Math.abs(v);
        return a >= 1000 ? String.format(Locale.ROOT, "%,.0f", v) : a >= 10 ? String.format(Locale.ROOT, "%.1f", v)
                : String.format(Locale.ROOT, "%.3f", v);
    }
}
