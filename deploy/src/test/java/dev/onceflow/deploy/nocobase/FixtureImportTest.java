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
        Map<String, NocobaseImport.Status> byKey = outcomes.stream()
                .collect(Collectors.toMap(o -> o.source().key(), NocobaseImport.Outcome::status));
        // one outcome per key: the non-current version of wpostnew is not imported
        assertThat(byKey).hasSize(13);
        assertThat(outcomes.stream().filter(o -> o.source().key().equals("wpostnew")).findFirst().orElseThrow().source().id()).isEqualTo(1001);
        assertThat(byKey).containsEntry("wonce", NocobaseImport.Status.IMPORTED)
                .containsEntry("wmanual", NocobaseImport.Status.NOT_IMPORTABLE)
                .containsEntry("wrace", NocobaseImport.Status.NOT_IMPORTABLE)
                .containsEntry("wround", NocobaseImport.Status.NOT_IMPORTABLE)
                // camelCase table, changed and date field names, quoted as table triggers want them (ADR 0024)
                .containsEntry("wcamel", NocobaseImport.Status.IMPORTED)
                .containsEntry("wdue", NocobaseImport.Status.APPROXIMATED);
        assertThat(byKey.values().stream().filter(s -> s != NocobaseImport.Status.NOT_IMPORTABLE)).as("importable").hasSize(10);
        assertThat(byKey.values().stream().filter(s -> s == NocobaseImport.Status.APPROXIMATED)).hasSize(8);
        for (NocobaseImport.Outcome o : outcomes) {
            if (o.status() == NocobaseImport.Status.NOT_IMPORTABLE) {
                assertThat(o.definition()).isNull();
                assertThat(o.reasons()).as(o.source().key()).isNotEmpty();
            } else {
                dev.onceflow.common.workflow.Workflows.parse(o.fileName(), o.definition().getBytes(java.nio.charset.StandardCharsets.UTF_8));
            }
        }
    }
}
