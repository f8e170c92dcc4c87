package dev.onceflow.common.workflow;

import java.util.List;

/** A workflow definition that cannot be accepted; every problem names the source, node and field. */
public final class DefinitionException extends Exception {

    private final List<String> problems;

    public DefinitionException(String source, List<String> problems) {
        super("invalid workflow definition " + source + ":\n  - " + String.join("\n  - ", problems));
        this.problems = List.copyOf(problems);
    }

    public List<String> problems() {
        return problems;
    }
}
