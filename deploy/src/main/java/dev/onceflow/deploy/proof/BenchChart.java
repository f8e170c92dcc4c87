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
        StringBuilder sb = new StringBuilder();
        sb.append("<!doctype html><html><head><meta charset=\"utf-8\"><title>").append(title).append("</title>")
                .append("<style>body{font-family:sans-serif;margin:24px}svg{border:1px solid #ccc;margin-bottom:16px}</style></head><body>")
                .append("<h1>").append(title).append("</h1>");
        if (!summary.isEmpty()) {
            sb.append("<ul>");
            summary.forEach(line -> sb.append("<li>").append(escape(line)).append("</li>"));
            sb.append("</ul>");
        }
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

    static String escape(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }

    private static double num(Object o) {
        return o == null ? 0 : ((Number) o).doubleValue();
    }
}
