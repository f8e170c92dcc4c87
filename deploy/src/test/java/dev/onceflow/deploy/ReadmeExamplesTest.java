package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.onceflow.common.workflow.Workflows;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** How ReadmeExamplesIT reads the README's commands, and the README's promises that need no server. */
class ReadmeExamplesTest {

    private static final String SAMPLE = """
            # Title

            ```sh
            first --a && second   # a trailing comment stays
            # a note, not a command

            long \\
              --continued
            ```

            ```text
            deployed x version 1
            ```

            ```json
            {"not": "run"}
            ```

            ```sh
            cat > f.json <<'EOF'
            {
              "id": "x"
            }
            EOF
            onceflow publish --workflow x --wait   # exits 1
            ```

            Prose between.

            ```text
            failed
            ```

            ```
            not run, no language
            ```
            """;

    @Test
    void commandsAreTheShBlocksLinesWithContinuationsAndHeredocs() {
        List<ReadmeExamples.Command> commands = ReadmeExamples.commands(SAMPLE);

        assertThat(commands).extracting(ReadmeExamples.Command::command).containsExactly(
                "first --a && second   # a trailing comment stays",
                "long \\\n  --continued",
                "cat > f.json <<'EOF'\n{\n  \"id\": \"x\"\n}\nEOF",
                "onceflow publish --workflow x --wait   # exits 1");
        assertThat(commands).extracting(ReadmeExamples.Command::line).containsExactly(4, 7, 20, 25);
        assertThat(commands).extracting(ReadmeExamples.Command::exitStatus).containsExactly(0, 0, 0, 1);
    }

    @Test
    void anOutputBlockBelongsToTheLastCommandRightBeforeIt() {
        List<ReadmeExamples.Command> commands = ReadmeExamples.commands(SAMPLE);

        assertThat(commands.get(0).output()).isEmpty();
        assertThat(commands.get(1).output()).contains("deployed x version 1\n");
        // prose between the blocks: the text block is not this command's output
        assertThat(commands.get(3).output()).isEmpty();
    }

    @Test
    void aBlockThatNeverClosesOrAHeredocWithoutItsEndIsRefused() {
        assertThatThrownBy(() -> ReadmeExamples.commands("```sh\nls\n")).hasMessageContaining("never closes");
        assertThatThrownBy(() -> ReadmeExamples.commands("```sh\ncat > f <<EOF\nx\n```\n"))
                .hasMessageContaining("here-document without its EOF line");
    }

    @Test
    void outputMustShowTheKeyWordsOfEachLineOnOneLineWithItsFirstWord() {
        String expected = """
                event key my-first@123#p-0
                  review    2  succeeded
                  done      1  succeeded
                """;

        assertThat(ReadmeExamples.missingOutput(expected, """
                node    attempt  status
                review  2        succeeded
                done    1        succeeded
                """)).isEmpty();
        // before the retry took effect: review has failed, and its line is the one that counts
        assertThat(ReadmeExamples.missingOutput(expected, """
                vat     1  succeeded
                review  1  failed
                done    1  succeeded
                """)).singleElement().asString().startsWith("review    2  succeeded");
        assertThat(ReadmeExamples.required("failed: node 'review' failed: SQL error")).containsExactly("failed");
        assertThat(ReadmeExamples.required("event key my-first@1#x")).isEmpty();
    }

    @Test
    void aKeyPlaceholderIsTheLastKeyPrintedForItsWorkflow() {
        String printed = """
                event key my-first@1#a
                event key my-first@2#b
                event key my-first-schema@3#c
                """;

        assertThat(ReadmeExamples.fillKeys("onceflow executions retry 'my-first@…'", printed))
                .contains("onceflow executions retry 'my-first@2#b'");
        assertThat(ReadmeExamples.fillKeys("onceflow executions show 'other@…'", printed)).isEmpty();
        assertThat(ReadmeExamples.fillKeys("onceflow fleet", "")).contains("onceflow fleet");
    }

    @Test
    void theReadmeShowsTheTestCommandOfCiAndOnlyCommandsTheItRunsOrListsWhyNot() throws Exception {
        String readme = Files.readString(ReadmeExamplesIT.REPO.resolve("README.md"));
        List<ReadmeExamples.Command> commands = ReadmeExamples.commands(readme);
        List<String> ci = Files.readAllLines(ReadmeExamplesIT.REPO.resolve(".ci").resolve("run"));
        String ciCommand = ci.get(ci.size() - 1).strip();

        assertThat(commands).extracting(ReadmeExamples.Command::command).contains(ciCommand);
        assertThat(commands.get(0).command()).startsWith(ReadmeExamplesIT.BUILD_PREFIX);
        assertThat(ReadmeExamplesIT.unlisted(commands)).isEmpty();
        assertThat(ReadmeExamplesIT.staleNotRun(commands)).isEmpty();
        assertThat(commands.stream().map(ReadmeExamples.Command::command)
                .map(c -> c.startsWith(ReadmeExamplesIT.BUILD_PREFIX) ? c.substring(ReadmeExamplesIT.BUILD_PREFIX.length()) : c)
                .filter(ReadmeExamplesIT::isServingDev))
                .as("the walkthrough's server").hasSize(1);
        assertThat(ReadmeExamplesIT.isServingDev(commands.get(0).command().substring(ReadmeExamplesIT.BUILD_PREFIX.length())))
                .as("the first command serves, so that the walkthrough's commands reach it from another terminal").isTrue();
        assertThat(readme.lines().count()).as("a front door, not the manual").isLessThanOrEqualTo(400);
    }

    @Test
    void theWorkflowTheReadmeWritesIsTheExampleInTheRepoAndValid() throws Exception {
        Path example = ReadmeExamplesIT.REPO.resolve("deploy/examples/first/my-first.json");
        List<ReadmeExamples.Command> commands = ReadmeExamples.commands(
                Files.readString(ReadmeExamplesIT.REPO.resolve("README.md")));

        Optional<String> written = commands.stream()
                .map(c -> ReadmeExamples.heredocWriting(c.command(), "my-first.json"))
                .flatMap(Optional::stream).findFirst();
        assertThat(written).as("the README writes my-first.json").isPresent();
        assertThat(written.get()).isEqualTo(Files.readString(example));
        for (String name : List.of("my-first.json", "my-first-schema.json")) {
            Path file = example.resolveSibling(name);
            assertThat(Workflows.parse(file.toString(), Files.readAllBytes(file)).id())
                    .isEqualTo(name.replace(".json", ""));
        }
    }
}
