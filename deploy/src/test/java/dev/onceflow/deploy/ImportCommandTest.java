package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code onceflow import nocobase} as a user runs it, from NocoBase's REST answer: files, report, exit codes, usage errors. */
class ImportCommandTest {

    private record Run(int code, String out, String err) {
    }

    private static Run run(String... argv) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = Onceflow.run(List.of(argv), new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    private static String fixture() throws Exception {
        return Path.of(ImportCommandTest.class.getResource("/nocobase/workflows-list.json").toURI()).toString();
    }

    @Test
    void writesOneFilePerImportableWorkflowAndTheReportAndExitsOneWhenAnyIsNot(@TempDir Path out) throws Exception {
        Run r = run("import", "nocobase", "--from-json", fixture(), "--out", out.toString());
        assertThat(r.code()).as(r.err()).isEqualTo(1);
        assertThat(out.resolve("nb-wpostnew.json")).exists();
        assertThat(out.resolve("nb-wmanual.json")).doesNotExist();
        assertThat(Files.readString(out.resolve("import-report.md"))).contains("## 'Manual approval' (key wmanual, id 1010)\n\nnot importable\n- why: ");
        assertThat(r.out()).contains("imported 'Once at launch' (key wonce, id 1005) -> ").contains("with 3 approximation(s)");
    }

    @Test
    void allImportableExitsZero(@TempDir Path dir) throws Exception {
        Path one = dir.resolve("one.json");
        Files.writeString(one, """
                {"data": [{"id": 5, "key": "k5", "title": "Ping", "type": "schedule", "enabled": true, "current": true,
                  "config": {"mode": 0, "startsOn": "2026-01-01T00:00:00Z", "repeat": 60000},
                  "nodes": [{"id": 50, "key": "n1", "type": "end", "config": {"endStatus": 1}, "upstreamId": null, "branchIndex": null, "downstreamId": null}]}]}""");
        Run r = run("import", "nocobase", "--from-json", one.toString(), "--check");
        assertThat(r.code()).as(r.out() + r.err()).isZero();
        assertThat(r.out()).contains("1 of 1 current workflows importable (1 imported");
        try (var list = Files.list(dir)) {
            assertThat(list).containsExactly(one);
        }
    }

    @Test
    void mistakesAreUsageErrorsOrNamedFailures(@TempDir Path dir) throws Exception {
        assertThat(run("import", "nocobase", "--check").code()).isEqualTo(2);
        Run both = run("import", "nocobase", "--from-json", fixture(), "--from-db", "jdbc:postgresql://x/y", "--check");
        assertThat(both.code()).isEqualTo(2);
        assertThat(both.err()).contains("mutually exclusive");
        Run noOut = run("import", "nocobase", "--from-json", fixture());
        assertThat(noOut.code()).isEqualTo(2);
        assertThat(noOut.err()).contains("--out");
        assertThat(run("import", "nocobase", "--from-json", fixture(), "--check", "--zone", "Mars/Base").err()).contains("Mars/Base");
        Path bad = dir.resolve("bad.json");
        Files.writeString(bad, "{\"data\": [{\"id\": 1, \"key\": \"k\"}]}");
        Run noNodes = run("import", "nocobase", "--from-json", bad.toString(), "--check");
        assertThat(noNodes.code()).isEqualTo(1);
        assertThat(noNodes.err()).contains("has no \"nodes\": export with workflows:list?appends=nodes");
    }
}
