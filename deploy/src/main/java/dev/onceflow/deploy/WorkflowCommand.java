package dev.onceflow.deploy;

import dev.onceflow.common.WorkflowStore;
import dev.onceflow.common.workflow.DefinitionException;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.common.workflow.Workflows;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Workflow definition files: parsed and validated together ({@link #parse}, used by
 * {@code onceflow workflow deploy}, which then posts them to the admin API: {@link WorkflowDeploy}),
 * and stored directly by the processes that own the database ({@link #deploy}: {@code dev}, tests).
 */
public final class WorkflowCommand {

    private WorkflowCommand() {
    }

    /** Parses and validates every file; prints every problem and returns null when any file is invalid. */
    static List<Workflow> parse(List<Path> files, PrintStream err) {
        List<Workflow> parsed = new ArrayList<>();
        boolean ok = true;
        for (Path file : files) {
            try {
                parsed.add(Workflows.parse(file.toString(), Files.readAllBytes(file)));
            } catch (DefinitionException e) {
                err.println(e.getMessage());
                ok = false;
            } catch (IOException e) {
                err.println(file + ": cannot read: " + e.getMessage());
                ok = false;
            }
        }
        return ok ? parsed : null;
    }

    public static List<Workflow> deploy(WorkflowStore store, List<Workflow> workflows) throws java.sql.SQLException {
        List<Workflow> stored = new ArrayList<>();
        for (Workflow wf : workflows) {
            stored.add(store.deploy(wf));
        }
        return stored;
    }
}
