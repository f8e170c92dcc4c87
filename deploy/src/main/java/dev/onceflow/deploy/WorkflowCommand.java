package dev.onceflow.deploy;

import dev.onceflow.common.WorkflowStore;
import dev.onceflow.common.workflow.DefinitionException;
import dev.onceflow.common.workflow.Trigger;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.common.workflow.Workflows;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import javax.sql.DataSource;

/**
 * {@code onceflow workflow deploy FILE...}: every file is validated first; only when all are valid
 * is each stored as a new version, so a typo in one file deploys nothing. {@code workflow list}
 * prints the latest versions. Both need PostgreSQL only, not Kafka.
 */
public final class WorkflowCommand {

    /** How long deploy and list wait for PostgreSQL by default ({@code --start-timeout S}); a person is waiting. */
    static final int START_TIMEOUT_S = 30;

    private WorkflowCommand() {
    }

    static int run(List<String> argv, PrintStream out, PrintStream err) throws Exception {
        Args args = Args.parse("workflow", argv, Set.of("config", "set", "start-timeout"), Set.of("check"));
        List<String> words = args.positional();
        if (words.isEmpty()) {
            throw new Args.UsageException("expected 'deploy FILE...' or 'list'");
        }
        switch (words.get(0)) {
            case "deploy": {
                List<Path> files = words.subList(1, words.size()).stream().map(Path::of).toList();
                if (files.isEmpty()) {
                    throw new Args.UsageException("workflow deploy needs at least one FILE");
                }
                List<Workflow> parsed = parse(files, err);
                if (parsed == null) {
                    return 1;
                }
                if (args.flag("check")) {
                    parsed.forEach(w -> out.println("valid: " + w.id()));
                    return 0;
                }
                // PostgreSQL only: deploying stores rows; the dispatcher picks the workflows up from there.
                DataSource ds = RoleCommand.prepareDatabase(Onceflow.config(args), RoleCommand.startWait(args, START_TIMEOUT_S));
                for (Workflow wf : deploy(new WorkflowStore(ds), parsed)) {
                    out.println("deployed " + wf.id() + " version " + wf.version()
                            + (wf.trigger() instanceof Trigger.Kafka k && k.userTopic()
                            ? " (reads topic " + k.topic() + ", which must exist: onceflow dev creates it, elsewhere create it"
                            + " with your Kafka tools)" : ""));
                }
                return 0;
            }
            case "list": {
                DataSource ds = RoleCommand.prepareDatabase(Onceflow.config(args), RoleCommand.startWait(args, START_TIMEOUT_S));
                for (WorkflowStore.Stored s : new WorkflowStore(ds).latest()) {
                    out.printf("%-32s version %-4d %s%n", s.workflow().id(), s.workflow().version(),
                            s.enabled() ? "enabled" : "disabled");
                }
                return 0;
            }
            default:
                throw new Args.UsageException("unknown workflow sub-command '" + words.get(0) + "'");
        }
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
