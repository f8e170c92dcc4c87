package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.onceflow.common.local.LocalPostgres;
import dev.onceflow.common.workflow.Workflows;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code onceflow import nocobase --from-db}: a real PostgreSQL holding NocoBase's {@code workflows}
 * and {@code flow_nodes} tables as NocoBase creates them (camelCase columns, snowflake ids, one
 * non-current version), loaded from the fixture {@code nocobase/nocobase-workflows.sql}; the command
 * run as a user runs it; every file it writes validated again from disk, and the outcome the same
 * as importing NocoBase's REST answer for the same rows.
 */
@Timeout(120)
class NocobaseImportIT {

    private static LocalPostgres pg;
    private static Path pgDir;
    private static String url;

    @BeforeAll
    static void nocobaseDatabase() throws Exception {
        pgDir = Files.createTempDirectory("onceflow-nocobase-it-");
        pg = LocalPostgres.start(pgDir.resolve("pg"));
        try (Connection c = pg.dataSource().getConnection(); Statement s = c.createStatement()) {
            s.execute("CREATE DATABASE nocobase");
        }
        url = "jdbc:postgresql://localhost:" + pg.port() + "/nocobase";
        String fixture = new String(NocobaseImportIT.class.getResourceAsStream("/nocobase/nocobase-workflows.sql").readAllBytes(),
                StandardCharsets.UTF_8);
        try (Connection c = java.sql.DriverManager.getConnection(url, pg.user(), pg.password()); Statement s = c.createStatement()) {
            s.execute(fixture);
        }
    }

    @AfterAll
    static void stop() {
        if (pg != null) {
            pg.close();
        }
    }

    private record Run(int code, String out, String err) {
    }

    private static Run run(String... argv) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = AdminCli.run(List.of(argv), new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8), Map.of("NOCOBASE_DB_PASSWORD", pg.password()));
        return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void importsFromTheDatabaseAndEveryWrittenFileValidates(@TempDir Path out) throws Exception {
        Run r = run("import", "nocobase", "--from-db", url, "--user", pg.user(), "--out", out.toString());
        assertThat(r.code()).as(r.err()).isEqualTo(1); // the fixture holds workflows that are not importable
        assertThat(r.out()).contains("not importable 'Manual approval'").contains("report: ");
        List<Path> files;
        try (Stream<Path> list = Files.list(out)) {
            files = list.filter(p -> p.toString().endsWith(".json")).sorted().toList();
        }
        assertThat(files.stream().map(p -> p.getFileName().toString())).containsExactly("nb-wbranches.json", "nb-wcamel.json", "nb-wcustom.json",
                "nb-wdue.json", "nb-wnightly.json", "nb-wonce.json", "nb-worderpaid.json", "nb-wpostaction.json", "nb-wpostnew.json", "nb-wpurge.json");
        for (Path f : files) {
            Workflows.parse(f.toString(), Files.readAllBytes(f)); // the validator workflow deploy uses: throws on any problem
        }
        // the files deploy as they are, through the same check 'workflow deploy --check' makes
        String[] deployCheck = Stream.concat(Stream.of("workflow", "deploy", "--check"), files.stream().map(Path::toString))
                .toArray(String[]::new);
        Run check = run(deployCheck);
        assertThat(check.code()).as(check.err()).isZero();
        String report = Files.readString(out.resolve("import-report.md"));
        assertThat(report).contains("10 of 13 current workflows importable")
                .doesNotContain("old version").contains("(key wmanual, id 1010)");
    }

    @Test
    void theDatabaseAndTheRestAnswerGiveTheSameImport(@TempDir Path out) throws Exception {
        Run db = run("import", "nocobase", "--from-db", url, "--user", pg.user(), "--check");
        Path json = Path.of(NocobaseImportIT.class.getResource("/nocobase/workflows-list.json").toURI());
        Run rest = run("import", "nocobase", "--from-json", json.toString(), "--check");
        assertThat(db.code()).isEqualTo(1);
        assertThat(rest.code()).isEqualTo(1);
        assertThat(db.out().substring(db.out().indexOf("\n\n", db.out().indexOf("Source:"))))
                .isEqualTo(rest.out().substring(rest.out().indexOf("\n\n", rest.out().indexOf("Source:"))));
        try (Stream<Path> list = Files.list(out)) {
            assertThat(list).as("--check writes nothing").isEmpty();
        }
    }

    @Test
    void aDatabaseWithoutNocoBasesTablesIsNamed() {
        Run r = run("import", "nocobase", "--from-db", "jdbc:postgresql://localhost:" + pg.port() + "/postgres", "--user", pg.user(),
                "--check");
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).contains("no NocoBase workflow tables in schema 'public'");
    }
}
