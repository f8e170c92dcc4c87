package dev.onceflow.common.workflow;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * A table as PostgreSQL names it: a schema and a table name, both exactly as stored in the
 * catalog (case kept, no quotes). Parsed from text written as in SQL (ADR 0024): an unquoted part
 * is an ordinary identifier ({@code users}, {@code order_items}); a quoted part keeps its case and
 * may hold any character ({@code "orderItems"}, {@code "a ""b"""}); {@code schema.table} or a bare
 * table in {@code public}. Unlike PostgreSQL, an unquoted part with an upper-case letter is
 * refused instead of folded: {@code orderItems} would silently name {@code orderitems}, which is
 * rarely what a NocoBase user meant.
 *
 * <p>{@link #toString()} is the canonical text used in trigger definitions, event keys, ordering
 * keys and the capture's messages: each part bare when it is a plain lower-case identifier, else
 * quoted ({@code public.users}, {@code public."orderItems"}); so every table that the old rule
 * accepted keeps its text. {@link #sql()} quotes both parts, for statements. Immutable.
 */
public record TableName(String schema, String name) {

    /** The schema of a table named without one. */
    public static final String DEFAULT_SCHEMA = "public";
    /** PostgreSQL's NAMEDATALEN - 1: longer identifiers are silently truncated by PostgreSQL. */
    static final int MAX_BYTES = 63;
    private static final Pattern PLAIN = Pattern.compile("[a-z_][a-z0-9_$]*");

    public TableName {
        Objects.requireNonNull(schema, "schema");
        Objects.requireNonNull(name, "name");
    }

    /** A table from its catalog names (as Debezium reports them: case kept, unquoted). */
    public static TableName of(String schema, String name) {
        return new TableName(schema, name);
    }

    /**
     * Parses {@code [schema.]table} written as in SQL.
     *
     * @throws IllegalArgumentException naming what is wrong and how to write it instead
     */
    public static TableName parse(String text) {
        List<String> parts = parts(text, "table name");
        if (parts.size() > 2) {
            throw new IllegalArgumentException("'" + text + "' has " + parts.size() + " parts; a table is table or schema.table "
                    + "(a database cannot be named: the capture reads one database)");
        }
        return parts.size() == 1 ? new TableName(DEFAULT_SCHEMA, parts.get(0)) : new TableName(parts.get(0), parts.get(1));
    }

    /**
     * Parses one column name written as in SQL and returns it as stored in the catalog
     * ({@code "createdAt"} → {@code createdAt}, {@code nickname} → {@code nickname}).
     *
     * @throws IllegalArgumentException naming what is wrong and how to write it instead
     */
    public static String column(String text) {
        List<String> parts = parts(text, "column name");
        if (parts.size() != 1) {
            throw new IllegalArgumentException("'" + text + "' is not a single column name");
        }
        return parts.get(0);
    }

    /** A catalog name as written in SQL where it is plain enough to need no quotes, else quoted. */
    public static String quoteIfNeeded(String identifier) {
        return PLAIN.matcher(identifier).matches() ? identifier : quote(identifier);
    }

    /** A catalog name always quoted: safe in any statement, keywords included. */
    public static String quote(String identifier) {
        return '"' + identifier.replace("\"", "\"\"") + '"';
    }

    /** Both parts quoted, for statements ({@code ALTER TABLE}, {@code CREATE PUBLICATION … FOR TABLE}). */
    public String sql() {
        return quote(schema) + "." + quote(name);
    }

    /**
     * A regular expression matching exactly this table in Debezium's {@code table.include.list}
     * (matched against {@code schema.table} with the catalog names). Every character but letters,
     * digits and '_' is escaped as {@code \x{…}}: the list is split on commas, so a name holding a
     * comma must not carry one literally.
     */
    public String includeRegex() {
        StringBuilder sb = new StringBuilder();
        (schema + "." + name).codePoints().forEach(cp -> {
            if (cp < 128 && (Character.isLetterOrDigit(cp) || cp == '_')) {
                sb.appendCodePoint(cp);
            } else {
                sb.append("\\x{").append(Integer.toHexString(cp)).append('}');
            }
        });
        return sb.toString();
    }

    /** The canonical text: {@code schema.table}, each part quoted only where SQL needs it. */
    @Override
    public String toString() {
        return quoteIfNeeded(schema) + "." + quoteIfNeeded(name);
    }

    /** Splits dotted SQL identifiers into catalog names, following PostgreSQL's rules except for folding. */
    private static List<String> parts(String text, String what) {
        if (text == null || text.isBlank()) {
            throw new IllegalArgumentException("missing " + what);
        }
        List<String> parts = new ArrayList<>();
        String s = text.strip();
        int i = 0;
        while (true) {
            i = skipSpaces(s, i);
            if (i >= s.length()) {
                throw new IllegalArgumentException("'" + text + "' ends where a name should follow");
            }
            StringBuilder part = new StringBuilder();
            if (s.charAt(i) == '"') {
                i++;
                while (true) {
                    if (i >= s.length()) {
                        throw new IllegalArgumentException("'" + text + "' has an unterminated quoted name");
                    }
                    char c = s.charAt(i++);
                    if (c == '"') {
                        if (i < s.length() && s.charAt(i) == '"') {
                            part.append('"');
                            i++;
                            continue;
                        }
                        break;
                    }
                    part.append(c);
                }
                if (part.length() == 0) {
                    throw new IllegalArgumentException("'" + text + "' has an empty quoted name (\"\")");
                }
                if (part.indexOf("\0") >= 0) {
                    throw new IllegalArgumentException("'" + text + "' holds a NUL character");
                }
            } else {
                int start = i;
                while (i < s.length() && unquotedPart(s.charAt(i), i == start)) {
                    i++;
                }
                String word = s.substring(start, i);
                if (word.isEmpty()) {
                    throw new IllegalArgumentException("'" + text + "' is not a PostgreSQL " + what + ": '" + s.charAt(i)
                            + "' at position " + (i + 1) + " (unquoted names are letters, digits, '_' and '$', not starting "
                            + "with a digit or '$'; quote any other name, e.g. \"my-table\")");
                }
                if (word.chars().anyMatch(c -> c >= 'A' && c <= 'Z')) { // PostgreSQL folds ASCII letters only
                    throw new IllegalArgumentException("'" + word + "'" + (word.equals(text.strip()) ? "" : " in '" + text + "'")
                            + " has upper-case letters but no quotes; "
                            + "PostgreSQL would fold it to " + word.toLowerCase(java.util.Locale.ROOT) + ". Write \"" + word
                            + "\" (in JSON: \"\\\"" + word + "\\\"\") to keep its case, or " + word.toLowerCase(java.util.Locale.ROOT));
                }
                part.append(word);
            }
            if (part.toString().getBytes(StandardCharsets.UTF_8).length > MAX_BYTES) {
                throw new IllegalArgumentException("'" + part + "' in '" + text + "' is longer than " + MAX_BYTES
                        + " bytes; PostgreSQL would truncate it");
            }
            parts.add(part.toString());
            i = skipSpaces(s, i);
            if (i >= s.length()) {
                return parts;
            }
            if (s.charAt(i) != '.') {
                throw new IllegalArgumentException("'" + text + "' is not a PostgreSQL " + what + ": unexpected '" + s.charAt(i)
                        + "' at position " + (i + 1) + " (quote a name that holds spaces or punctuation)");
            }
            i++;
        }
    }

    private static boolean unquotedPart(char c, boolean first) {
        if (c == '_' || Character.isLetter(c)) {
            return true;
        }
        return !first && (c == '$' || c >= '0' && c <= '9');
    }

    private static int skipSpaces(String s, int i) {
        while (i < s.length() && Character.isWhitespace(s.charAt(i))) {
            i++;
        }
        return i;
    }
}
