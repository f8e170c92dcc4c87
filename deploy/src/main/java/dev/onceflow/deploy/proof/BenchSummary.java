package dev.onceflow.deploy.proof;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The headline figures of a {@code bench} report as short lines, for the console after the run and
 * the top of the HTML page: only those the run measured.
 */
final class BenchSummary {

    private BenchSummary() {
    }

    static List<String> lines(Map<String, Object> report) {
        List<String> lines = new ArrayList<>();
        Map<String, Object> w1 = map(report.get("w1"));
        Map<String, Object> engineOnly = map(report.get("w1_engine_only"));
        if (w1 != null) {
            lines.add("w1 through the dispatcher: " + perS(w1.get("executions_per_s")) + " executions/s");
        }
        if (engineOnly != null) {
            lines.add("w1 engine only: " + perS(engineOnly.get("executions_per_s")) + " executions/s");
        }
        Map<String, Object> order = map(report.get("w1_order"));
        if (order != null) {
            lines.add("w1 with order \"key\" (on): " + perS(order.get("on_executions_per_s")) + " executions/s; with order \"none\" (off): "
                    + perS(order.get("off_executions_per_s")) + " executions/s; on/off " + order.get("on_over_off")
                    + (Boolean.TRUE.equals(order.get("within_10_percent")) ? " (at most 10 % lower)" : " (more than 10 % lower)")
                    + (order.get("same_order_spread") instanceof Number spread
                    ? String.format(Locale.ROOT, "; rounds of one order %.0f %% apart%s", spread.doubleValue() * 100,
                    spread.doubleValue() >= 0.05 ? ", too noisy to judge 10 %" : "") : ""));
        }
        Map<String, Object> slow = map(report.get("slow_key"));
        if (slow != null) {
            Map<String, Object> unaffected = map(slow.get("unaffected"));
            Map<String, Object> lat = map(unaffected.get("latency_ms"));
            Map<String, Object> slowKey = map(slow.get("slow_key"));
            lines.add(String.format(Locale.ROOT, "slow-key: unaffected keys p50 %s ms, p99 %s ms (%s of %s finished, %s over 1 s); "
                            + "slow key: %s of %s finished, p50 %s ms",
                    lat.get("p50"), lat.get("p99"), unaffected.get("finished"), unaffected.get("published"), unaffected.get("over_1s"),
                    slowKey.get("finished"), slowKey.get("published"), map(slowKey.get("latency_ms")).get("p50")));
        }
        Map<String, Object> profile = map(report.get("profile"));
        Map<String, Object> profiled = profile == null ? null : map(profile.get("workloads"));
        if (profiled != null) {
            profiled.forEach((shape, figures) -> {
                Map<String, Object> per = map(map(figures).get("per_execution"));
                lines.add(String.format(Locale.ROOT, "profile %s, per execution: %s PostgreSQL statements, %s tuples written, %s WAL bytes, "
                                + "%s Kafka records; CPU ms: engine %s, PostgreSQL %s", shape, figure(per.get("pg_statements")),
                        figure(per.get("pg_tup_written")), figure(per.get("pg_wal_bytes")), figure(per.get("kafka_records")),
                        figure(per.get("cpu_ms_engine")), figure(per.get("cpu_ms_postgres"))));
            });
        }
        Map<String, Object> ratios = map(report.get("ratios"));
        if (ratios != null && !ratios.isEmpty()) {
            lines.add("ratios: " + ratios);
        }
        Map<String, Object> three = map(report.get("brokers_3"));
        if (three != null) {
            Map<String, Object> w1three = map(three.get("w1"));
            Map<String, Object> half = w1three == null ? null : map(w1three.get("at_half_load"));
            Map<String, Object> halfLatency = half == null ? null : map(half.get("latency_ms"));
            lines.add("3 brokers (replication factor 3, min.insync.replicas 2): w1 " + (w1three == null ? "-" : perS(w1three.get("executions_per_s")))
                    + " executions/s" + (halfLatency == null ? "" : "; at half load p50 " + halfLatency.get("p50") + " ms, p99 "
                    + halfLatency.get("p99") + " ms") + "; ratios " + three.get("ratios") + "; replication cost " + three.get("replication_cost"));
        }
        return lines;
    }

    /** A cost figure as the profile's table prints it ("-" when absent). */
    private static String figure(Object v) {
        return v instanceof Number n ? BenchCost.format(n.doubleValue()) : "-";
    }

    /** Executions/s as a whole number with thousands separators ("3,887"); "?" when absent. */
    static String perS(Object v) {
        return v instanceof Number n ? String.format(Locale.ROOT, "%,d", Math.round(n.doubleValue())) : "?";
    }

    /** {@code a / b} rounded to 3 digits; null when either is absent or {@code b} is not positive. */
    static Double ratio(Object a, Object b) {
        if (!(a instanceof Number x) || !(b instanceof Number y) || y.doubleValue() <= 0) {
            return null;
        }
        return BenchCommand.round(x.doubleValue() / y.doubleValue(), 3);
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> map(Object o) {
        return o instanceof Map<?, ?> m ? (Map<String, Object>) m : null;
    }
}
