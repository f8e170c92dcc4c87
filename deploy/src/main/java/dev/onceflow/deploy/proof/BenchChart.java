package dev.onceflow.deploy.proof;

import java.util.List;
import java.util.Map;

/** A self-contained HTML page (inline SVG, no scripts) of executions finished per second and latency over time. */
final class BenchChart {

    private BenchChart() {
    }

    /** One pair of charts (throughput, latency) per section, each on its own time axis. */
    static String html(Map<String, List<Map<String, Object>>> sections, String title) {
        return html(sections, title, List.of());
    }

    /** The charts below a list of headline figures ({@link BenchSummary#lines}). */
    static String html(Map<String, List<Map<String, Object>>> sections, String title, List<String> summary) {
        return html(sections, title, summary, Map.of());
    }

    /** As above, with tables shown as printed (heading → lines) between the headline figures and the charts. */
    static String html(Map<String, List<Map<String, Object>>> sections, String title, List<String> summary,
                       Map<String, List<String>> preformatted) {
        return html(sections, title, summary, preformatted, "");
    }

    /** As above, with a ready-made HTML block (the scaling curve) before the timelines. */
    static String html(Map<String, List<Map<String, Object>>> sections, String title, List<String> summary,
                       Map<String, List<String>> preformatted, String block) {
        StringBuilder sb = new StringBuilder();
        sb.append("<!doctype html><html><head><meta charset=\"utf-8\"><title>").append(title).append("</title>")
                .append("<style>body{font-family:sans-serif;margin:24px}svg{border:1px solid #ccc;margin-bottom:16px}</style></head><body>")
                .append("<h1>").append(title).append("</h1>");
        if (!summary.isEmpty()) {
            sb.append("<ul>");
            summary.forEach(line -> sb.append("<li>").append(escape(line)).append("</li>"));
            sb.append("</ul>");
        }
        preformatted.forEach((name, lines) -> sb.append("<h2>").append(escape(name)).append("</h2><pre>")
                .append(escape(String.join("\n", lines))).append("</pre>"));
        sb.append(block);
        sections.forEach((name, series) -> sb.append("<h2>").append(name).append("</h2>").append(section(series == null ? List.of() : series)));
        sb.append("</body></html>\n");
        return sb.toString();
    }

    private static String section(List<Map<String, Object>> series) {
        int w = 900;
        int h = 260;
        double maxT = 1;
        double maxN = 1;
        double maxL = 1;
        for (Map<String, Object> p : series) {
            maxT = Math.max(maxT, num(p.get("t_s")));
            maxN = Math.max(maxN, num(p.get("executions")));
            maxL = Math.max(maxL, num(p.get("latency_p99_ms")));
        }
        return chart("Executions finished per second", series, "executions", null, maxT, maxN, w, h, "#1f77b4", "#1f77b4")
                + chart("Latency, published to finished (ms): p50 solid, p99 dashed", series, "latency_p50_ms", "latency_p99_ms",
                maxT, maxL, w, h, "#d62728", "#ff9896");
    }

    private static String chart(String label, List<Map<String, Object>> series, String key, String key2, double maxT, double maxY,
                                int w, int h, String color, String color2) {
        StringBuilder sb = new StringBuilder();
        sb.append("<h3>").append(label).append("</h3>");
        sb.append("<svg width=\"").append(w + 60).append("\" height=\"").append(h + 40).append("\">");
        sb.append(String.format("<text x=\"5\" y=\"15\" font-size=\"11\">%.0f</text><text x=\"5\" y=\"%d\" font-size=\"11\">0</text>",
                maxY, h + 10));
        sb.append(String.format("<text x=\"%d\" y=\"%d\" font-size=\"11\">%.0f s</text>", w + 20, h + 30, maxT));
        sb.append(String.format("<line x1=\"50\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#999\"/>", h + 10, w + 50, h + 10));
        sb.append(polyline(series, key, maxT, maxY, w, h, color, false));
        if (key2 != null) {
            sb.append(polyline(series, key2, maxT, maxY, w, h, color2, true));
        }
        sb.append("</svg>");
        return sb.toString();
    }

    private static String polyline(List<Map<String, Object>> series, String key, double maxT, double maxY, int w, int h, String color,
                                   boolean dashed) {
        StringBuilder pts = new StringBuilder();
        for (Map<String, Object> p : series) {
            double x = 50 + num(p.get("t_s")) / maxT * w;
            double y = 10 + h - num(p.get(key)) / maxY * h;
            pts.append(String.format("%.1f,%.1f ", x, y));
        }
        return "<polyline fill=\"none\" stroke=\"" + color + "\" stroke-width=\"2\"" + (dashed ? " stroke-dasharray=\"5,4\"" : "")
                + " points=\"" + pts.toString().trim() + "\"/>";
    }

    /**
     * The scaling curve: executions/s against engine workers, one line per partition count, and a
     * table of the cores each part used; empty when the run had no scaling workload.
     */
    @SuppressWarnings("unchecked")
    static String scaling(Map<String, Object> scaling) {
        if (scaling == null) {
            return "";
        }
        List<Map<String, Object>> points = (List<Map<String, Object>>) scaling.get("points");
        java.util.TreeMap<Integer, List<Map<String, Object>>> byPartitions = new java.util.TreeMap<>();
        java.util.TreeSet<Integer> workers = new java.util.TreeSet<>();
        double maxY = 1;
        for (Map<String, Object> p : points) {
            byPartitions.computeIfAbsent((int) num(p.get("partitions")), k -> new java.util.ArrayList<>()).add(p);
            workers.add((int) num(p.get("workers")));
            maxY = Math.max(maxY, num(p.get("executions_per_s")));
        }
        List<Integer> xs = List.copyOf(workers);
        int w = 600;
        int h = 260;
        String[] colors = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"};
        StringBuilder sb = new StringBuilder("<h2>Scaling: w1 executions/s by engine workers, one line per partition count</h2>");
        sb.append("<p>").append(escape(String.valueOf(scaling.get("method")))).append("</p>");
        sb.append("<svg width=\"").append(w + 160).append("\" height=\"").append(h + 40).append("\">");
        sb.append(String.format("<text x=\"5\" y=\"15\" font-size=\"11\">%.0f/s</text><text x=\"5\" y=\"%d\" font-size=\"11\">0</text>",
                maxY, h + 10));
        for (int i = 0; i < xs.size(); i++) {
            sb.append(String.format("<text x=\"%.1f\" y=\"%d\" font-size=\"11\">%d workers</text>", x(i, xs.size(), w) - 15, h + 30,
                    xs.get(i)));
        }
        int c = 0;
        for (var e : byPartitions.entrySet()) {
            StringBuilder pts = new StringBuilder();
            for (Map<String, Object> p : e.getValue()) {
                int i = xs.indexOf((int) num(p.get("workers")));
                pts.append(String.format("%.1f,%.1f ", x(i, xs.size(), w), 10 + h - num(p.get("executions_per_s")) / maxY * h));
            }
            String color = colors[c++ % colors.length];
            sb.append("<polyline fill=\"none\" stroke=\"").append(color).append("\" stroke-width=\"2\" points=\"")
                    .append(pts.toString().trim()).append("\"/>");
            sb.append(String.format("<text x=\"%d\" y=\"%d\" font-size=\"12\" fill=\"%s\">%d partitions</text>", w + 70, 20 + 16 * c,
                    color, e.getKey()));
        }
        sb.append("</svg><table border=\"1\" cellpadding=\"4\"><tr><th>partitions</th><th>workers</th><th>executions/s</th>"
                + "<th>cores: engine</th><th>broker</th><th>PostgreSQL</th><th>rest of JVM (JIT, GC)</th><th>executions/s per engine core</th>"
                + "<th>load</th></tr>");
        for (Map<String, Object> p : points) {
            Map<String, Object> cores = (Map<String, Object>) p.get("cores");
            sb.append("<tr><td>").append(p.get("partitions")).append("</td><td>").append(p.get("workers")).append("</td><td>")
                    .append(p.get("executions_per_s")).append("</td><td>").append(cores.get("engine")).append("</td><td>")
                    .append(cores.get("broker")).append("</td><td>").append(cores.get("postgres")).append("</td><td>")
                    .append(cores.get("jvm_other")).append("</td><td>").append(p.get("executions_per_engine_core_s")).append("</td><td>")
                    .append(p.get("load_average")).append("</td></tr>");
        }
        return sb.append("</table>").toString();
    }

    private static double x(int i, int n, int w) {
        return 60 + (n <= 1 ? 0 : (double) i / (n - 1) * w);
    }

    static String escape(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }

    private static double num(Object o) {
        return o == null ? 0 : ((Number) o).doubleValue();
    }
}
