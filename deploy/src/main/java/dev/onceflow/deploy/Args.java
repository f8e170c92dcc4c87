package dev.onceflow.deploy;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import picocli.CommandLine;

/**
 * Command-line arguments of the commands that start processes ({@code dev}, {@code engine},
 * {@code dispatcher}, {@code chaos}, {@code bench}, {@code config}): {@code --name value} options and
 * {@code --flag} switches, declared with a description each ({@link Spec}) and parsed by picocli
 * (its programmatic model), so their help reads as the operator commands' do. {@code -h}/{@code --help}
 * is every command's. Unknown options and stray words are an error naming them, so a typo never
 * silently runs a default. Not thread-safe; one per command invocation.
 */
public final class Args {

    private final Map<String, String> options = new HashMap<>();
    private final Map<String, List<String>> repeated = new HashMap<>();
    private final Set<String> flags = new HashSet<>();

    /**
     * One option: {@code label} null for a switch. Hidden options (the proof's negative controls and
     * faults) parse as any other but stay out of the help.
     */
    public record Opt(String name, String label, String description, boolean hidden) {
        public static Opt value(String name, String label, String description) {
            return new Opt(name, label, description, false);
        }

        public static Opt flag(String name, String description) {
            return new Opt(name, null, description, false);
        }

        public Opt hide() {
            return new Opt(name, label, description, true);
        }
    }

    /** The configuration options of the roles and tools ({@link Onceflow#config}). */
    public static final List<Opt> CONFIG = List.of(
            Opt.value("config", "FILE", "A properties file of configuration keys (default: $ONCEFLOW_CONFIG; see 'onceflow config')."),
            Opt.value("set", "KEY=VALUE", "Set configuration keys, over the file and the environment: key=value[,key=value];"
                    + " repeatable."));

    /** A command: its name under {@code onceflow}, what it does, and its options. */
    public record Spec(String name, String description, List<Opt> options) {
        public Spec {
            options = List.copyOf(options);
        }

        public Spec with(List<Opt> more) {
            List<Opt> all = new ArrayList<>(options);
            all.addAll(more);
            return new Spec(name, description, all);
        }

        /** The picocli model of this command, named {@code commandName}. */
        CommandLine.Model.CommandSpec picocli(String commandName, Object userObject) {
            CommandLine.Model.CommandSpec spec = userObject == null ? CommandLine.Model.CommandSpec.create()
                    : CommandLine.Model.CommandSpec.wrapWithoutInspection(userObject);
            spec.name(commandName);
            spec.usageMessage().width(Onceflow.USAGE_WIDTH).description(description.split("\n"));
            for (Opt o : options) {
                CommandLine.Model.OptionSpec.Builder b = CommandLine.Model.OptionSpec.builder("--" + o.name())
                        .description(o.description()).hidden(o.hidden());
                if (o.label() == null) {
                    b.arity("0").type(boolean.class);
                } else {
                    b.paramLabel(o.label()).arity("1");
                    if (REPEATABLE.contains(o.name())) {
                        b.type(List.class).auxiliaryTypes(String.class);
                    } else {
                        b.type(String.class);
                    }
                }
                spec.addOption(b.build());
            }
            spec.addOption(CommandLine.Model.OptionSpec.builder("-h", "--help").usageHelp(true).description("Show this help message and exit.").build());
            return spec;
        }
    }

    /**
     * @throws HelpRequested when the arguments ask for {@code --help}: its message is the usage
     * @throws UsageException when they do not parse, naming the option
     */
    public static Args parse(Spec command, List<String> args) {
        CommandLine line = new CommandLine(command.picocli("onceflow " + command.name(), null)).setOverwrittenOptionsAllowed(true);
        CommandLine.ParseResult result;
        try {
            result = line.parseArgs(args.toArray(new String[0]));
        } catch (CommandLine.ParameterException e) {
            throw new UsageException(e.getMessage());
        }
        if (result.isUsageHelpRequested()) {
            throw new HelpRequested(line.getUsageMessage(CommandLine.Help.Ansi.OFF));
        }
        Args parsed = new Args();
        for (CommandLine.Model.OptionSpec o : result.matchedOptions()) {
            String name = o.longestName().substring(2);
            if (o.arity().max() > 0) {
                List<String> values = REPEATABLE.contains(name) ? o.getValue() : List.of((String) o.getValue());
                parsed.repeated.put(name, List.copyOf(values));
                parsed.options.put(name, values.get(values.size() - 1));
            } else {
                parsed.flags.add(name);
            }
        }
        return parsed;
    }

    /** The options given once per pair or value, any number of times ({@code --set a=1 --set b=2}); the others: the last wins. */
    private static final Set<String> REPEATABLE = Set.of("set");

    /** {@code --help}: the usage of the command, to print, exit 0. */
    static final class HelpRequested extends RuntimeException {
        HelpRequested(String usage) {
            super(usage);
        }
    }

    public String get(String name, String fallback) {
        return options.getOrDefault(name, fallback);
    }

    /** Every value given to a repeatable option, in order ({@link #get} returns the last). */
    List<String> all(String name) {
        return repeated.getOrDefault(name, List.of());
    }

    private static final java.util.regex.Pattern PAIR_START = java.util.regex.Pattern.compile("\\s*[A-Za-z][A-Za-z0-9_.-]*\\s*=.*",
            java.util.regex.Pattern.DOTALL);

    /**
     * The {@code key=value} pairs of a repeatable option such as {@code --set}, each occurrence
     * holding one pair or several separated by commas. A comma starts a new pair only when what
     * follows looks like {@code key=}; otherwise it belongs to the value, so
     * {@code --set kafka.bootstrap.servers=a:1,b:2} is one pair. A value whose comma is followed by
     * {@code word=} needs an occurrence of its own. Later pairs win.
     */
    static Map<String, String> keyValues(String option, List<String> occurrences) {
        Map<String, String> pairs = new java.util.LinkedHashMap<>();
        for (String occurrence : occurrences) {
            List<String> parts = new ArrayList<>();
            for (String piece : occurrence.split(",", -1)) {
                if (parts.isEmpty() || PAIR_START.matcher(piece).matches()) {
                    parts.add(piece);
                } else {
                    parts.set(parts.size() - 1, parts.get(parts.size() - 1) + "," + piece);
                }
            }
            for (String pair : parts) {
                int eq = pair.indexOf('=');
                if (eq <= 0 || pair.substring(0, eq).isBlank()) {
                    throw new UsageException("--" + option + " expects key=value[,key=value], got '" + pair + "'");
                }
                pairs.put(pair.substring(0, eq).trim(), pair.substring(eq + 1).trim());
            }
        }
        return pairs;
    }

    String required(String command, String name) {
        String v = options.get(name);
        if (v == null) {
            throw new UsageException(command + ": option --" + name + " is required");
        }
        return v;
    }

    public int intValue(String name, int fallback, int min, int max) {
        String v = options.get(name);
        if (v == null) {
            return fallback;
        }
        try {
            int n = Integer.parseInt(v.trim());
            if (n < min || n > max) {
                throw new UsageException("--" + name + " must be between " + min + " and " + max + ", got " + n);
            }
            return n;
        } catch (NumberFormatException e) {
            throw new UsageException("--" + name + " must be a whole number, got '" + v + "'");
        }
    }

    public boolean flag(String name) {
        return flags.contains(name);
    }

    /** A mistake in how a command was called: printed with the usage, exit code 2. */
    static final class UsageException extends RuntimeException {
        UsageException(String message) {
            super(message);
        }
    }
}
