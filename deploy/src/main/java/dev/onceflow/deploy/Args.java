package dev.onceflow.deploy;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import picocli.CommandLine;

/**
 * Command-line arguments of one command: {@code --name value} options, {@code --flag} switches and
 * positional words, parsed by picocli (its programmatic model: the options are the command's,
 * {@code -h}/{@code --help} is every command's). Unknown options are an error naming the option, so
 * a typo never silently runs a default. Not thread-safe; one per command invocation.
 */
public final class Args {

    private final Map<String, String> options = new HashMap<>();
    private final Map<String, List<String>> repeated = new HashMap<>();
    private final Set<String> flags = new HashSet<>();
    private final List<String> positional = new ArrayList<>();

    /**
     * @param valued the options that take a value (without {@code --}); each may be repeated
     * @param switches the options that take none
     * @throws HelpRequested when the arguments ask for {@code --help}: its message is the usage
     * @throws UsageException when they do not parse, naming the option
     */
    public static Args parse(String command, List<String> args, Set<String> valued, Set<String> switches) {
        CommandLine.Model.CommandSpec spec = CommandLine.Model.CommandSpec.create().name("onceflow " + command);
        spec.usageMessage().width(120).description(Onceflow.usageOf(command).split("\n"));
        for (String name : new java.util.TreeSet<>(valued)) {
            CommandLine.Model.OptionSpec.Builder o = CommandLine.Model.OptionSpec.builder("--" + name)
                    .paramLabel(name.toUpperCase(java.util.Locale.ROOT).replace('-', '_')).arity("1");
            spec.addOption((REPEATABLE.contains(name) ? o.type(List.class).auxiliaryTypes(String.class) : o.type(String.class)).build());
        }
        for (String name : new java.util.TreeSet<>(switches)) {
            spec.addOption(CommandLine.Model.OptionSpec.builder("--" + name).arity("0").type(boolean.class).build());
        }
        spec.addOption(CommandLine.Model.OptionSpec.builder("-h", "--help").usageHelp(true).description("Show this help and exit.").build());
        spec.addPositional(CommandLine.Model.PositionalParamSpec.builder().paramLabel("ARG").type(List.class)
                .auxiliaryTypes(String.class).arity("0..*").build());
        CommandLine line = new CommandLine(spec).setOverwrittenOptionsAllowed(true);
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
            if (valued.contains(name)) {
                List<String> values = REPEATABLE.contains(name) ? o.getValue() : List.of((String) o.getValue());
                parsed.repeated.put(name, List.copyOf(values));
                parsed.options.put(name, values.get(values.size() - 1));
            } else if (switches.contains(name)) {
                parsed.flags.add(name);
            }
        }
        List<String> words = result.matchedPositionals().isEmpty() ? List.of() : result.matchedPositionals().get(0).getValue();
        parsed.positional.addAll(words == null ? List.of() : words);
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

    List<String> positional() {
        return positional;
    }

    /** A mistake in how a command was called: printed with the usage, exit code 2. */
    static final class UsageException extends RuntimeException {
        UsageException(String message) {
            super(message);
        }
    }
}
