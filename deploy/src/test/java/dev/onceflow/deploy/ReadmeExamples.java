package dev.onceflow.deploy;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The commands a README shows, as {@link ReadmeExamplesIT} runs them. The convention, which the
 * README follows:
 * <ul>
 *   <li>a fenced block marked {@code sh} holds commands to run, in order; every other block
 *       ({@code text}, {@code console}, {@code json}, unmarked) is not run;</li>
 *   <li>a command is a line, with the lines a trailing {@code \} continues and the body of a
 *       here-document ({@code <<'EOF'} … {@code EOF}); lines that are only a {@code #} comment are
 *       notes;</li>
 *   <li>a trailing comment {@code # exits N} gives the exit status the command must end with; any
 *       other command must exit 0;</li>
 *   <li>a {@code text} or {@code console} block right after an {@code sh} block (nothing but blank
 *       lines between) is the output of that block's last command: see {@link #missingOutput};</li>
 *   <li>{@code <workflow>@…} in a command stands for the event key {@code publish} printed last
 *       for that workflow ({@code event key <workflow>@…}): see {@link #fillKeys}.</li>
 * </ul>
 */
final class ReadmeExamples {

    /** Words of an output block that the real output must show: the vocabulary of outcomes. */
    static final Set<String> KEY_WORDS = Set.of("succeeded", "failed", "cancelled", "waiting", "deployed", "valid");

    private static final Pattern FENCE = Pattern.compile("^```\\s*([A-Za-z0-9_-]*)\\s*$");
    private static final Pattern EXITS = Pattern.compile("#\\s*exits\\s+(\\d+)\\s*$");
    private static final Pattern HEREDOC = Pattern.compile("<<-?\\s*'?\"?([A-Za-z_][A-Za-z0-9_]*)'?\"?");
    private static final Pattern KEY_PLACEHOLDER = Pattern.compile("([A-Za-z0-9_-]+)@…");
    private static final Pattern PRINTED_KEY = Pattern.compile("event key (\\S+)");

    private ReadmeExamples() {
    }

    /**
     * One command of an {@code sh} block.
     *
     * @param command the text bash runs (continuations and here-document included)
     * @param line the README line it starts on (1-based)
     * @param exitStatus the status it must end with
     * @param output the output block shown after it, if any
     */
    record Command(String command, int line, int exitStatus, Optional<String> output) {

        /** The first line, for messages. */
        String firstLine() {
            int nl = command.indexOf('\n');
            return nl < 0 ? command : command.substring(0, nl) + " …";
        }
    }

    /** Every command of the {@code sh} blocks of {@code markdown}, in order. */
    static List<Command> commands(String markdown) {
        String[] lines = markdown.split("\n", -1);
        List<Command> out = new ArrayList<>();
        int i = 0;
        while (i < lines.length) {
            Matcher open = FENCE.matcher(lines[i]);
            if (!open.matches()) {
                i++;
                continue;
            }
            String lang = open.group(1);
            int bodyStart = i + 1;
            int close = bodyStart;
            while (close < lines.length && !lines[close].startsWith("```")) {
                close++;
            }
            if (close >= lines.length) {
                throw new IllegalArgumentException("README line " + (i + 1) + ": a ``` block that never closes");
            }
            if (lang.equals("sh")) {
                List<Command> block = split(lines, bodyStart, close);
                Optional<String> output = outputAfter(lines, close + 1);
                if (output.isPresent() && !block.isEmpty()) {
                    Command last = block.remove(block.size() - 1);
                    block.add(new Command(last.command(), last.line(), last.exitStatus(), output));
                }
                out.addAll(block);
            }
            i = close + 1;
        }
        return out;
    }

    /** The commands of one block's lines {@code [from, to)}. */
    private static List<Command> split(String[] lines, int from, int to) {
        List<Command> out = new ArrayList<>();
        int i = from;
        while (i < to) {
            String line = lines[i];
            if (line.isBlank() || line.strip().startsWith("#")) {
                i++;
                continue;
            }
            int start = i;
            StringBuilder command = new StringBuilder(line);
            String last = line;
            while (last.endsWith("\\") && i + 1 < to) {
                last = lines[++i];
                command.append('\n').append(last);
            }
            Matcher heredoc = HEREDOC.matcher(command);
            if (heredoc.find()) {
                String terminator = heredoc.group(1);
                do {
                    if (++i >= to) {
                        throw new IllegalArgumentException("README line " + (start + 1) + ": here-document without its "
                                + terminator + " line");
                    }
                    command.append('\n').append(lines[i]);
                } while (!lines[i].strip().equals(terminator));
            }
            Matcher exits = EXITS.matcher(lines[start]);
            int status = exits.find() ? Integer.parseInt(exits.group(1)) : 0;
            out.add(new Command(command.toString(), start + 1, status, Optional.empty()));
            i++;
        }
        return out;
    }

    private static Optional<String> outputAfter(String[] lines, int from) {
        int i = from;
        while (i < lines.length && lines[i].isBlank()) {
            i++;
        }
        if (i >= lines.length) {
            return Optional.empty();
        }
        Matcher open = FENCE.matcher(lines[i]);
        if (!open.matches() || !(open.group(1).equals("text") || open.group(1).equals("console"))) {
            return Optional.empty();
        }
        StringBuilder body = new StringBuilder();
        for (int j = i + 1; j < lines.length && !lines[j].startsWith("```"); j++) {
            body.append(lines[j]).append('\n');
        }
        return Optional.of(body.toString());
    }

    /**
     * The lines of {@code expected} that {@code actual} does not show. A line of the expected output
     * counts when it holds a {@link #KEY_WORDS key word}; the actual output shows it when one of its
     * lines contains the expected line's first word and every key word of it (so {@code review 2
     * succeeded} asks for a line with {@code review} and {@code succeeded}, whatever the columns).
     */
    static List<String> missingOutput(String expected, String actual) {
        List<String> actualLines = actual.lines().toList();
        List<String> missing = new ArrayList<>();
        for (String line : expected.lines().toList()) {
            Set<String> required = required(line);
            if (required.isEmpty()) {
                continue;
            }
            boolean shown = actualLines.stream().anyMatch(a -> required.stream().allMatch(a::contains));
            if (!shown) {
                missing.add(line.strip() + "  (looked for a line with " + required + ")");
            }
        }
        return missing;
    }

    /** The words a line of expected output asks for: none when it has no key word. */
    static Set<String> required(String expectedLine) {
        List<String> words = new ArrayList<>();
        for (String token : expectedLine.strip().split("\\s+")) {
            String word = token.replaceAll("^[\\p{Punct}&&[^@#]]+|[\\p{Punct}&&[^@#]]+$", "");
            if (!word.isEmpty()) {
                words.add(word);
            }
        }
        Set<String> keyWords = new LinkedHashSet<>();
        words.stream().filter(KEY_WORDS::contains).forEach(keyWords::add);
        if (keyWords.isEmpty()) {
            return Set.of();
        }
        Set<String> required = new LinkedHashSet<>();
        required.add(words.get(0));
        required.addAll(keyWords);
        return required;
    }

    /**
     * {@code command} with every {@code <workflow>@…} replaced by the last event key printed for
     * that workflow in {@code printedSoFar}; empty when one has none.
     */
    static Optional<String> fillKeys(String command, String printedSoFar) {
        Matcher placeholder = KEY_PLACEHOLDER.matcher(command);
        StringBuilder out = new StringBuilder();
        while (placeholder.find()) {
            String workflow = placeholder.group(1);
            String key = null;
            Matcher printed = PRINTED_KEY.matcher(printedSoFar);
            while (printed.find()) {
                if (printed.group(1).startsWith(workflow + "@")) {
                    key = printed.group(1);
                }
            }
            if (key == null) {
                return Optional.empty();
            }
            placeholder.appendReplacement(out, Matcher.quoteReplacement(key));
        }
        placeholder.appendTail(out);
        return Optional.of(out.toString());
    }

    /** The here-document body a command writes to {@code file} ({@code cat > file <<'EOF'}), if it does. */
    static Optional<String> heredocWriting(String command, String file) {
        String[] lines = command.split("\n", -1);
        Matcher heredoc = HEREDOC.matcher(lines[0]);
        if (!lines[0].matches("cat\\s*>\\s*" + Pattern.quote(file) + "\\s*<<.*") || !heredoc.find()) {
            return Optional.empty();
        }
        StringBuilder body = new StringBuilder();
        for (int i = 1; i < lines.length - 1; i++) {
            body.append(lines[i]).append('\n');
        }
        return Optional.of(body.toString());
    }
}
