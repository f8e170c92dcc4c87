package dev.onceflow.common.workflow;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import dev.onceflow.common.Json;
import java.io.IOException;
import java.util.List;

/** Parses and validates workflow definitions. Stateless. */
public final class Workflows {

    private Workflows() {
    }

    /**
     * Parses one definition and validates it.
     *
     * @param source what to name in error messages (a file name, "request body"…)
     */
    public static Workflow parse(String source, byte[] json) throws DefinitionException {
        Workflow wf;
        try {
            wf = Json.MAPPER.readValue(json, Workflow.class);
        } catch (JsonMappingException e) {
            throw new DefinitionException(source, mappingProblems(json, e));
        } catch (JsonProcessingException e) {
            throw new DefinitionException(source, List.of(malformed(e)));
        } catch (IOException e) {
            throw new DefinitionException(source, List.of("cannot read: " + e.getMessage()));
        }
        if (wf == null) {
            throw new DefinitionException(source, List.of("empty definition"));
        }
        List<String> problems = WorkflowValidator.problems(wf);
        if (!problems.isEmpty()) {
            throw new DefinitionException(source, problems);
        }
        return wf;
    }

    /**
     * A definition that did not bind: read again as a JSON tree so that each problem can name the
     * node by its id and the field by its path ({@link MappingProblems}). Jackson reports an input
     * cut short while binding as a mapping failure too; the tree read then tells it as malformed JSON.
     */
    private static List<String> mappingProblems(byte[] json, JsonMappingException e) {
        JsonNode tree;
        try {
            tree = Json.MAPPER.readTree(json);
        } catch (JsonProcessingException malformed) {
            return List.of(malformed(malformed));
        } catch (IOException unreadable) {
            return List.of("cannot read: " + unreadable.getMessage());
        }
        if (tree == null || tree.isMissingNode()) {
            return List.of("empty definition");
        }
        return MappingProblems.of(tree, e);
    }

    private static String malformed(JsonProcessingException e) {
        return "malformed JSON" + (e.getLocation() == null ? "" : " at line " + e.getLocation().getLineNr()
                + ", column " + e.getLocation().getColumnNr()) + ": " + MappingProblems.cleanMessage(e.getOriginalMessage());
    }
}
