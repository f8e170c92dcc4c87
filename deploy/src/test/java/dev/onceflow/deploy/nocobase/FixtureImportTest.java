package dev.onceflow.deploy.nocobase;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** The fixture of NocoBase workflows (workflows-list.json), imported as a whole: the outcome of each. */
class FixtureImportTest {

    static final NocobaseImport.Settings SETTINGS = new NocobaseImport.Settings("UTC", Instant.parse("2026-12-07T00:00:00Z"));

    static List<NocobaseImport.Outcome> importFixture() throws Exception {
        Path file = Path.of(FixtureImportTest.class.getResource("/nocobase/workflows-list.json").toURI());
        return NocobaseImport.translate(NocoSource.fromJson(file), SETTINGS);
    }

    @Test
    void everyCurrentWorkflowHasAnOutcomeAndTheImportableOnesValidate() throws Exception {
        List<NocobaseImport.Outcome> outcomes = importFixture();
        System.out.println(NocobaseImport.report(outcomes, "workflows-list.json"));
        outcomes.stream().filter(o -> o.definition() != null).forEach(o -> System.out.println(o.definition()));
        Map<String, NocobaseImport.Status> byKey = outcomes.stream()
                .collect(Collectors.toMap(o -> o.source().key(), NocobaseImport.Outcome::status));
        assertThat(byKey).hasSize(13).doesNotContainKey("oldend");
        assertThat(byKey).containsEntry("wmanual", NocobaseImport.Status.NOT_IMPORTABLE)
                .containsEntry("wrace", NocobaseImport.Status.NOT_IMPORTABLE)
                .containsEntry("wround", NocobaseImport.Status.NOT_IMPORTABLE);
    }
}
