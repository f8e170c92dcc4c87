package dev.onceflow.deploy;

import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.deploy.dev.DevCommand;
import dev.onceflow.deploy.proof.BenchCommand;
import dev.onceflow.deploy.proof.ChaosCommand;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * The {@code onceflow} command. Each sub-command is a small class; this one only routes and turns
 * errors into messages and exit codes (0 ok, 1 failed, 2 usage).
 */
public final class Onceflow {

    static final String USAGE = """
            usage: onceflow <command> [options]

            commands:
              dev                 embedded Kafka + PostgreSQL, a dispatcher, engine workers, the example
                                  workflows and a demo workload with every event published 3 times
                  --workers N       engine worker threads (default 3)
                  --events N        distinct demo events, each published 3 times (default 2000)
                  --no-demo         publish nothing; serve until Ctrl-C
                  --exit            stop when the demo is done instead of serving until Ctrl-C
                  --json FILE       write the summary as JSON
                  --dir DIR         data directory (default: a new temporary directory, removed at the end)
              engine [--start-timeout S]
                                  run one engine process (engine.workers threads) against configured Kafka/PostgreSQL;
                                  waits up to S seconds (default 300, 0: no waiting) for PostgreSQL and Kafka at start
              dispatcher [--start-timeout S]
                                  run one dispatcher against configured Kafka/PostgreSQL (waits as engine does)
              workflow deploy FILE...   validate definitions and store each as a new version (PostgreSQL only;
                                  --start-timeout S, default 30)
              workflow list       list deployed workflows (latest versions)
              publish --workflow ID [--id ID] [--time ISO-8601] [DATA | --file F | -]
                                  publish one trigger record to onceflow.triggers (DATA is a JSON object, default {});
                                  prints the event key
              publish --topic T [DATA | --file F | -]
                                  publish a record as given (a JSON object) to the topic of a kafka workflow
                                  ('-' or --stdin: read the data from standard input)
              chaos [--duration S] [--seed N] [--rate N] [--engines N] [--dispatchers N] [--brokers 1|3]
                    [--big-rows N] [--row-rate N] [--faults KIND@S,...] [--dir DIR] [--json FILE] [--unsafe]
                                  broker, PostgreSQL, dispatchers and engines as separate processes under
                                  kill -9 / restart faults, with trigger-record, schedule and table workflows;
                                  checks duplicates, lost, stuck (exit 0 when all 0)
              bench [--executions N] [--workers N] [--storm-keys N] [--limit-records N] [--json FILE]
                    [--latency-seconds N] [--latency-only]
                                  throughput/latency on the embedded infrastructure next to the bare
                                  Kafka and PostgreSQL limits of the same run; writes FILE and a chart;
                                  latency: w1 at 10/s and 100/s for N s each (20), hop by hop, next to
                                  a bare transactional hop and a bare durable commit
              config              list every configuration key with its default and meaning

            operator commands (the dispatcher's admin API; --url, token in $ONCEFLOW_API_TOKEN, -o table|json,
            --help on each; exit 0 ok, 1 refused, 2 usage, 3 not found, 4 token, 5 unreachable):
              executions list [--workflow ID] [--status S] [--since ISO] [--limit N] [--cursor C]
              executions show|cancel|retry EVENT_KEY
              dlq list [--reason R] [--limit N]
              dlq redrive (--partition P --offset O | --reason R)
              workflow enable|disable ID, workflow rollback ID --version N, workflow versions
              fleet

            configuration: a properties file (--config FILE or ONCEFLOW_CONFIG), environment variables
            ONCEFLOW_<KEY> (dots become underscores, upper case), and --set key=value[,key=value] (repeatable).
            """;

    private Onceflow() {
    }

    public static void main(String[] argv) {
        int code = run(Arrays.asList(argv), System.out, System.err);
        System.exit(code);
    }

    public static int run(List<String> argv, PrintStream out, PrintStream err) {
        if (argv.isEmpty() || argv.get(0).equals("help") || argv.get(0).equals("--help") || argv.get(0).equals("-h")) {
            out.print(USAGE);
            return argv.isEmpty() ? 2 : 0;
        }
        String command = argv.get(0);
        List<String> rest = argv.subList(1, argv.size());
        if (AdminCli.COMMANDS.contains(command)
                || command.equals("workflow")) {
            return AdminCli.run(argv, out, err, System.getenv());
        }
        try {
            switch (command) {
                case "dev":
                    return DevCommand.run(rest, out, err);
                case "engine":
                    return RoleCommand.engine(rest, out, err);
                case "dispatcher":
                    return RoleCommand.dispatcher(rest, out, err);
                case "chaos":
                    return ChaosCommand.run(rest, out, err);
                case "bench":
                    return BenchCommand.run(rest, out, err);
                case "config":
                    Args.parse("config", rest, java.util.Set.of(), java.util.Set.of());
                    return ConfigCommand.run(out);
                default:
                    err.println("onceflow: unknown command '" + command + "'");
                    err.print(USAGE);
                    return 2;
            }
        } catch (Args.HelpRequested e) {
            out.print(e.getMessage());
            return 0;
        } catch (Args.UsageException e) {
            err.println("onceflow " + command + ": " + e.getMessage());
            err.println("run 'onceflow help' for usage");
            return 2;
        } catch (IllegalArgumentException e) {
            err.println("onceflow " + command + ": " + e.getMessage());
            return 2;
        } catch (Exception e) {
            err.println("onceflow " + command + " failed: " + e.getMessage());
            return 1;
        }
    }

    /** The lines of {@link #USAGE} that describe {@code command} (its entry and the indented lines under it). */
    static String usageOf(String command) {
        StringBuilder b = new StringBuilder();
        boolean in = false;
        for (String line : USAGE.split("\n")) {
            if (line.startsWith("  " + command + " ") || line.equals("  " + command) || line.startsWith("  " + command + "  ")) {
                in = true;
            } else if (in && !line.startsWith("      ") && !line.startsWith("        ")) {
                in = false;
            }
            if (in) {
                b.append(line.strip().isEmpty() ? "" : line.substring(2)).append('\n');
            }
        }
        return b.length() == 0 ? "See 'onceflow help'." : b.toString().stripTrailing();
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
