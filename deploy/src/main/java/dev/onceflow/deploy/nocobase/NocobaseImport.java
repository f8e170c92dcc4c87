package dev.onceflow.deploy.nocobase;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.common.Json;
import dev.onceflow.common.workflow.DefinitionException;
import dev.onceflow.common.workflow.Workflows;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * {@code onceflow import nocobase}: the current version of each NocoBase workflow translated
 * ({@link TranslateTrigger}, {@link TranslateNodes}), each definition validated by the validator
 * {@code workflow deploy} uses ({@link Workflows#parse}), and the outcome per workflow: imported,
 * imported with approximations (each listed), or not importable (why). Stateless.
 */
public final class NocobaseImport {

    /** What became of one NocoBase workflow. */
    public enum Status {
        IMPORTED("imported"), APPROXIMATED("imported with approximations"), NOT_IMPORTABLE("not importable");

        final String words;

        Status(String words) {
            this.words = words;
        }
    }

    /**
     * One workflow's outcome.
     *
     * @param definition the Onceflow definition (pretty JSON), null when not importable
     * @param reasons    why it is not importable: the translator's reason, or every problem the validator found
     */
    public record Outcome(NocoWorkflow source, String onceflowId, Status status, List<String> approximations, List<String> reasons,
                          String definition) {
        public Outcome {
            approximations = List.copyOf(approximations);
            reasons = List.copyOf(reasons);
        }

        public String fileName() {
            return onceflowId + ".json";
        }
    }

    /** Settings of one import: the time zone cron schedules are evaluated in, and "now" (startsOn in the future). */
    public record Settings(String zone, Instant now) {
    }

    /** The NocoBase version whose storage and semantics the translation follows (docs/nocobase.md). */
    public static final String NOCOBASE_STUDIED = "2.2.0 (nocobase/nocobase commit 916a11c, 2026-08-22)";

    private NocobaseImport() {
    }

    /** The outcome for every current workflow (NocoBase's {@code current} version of each key), in key order. */
    public static List<Outcome> translate(List<NocoWorkflow> all, Settings settings) {
        List<Outcome> out = new ArrayList<>();
        all.stream().filter(NocoWorkflow::current).sorted(Comparator.comparing(w -> w.key() == null ? "" : w.key()))
                .forEach(w -> out.add(translate(w, settings)));
        return out;
    }

    public static Outcome translate(NocoWorkflow wf, Settings settings) {
        String id = "nb-" + (wf.key() == null || wf.key().isBlank() ? Long.toString(wf.id()) : wf.key().replaceAll("[^A-Za-z0-9._-]", "-"));
        List<String> approximations = new ArrayList<>();
        ObjectNode def;
        try {
            TranslateTrigger.Result trigger = TranslateTrigger.translate(wf, settings.zone(), settings.now(), approximations);
            List<ObjectNode> nodes = new TranslateNodes(wf, trigger.context(), approximations).translate(trigger.waitUntil());
            def = JsonNodeFactory.instance.objectNode();
            def.put("id", id);
            def.put("description", "Imported from NocoBase: " + wf.title() + " (key " + wf.key() + ", id " + wf.id() + ", type "
                    + wf.type() + (wf.enabled() ? ", enabled there" : ", disabled there") + ")");
            def.set("trigger", trigger.trigger());
            def.put("start", nodes.get(0).path("id").asText());
            ArrayNode array = def.putArray("nodes");
            nodes.forEach(array::add);
        } catch (NotImportable e) {
            return new Outcome(wf, id, Status.NOT_IMPORTABLE, approximations, List.of(e.getMessage()), null);
        }
        String text;
        try {
            text = Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(def);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e); // a tree of our own always serialises
        }
        try {
            Workflows.parse(id + ".json", text.getBytes(StandardCharsets.UTF_8));
        } catch (DefinitionException e) {
            return new Outcome(wf, id, Status.NOT_IMPORTABLE, approximations, e.problems().stream()
                    .map(p -> "the translation does not validate: " + p).toList(), null);
        }
        return new Outcome(wf, id, approximations.isEmpty() ? Status.IMPORTED : Status.APPROXIMATED, approximations, List.of(), text + "\n");
    }

    /** Writes one file per importable workflow and {@code import-report.md} into {@code dir}; returns the files written. */
    public static List<Path> write(List<Outcome> outcomes, Path dir, String sourceName) throws IOException {
        Files.createDirectories(dir);
        List<Path> written = new ArrayList<>();
        for (Outcome o : outcomes) {
            if (o.definition() != null) {
                Path f = dir.resolve(o.fileName());
                Files.writeString(f, o.definition(), StandardCharsets.UTF_8);
                written.add(f);
            }
        }
        Path report = dir.resolve("import-report.md");
        Files.writeString(report, report(outcomes, sourceName), StandardCharsets.UTF_8);
        written.add(report);
        return written;
    }

    /** The report: a count per status, then per workflow its status and each approximation or reason. */
    public static String report(List<Outcome> outcomes, String sourceName) {
        StringBuilder b = new StringBuilder("# NocoBase import report\n\n");
        b.append("Source: ").append(sourceName).append("\n\n");
        b.append("Translated as NocoBase stores workflows in plugin-workflow ").append(NOCOBASE_STUDIED).append(".\n\n");
        long imported = outcomes.stream().filter(o -> o.status() != Status.NOT_IMPORTABLE).count();
        b.append(imported).append(" of ").append(outcomes.size()).append(" current workflows importable (")
                .append(count(outcomes, Status.IMPORTED)).append(" imported, ").append(count(outcomes, Status.APPROXIMATED))
                .append(" imported with approximations, ").append(count(outcomes, Status.NOT_IMPORTABLE)).append(" not importable).\n");
        for (Outcome o : outcomes) {
            b.append("\n## ").append(o.source().describe()).append("\n\n");
            b.append(o.status().words).append(o.status() == Status.NOT_IMPORTABLE ? "" : ": " + o.fileName()).append('\n');
            for (String r : o.reasons()) {
                b.append("- why: ").append(r).append('\n');
            }
            for (String a : o.approximations()) {
                b.append("- approximation: ").append(a).append('\n');
            }
        }
        return b.toString();
    }

    private static long count(List<Outcome> outcomes, Status s) {
        return outcomes.stream().filter(o -> o.status() == s).count();
    }
}
