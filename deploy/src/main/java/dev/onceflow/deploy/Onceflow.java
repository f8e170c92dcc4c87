package dev.onceflow.deploy;

import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.deploy.dev.DevCommand;
import dev.onceflow.deploy.proof.BenchCommand;
import dev.onceflow.deploy.proof.ChaosCommand;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code onceflow} command: one picocli tree. The operator commands ({@link AdminCli},
 * {@link WorkflowDeploy}, {@link PublishCommand}) are annotated commands that speak to the admin API;
 * the commands that start processes ({@code dev}, {@code engine}, {@code dispatcher}, {@code chaos},
 * {@code bench}, {@code config}) declare their options as an {@link Args.Spec} and are run here with the
 * words after their name. One help style for all; exit codes 0 ok, 1 failed, 2 usage (the operator
 * commands add 3 not found, 4 token, 5 unreachable).
 */
public final class Onceflow {

    /** The commands that start processes, by name: their options, and what runs them. */
    private static final Map<String, Args.Spec> PROCESS_COMMANDS = new LinkedHashMap<>();
    private static final Map<String, Runner> RUNNERS = new LinkedHashMap<>();

    static {
        process(DevCommand.SPEC, DevCommand::run);
        process(RoleCommand.DISPATCHER, RoleCommand::dispatcher);
        process(RoleCommand.ENGINE, RoleCommand::engine);
        process(ConfigCommand.SPEC, (argv, out, err) -> {
            Args.parse(ConfigCommand.SPEC, argv);
            return ConfigCommand.run(out);
        });
        process(ChaosCommand.SPEC, ChaosCommand::run);
        process(BenchCommand.SPEC, BenchCommand::run);
    }

    private static void process(Args.Spec spec, Runner runner) {
        PROCESS_COMMANDS.put(spec.name(), spec);
        RUNNERS.put(spec.name(), runner);
    }

    /** A command that parses its own words ({@link Args#parse}) and runs. */
    private interface Runner {
        int run(List<String> argv, PrintStream out, PrintStream err) throws Exception;
    }

    /** Wide enough that an option's description mostly fits on its line. */
    static final int USAGE_WIDTH = 120;

    private Onceflow() {
    }

    public static void main(String[] argv) {
        int code = run(Arrays.asList(argv), System.out, System.err);
        System.exit(code);
    }

    /** {@code onceflow <version>}: the jar manifest's Implementation-Version. */
    static String version() {
        String v = Onceflow.class.getPackage() == null ? null : Onceflow.class.getPackage().getImplementationVersion();
        return "onceflow " + (v == null || v.isBlank() ? "development build" : v);
    }

    @Command(name = "onceflow", mixinStandardHelpOptions = true, versionProvider = Version.class, sortOptions = false,
            synopsisSubcommandLabel = "COMMAND",
            description = {"Workflows on Kafka and PostgreSQL whose every node's effect happens once.", ""},
            commandListHeading = "%nCommands:%n",
            footer = {"", "The operator commands (workflow, publish, executions, dlq, fleet) speak to a dispatcher's admin API:"
                    + " --url or $ONCEFLOW_URL, --token or $ONCEFLOW_API_TOKEN, else the file 'onceflow dev' writes"
                    + " (~/.config/onceflow/cli.properties; $ONCEFLOW_CLI_CONFIG names another).",
                    "Configuration of dev and the roles: a properties file (--config FILE or $ONCEFLOW_CONFIG), environment variables"
                    + " ONCEFLOW_<KEY> (dots become underscores, upper case), and --set key=value (repeatable); 'onceflow config'"
                    + " lists every key.",
                    "Exit codes: 0 ok, 1 failed or refused, 2 usage, 3 not found, 4 token, 5 API unreachable."})
    static final class Root {
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {version()};
        }
    }

    /** Stands in a process command's place in the tree; {@link #run} runs those commands itself. */
    private record NotThroughTheTree(String name) implements java.util.concurrent.Callable<Integer> {
        @Override
        public Integer call() {
            throw new IllegalStateException("onceflow " + name + " runs through Onceflow.run");
        }
    }

    /** Every command, for help and parsing; the process commands appear with their {@link Args.Spec}. */
    static CommandLine tree() {
        CommandLine root = new CommandLine(new Root());
        root.addSubcommand(new CommandLine(DevCommand.SPEC.picocli("dev", new NotThroughTheTree("dev"))));
        AdminCli.addCommands(root);
        for (Args.Spec spec : PROCESS_COMMANDS.values()) {
            if (!spec.name().equals("dev")) {
                root.addSubcommand(new CommandLine(spec.picocli(spec.name(), new NotThroughTheTree(spec.name()))));
            }
        }
        root.addSubcommand(new CommandLine.HelpCommand());
        root.setExitCodeExceptionMapper(e -> AdminCli.USAGE);
        setVersion(root);
        root.setUsageHelpWidth(USAGE_WIDTH);
        return root;
    }

    /** Every command answers {@code --version} (picocli's standard options) with the same line. */
    private static void setVersion(CommandLine line) {
        line.getCommandSpec().versionProvider(new Version());
        line.getSubcommands().values().forEach(Onceflow::setVersion);
    }

    public static int run(List<String> argv, PrintStream out, PrintStream err) {
        if (argv.isEmpty()) {
            tree().usage(out, CommandLine.Help.Ansi.OFF);
            return AdminCli.USAGE;
        }
        String command = argv.get(0);
        Runner runner = RUNNERS.get(command);
        if (runner == null) {
            return AdminCli.run(argv, out, err, System.getenv());
        }
        List<String> rest = argv.subList(1, argv.size());
        try {
            return runner.run(rest, out, err);
        } catch (Args.HelpRequested e) {
            out.print(e.getMessage());
            return 0;
        } catch (Args.UsageException e) {
            err.println("onceflow " + command + ": " + e.getMessage());
            err.println("run 'onceflow " + command + " --help' for usage");
            return 2;
        } catch (IllegalArgumentException e) {
            err.println("onceflow " + command + ": " + e.getMessage());
            return 2;
        } catch (Exception e) {
            err.println("onceflow " + command + " failed: " + e.getMessage());
            return 1;
        }
    }

    /**
     * Configuration of a role or tool: defaults, then {@code --config FILE} (or ONCEFLOW_CONFIG),
     * then environment variables, then {@code --set key=value} options (repeatable; see {@link Args#keyValues}).
     */
    static OnceflowConfig config(Args args) {
        String file = args.get("config", null);
        Map<String, String> overrides = Args.keyValues("set", args.all("set"));
        return OnceflowConfig.load(file == null ? null : Path.of(file), System.getenv(), overrides);
    }
}
