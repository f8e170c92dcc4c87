package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** One help style: every command of the {@code onceflow} tree describes every option and answers {@code --help}. */
class HelpTreeTest {

    private record Run(int code, String out, String err) {
    }

    private static Run run(List<String> argv) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = Onceflow.run(argv, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    /** Every command of the tree, as the words that name it ({@code [workflow, rollback]}). */
    private static List<List<String>> commands(CommandLine line, List<String> path, List<List<String>> into) {
        for (var sub : line.getSubcommands().entrySet()) {
            if (sub.getKey().equals("help")) {
                continue;
            }
            List<String> words = new ArrayList<>(path);
            words.add(sub.getKey());
            into.add(words);
            commands(sub.getValue(), words, into);
        }
        return into;
    }

    @Test
    void everyOptionOfEveryCommandHasADescriptionAndNoCommandTakesAPhantomArgument() {
        List<List<String>> all = commands(Onceflow.tree(), List.of(), new ArrayList<>());
        assertThat(all).contains(List.of("dev"), List.of("engine"), List.of("dispatcher"), List.of("publish"), List.of("workflow", "deploy"),
                List.of("workflow", "list"), List.of("workflow", "rollback"), List.of("executions", "show"), List.of("chaos"), List.of("bench"),
                List.of("config"), List.of("fleet"), List.of("dlq", "redrive"), List.of("import", "nocobase"));
        CommandLine root = Onceflow.tree();
        for (List<String> words : all) {
            CommandLine line = root;
            for (String w : words) {
                line = line.getSubcommands().get(w);
            }
            for (CommandLine.Model.OptionSpec o : line.getCommandSpec().options()) {
                assertThat(String.join(" ", o.description())).as(words + " " + o.longestName()).isNotBlank();
            }
            for (CommandLine.Model.PositionalParamSpec p : line.getCommandSpec().positionalParameters()) {
                assertThat(p.paramLabel()).as(words + " positional").isNotEqualTo("ARG").doesNotStartWith("<");
            }
        }
    }

    @Test
    void helpExitsZeroForEveryCommandAndHidesTheProofsOptions() {
        for (List<String> words : commands(Onceflow.tree(), List.of(), new ArrayList<>())) {
            List<String> argv = new ArrayList<>(words);
            argv.add("--help");
            Run r = run(argv);
            assertThat(r.code()).as(words + ": " + r.err()).isZero();
            assertThat(r.out()).as(words.toString()).startsWith("Usage: onceflow " + String.join(" ", words)).contains("--help");
        }
        assertThat(run(List.of("engine", "--help")).out()).doesNotContain("--unsafe").doesNotContain("--halt-between-commits")
                .contains("--set=KEY=VALUE").contains("--start-timeout=S");
        Args proof = Args.parse(RoleCommand.ENGINE, List.of("--unsafe", "--halt-between-commits", "halt"));
        assertThat(proof.flag("unsafe")).as("hidden, not gone: chaos starts engines with them").isTrue();
        assertThat(proof.get("halt-between-commits", null)).isEqualTo("halt");
        assertThat(run(List.of("chaos", "--help")).out()).as("chaos's negative control stays documented").contains("--unsafe");
        Run rollback = run(List.of("workflow", "rollback", "--help"));
        assertThat(rollback.out()).contains("--to=N");
        Run top = run(List.of("--help"));
        assertThat(top.code()).isZero();
        assertThat(top.out()).contains("dev", "publish", "executions", "engine", "dispatcher", "chaos", "bench", "config");
        assertThat(run(List.of("help")).code()).isZero();
    }

    @Test
    void versionPrintsOnceflowAndTheVersion() {
        for (String flag : List.of("--version", "-V")) {
            Run r = run(List.of(flag));
            assertThat(r.code()).as(flag).isZero();
            assertThat(r.out()).as(flag).matches("onceflow \\S.*\\n");
        }
        assertThat(Onceflow.version()).isEqualTo("onceflow development build");
    }

    @Test
    void mistakesAreUsageErrorsNamingTheWord() {
        Run unknown = run(List.of("no-such-command"));
        assertThat(unknown.code()).isEqualTo(2);
        assertThat(unknown.err()).contains("no-such-command");
        for (String command : List.of("dev", "engine", "publish", "fleet")) {
            Run r = run(List.of(command, "--no-such-option"));
            assertThat(r.code()).as(command).isEqualTo(2);
            assertThat(r.err()).as(command).contains("--no-such-option");
        }
        assertThat(run(List.of("engine", "stray")).code()).as("no phantom positional").isEqualTo(2);
        assertThat(run(List.of()).code()).isEqualTo(2);
    }
}
