package dev.onceflow.common.workflow;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.annotation.JsonSubTypes;
import dev.onceflow.common.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** The workflows in deploy/examples (deployed by onceflow dev, cited by the README) stay valid. */
class ExamplesTest {

    /** Relative to the module: Maven runs the tests in common/. */
    private static final Path EXAMPLES = Path.of("..", "deploy", "examples");

    private static List<Path> exampleFiles() throws Exception {
        try (Stream<Path> files = Files.list(EXAMPLES)) {
            return files.filter(f -> f.toString().endsWith(".json")).sorted().toList();
        }
    }

    @Test
    void everyExampleParsesValidatesAndSurvivesBeingStored() throws Exception {
        List<Path> files = exampleFiles();
        assertThat(files).as("examples in " + EXAMPLES.toAbsolutePath()).isNotEmpty();
        for (Path file : files) {
            Workflow wf = Workflows.parse(file.toString(), Files.readAllBytes(file));
            assertThat(wf.id()).as(file.toString()).isEqualTo(file.getFileName().toString().replace(".json", ""));
            // WorkflowStore stores Json.text(workflow); the engine parses that again
            assertThat(Workflows.parse("stored " + file, Json.bytes(wf))).as(file.toString()).isEqualTo(wf);
        }
    }

    @Test
    void everyNodeTypeHasAnExampleNamedAfterIt() throws Exception {
        Set<String> types = new TreeSet<>();
        for (JsonSubTypes.Type type : Node.class.getAnnotation(JsonSubTypes.class).value()) {
            types.add(type.name());
        }
        Set<String> used = new TreeSet<>();
        List<String> missingFiles = new ArrayList<>();
        for (Path file : exampleFiles()) {
            Json.tree(Files.readString(file)).get("nodes").forEach(n -> used.add(n.get("type").asText()));
        }
        for (String type : types) {
            if (Stream.of("sql", "condition", "end").noneMatch(type::equals)
                    && !Files.exists(EXAMPLES.resolve("nodes-" + type + ".json"))) {
                missingFiles.add("nodes-" + type + ".json");
            }
        }
        assertThat(used).containsAll(types);
        assertThat(missingFiles).isEmpty();
        assertThat(Arrays.stream(Node.class.getPermittedSubclasses()).count()).isEqualTo(types.size());
    }
}
