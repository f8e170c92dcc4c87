package dev.onceflow.common.workflow;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonMappingException;
import dev.onceflow.common.Json;
import java.io.IOException;
import java.util.List;
import java.util.stream.Collectors;

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
            throw new DefinitionException(source, List.of(describe(e)));
        } catch (JsonProcessingException e) {
            throw new DefinitionException(source, List.of("malformed JSON: " + e.getOriginalMessage()
                    + (e.getLocation() == null ? "" : " at line " + e.getLocation().getLineNr()
                    + ", column " + e.getLocation().getColumnNr())));
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

    private static String describe(JsonMappingException e) {
        String path = e.getPath().stream()
                .map(r -> r.getFieldName() != null ? r.getFieldName() : "[" + r.getIndex() + "]")
                .collect(Collectors.joining(".")).replace(".[", "[");
        return (path.isEmpty() ? "" : "field '" + path + "': ") + e.getOriginalMessage();
    }
}
