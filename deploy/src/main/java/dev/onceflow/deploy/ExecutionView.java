package dev.onceflow.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.onceflow.common.Json;
import java.io.PrintWriter;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;

/**
 * Executions as the CLI prints them, from the admin API's JSON ({@code GET /api/executions} and
 * {@code GET /api/executions/{key}}): the one place that renders them, for {@code executions list},
 * {@code executions show} and {@code publish --wait}. Event keys are printed whole (last on a list's
 * line, so a double-click or a paste gives {@code executions show} its argument); node runs in the
 * order the API gives, which is the order they ran; outputs compacted and cut to
 * {@value #OUTPUT_WIDTH} characters; times in UTC. Stateless; thread-safe.
 */
final class ExecutionView {

    /** The width of a node run's output column; longer outputs end in "…" ({@code -o json} shows them whole). */
    static final int OUTPUT_WIDTH = 60;
    /** An execution's error under its line in a list, cut to this width. */
    static final int LIST_ERROR_WIDTH = 120;

    private static final DateTimeFormatter DAY_TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss").withZone(ZoneOffset.UTC);
    private static final DateTimeFormatter DAY_TIME_MS = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss.SSS").withZone(ZoneOffset.UTC);
    private static final DateTimeFormatter TIME_MS = DateTimeFormatter.ofPattern("HH:mm:ss.SSS").withZone(ZoneOffset.UTC);

    private ExecutionView() {
    }

    /**
     * A page of {@code GET /api/executions}: one line per execution (status, created, took,
     * workflow and version, the full event key), its error on the line below, then how to get the
     * next page.
     */
    static void printList(JsonNode page, PrintWriter out) {
        List<List<String>> rows = new ArrayList<>();
        List<String> errors = new ArrayList<>();
        rows.add(List.of("STATUS", "CREATED (UTC)", "TOOK", "WORKFLOW", "EVENT KEY"));
        errors.add(null);
        for (JsonNode e : page.path("items")) {
            rows.add(List.of(text(e, "status"), time(e.get("createdAt"), DAY_TIME), took(e.get("createdAt"), e.get("finishedAt")),
                    text(e, "workflow") + " v" + text(e, "version"), text(e, "eventKey")));
            errors.add(e.hasNonNull("error") ? cut(oneLine(e.get("error").asText()), LIST_ERROR_WIDTH) : null);
        }
        if (rows.size() == 1) {
            out.println("no executions match");
            return;
        }
        printTable(rows, errors, out);
        if (page.hasNonNull("nextCursor")) {
            out.println("(more: --cursor " + page.get("nextCursor").asText() + ")");
        }
    }

    /**
     * One execution of {@code GET /api/executions/{key}}: its head (key, workflow, status, times,
     * error, trigger data), then its node runs in the order they ran with a short output, or the
     * error of a run that failed.
     */
    static void printExecution(JsonNode execution, PrintWriter out) {
        List<String[]> head = new ArrayList<>();
        head.add(new String[] {"execution", text(execution, "eventKey")});
        head.add(new String[] {"workflow", text(execution, "workflow") + " v" + text(execution, "version")});
        head.add(new String[] {"status", text(execution, "status")});
        head.add(new String[] {"created", time(execution.get("createdAt"), DAY_TIME_MS) + " UTC"});
        if (execution.hasNonNull("finishedAt")) {
            head.add(new String[] {"finished", time(execution.get("finishedAt"), DAY_TIME_MS) + " UTC (took "
                    + took(execution.get("createdAt"), execution.get("finishedAt")) + ")"});
        }
        if (execution.hasNonNull("error")) {
            head.add(new String[] {"error", oneLine(execution.get("error").asText())});
        }
        if (execution.hasNonNull("trigger")) {
            head.add(new String[] {"trigger", cut(Json.text(execution.get("trigger")), 200)});
        }
        for (String[] h : head) {
            out.println(String.format("%-10s %s", h[0], h[1]).stripTrailing());
        }
        out.println();
        JsonNode nodes = execution.path("nodes");
        if (nodes.isEmpty()) {
            out.println("no node ran yet");
            return;
        }
        boolean paths = false;
        for (JsonNode n : nodes) {
            paths |= !text(n, "path").isEmpty();
        }
        List<List<String>> rows = new ArrayList<>();
        rows.add(paths ? List.of("NODE", "PATH", "ATTEMPT", "STATUS", "STARTED", "TOOK", "OUTPUT / ERROR")
                : List.of("NODE", "ATTEMPT", "STATUS", "STARTED", "TOOK", "OUTPUT / ERROR"));
        for (JsonNode n : nodes) {
            List<String> row = new ArrayList<>();
            row.add(text(n, "node"));
            if (paths) {
                row.add(text(n, "path"));
            }
            row.add(text(n, "attempt"));
            row.add(text(n, "status"));
            row.add(time(n.get("startedAt"), TIME_MS));
            row.add(took(n.get("startedAt"), n.get("finishedAt")));
            row.add(detail(n));
            rows.add(row);
        }
        printTable(rows, null, out);
    }

    /** A run's last column: its error when it has one (whole, on one line), else its output compacted and cut. */
    static String detail(JsonNode run) {
        if (run.hasNonNull("error")) {
            return "error: " + oneLine(run.get("error").asText());
        }
        JsonNode output = run.get("output");
        return output == null || output.isNull() ? "" : cut(Json.text(output), OUTPUT_WIDTH);
    }

    /** {@code s} cut to {@code width} characters, the last one "…" when cut. */
    static String cut(String s, int width) {
        return s.length() <= width ? s : s.substring(0, width - 1) + "…";
    }

    private static String oneLine(String s) {
        return s.replaceAll("\\s*\\R\\s*", " ");
    }

    private static String text(JsonNode n, String field) {
        JsonNode v = n.get(field);
        return v == null || v.isNull() ? "" : v.asText();
    }

    private static String time(JsonNode iso, DateTimeFormatter f) {
        return iso == null || iso.isNull() ? "" : f.format(Instant.parse(iso.asText()));
    }

    /** "12 ms", "1.25 s", "3 min 4 s"; "-" while unfinished. */
    static String took(JsonNode from, JsonNode to) {
        if (from == null || from.isNull() || to == null || to.isNull()) {
            return "-";
        }
        long ms = Duration.between(Instant.parse(from.asText()), Instant.parse(to.asText())).toMillis();
        if (ms < 1000) {
            return ms + " ms";
        }
        if (ms < 60_000) {
            return String.format(java.util.Locale.ROOT, ms < 10_000 ? "%.2f s" : "%.1f s", ms / 1000.0);
        }
        return ms / 60_000 + " min " + Math.round((ms % 60_000) / 1000.0) + " s";
    }

    /** Columns padded to their widest cell, two spaces apart; {@code below} (per row, may be null) printed indented under a row. */
    private static void printTable(List<List<String>> rows, List<String> below, PrintWriter out) {
        int[] width = new int[rows.get(0).size()];
        for (List<String> row : rows) {
            for (int i = 0; i < row.size(); i++) {
                width[i] = Math.max(width[i], row.get(i).length());
            }
        }
        for (int r = 0; r < rows.size(); r++) {
            List<String> row = rows.get(r);
            StringBuilder line = new StringBuilder();
            for (int i = 0; i < row.size(); i++) {
                line.append(i < row.size() - 1 ? String.format("%-" + width[i] + "s  ", row.get(i)) : row.get(i));
            }
            out.println(line.toString().stripTrailing());
            if (below != null && below.get(r) != null) {
                out.println("  error: " + below.get(r));
            }
        }
    }
}
