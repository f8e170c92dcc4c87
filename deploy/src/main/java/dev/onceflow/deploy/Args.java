package dev.onceflow.deploy;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Command-line arguments of one command: {@code --name value} options, {@code --flag} switches and
 * positional words. Unknown options are an error naming the option, so a typo never silently runs
 * a default. Not thread-safe; one per command invocation.
 */
final class Args {

    private final Map<String, String> options = new HashMap<>();
    private final Map<String, List<String>> repeated = new HashMap<>();
    private final Set<String> flags = new HashSet<>();
    private final List<String> positional = new ArrayList<>();

    /**
     * @param valued the options that take a value (without {@code --})
     * @param switches the options that take none
     */
    static Args parse(String command, List<String> args, Set<String> valued, Set<String> switches) {
        Args parsed = new Args();
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            if (a.startsWith("--") && a.length() > 2) {
                String name = a.substring(2);
                String inline = null;
                int eq = name.indexOf('=');
                if (eq > 0) {
                    inline = name.substring(eq + 1);
                    name = name.substring(0, eq);
                }
                if (valued.contains(name)) {
                    if (inline == null) {
                        if (i + 1 >= args.size()) {
                            throw new UsageException(command + ": option --" + name + " needs a value");
                        }
                        inline = args.get(++i);
                    }
                    parsed.options.put(name, inline);
                    parsed.repeated.computeIfAbsent(name, k -> new ArrayList<>()).add(inline);
                } else if (switches.contains(name) && inline == null) {
                    parsed.flags.add(name);
                } else {
                    throw new UsageException(command + ": unknown option --" + name);
                }
            } else {
                parsed.positional.add(a);
            }
        }
        return parsed;
    }

    String get(String name, String fallback) {
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

    int intValue(String name, int fallback, int min, int max) {
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

    boolean flag(String name) {
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
