package dev.onceflow.common.workflow;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * What a {@code sql} node's text may hold: exactly one statement that runs inside the node's
 * transaction. The engine runs the statement in the same PostgreSQL transaction as the node's
 * claim (its processed-key row); a statement that ends or splits that transaction ({@code COMMIT},
 * {@code ROLLBACK}, {@code BEGIN}, {@code SAVEPOINT}…), changes its characteristics, changes the
 * session the next executions share ({@code SET} without {@code LOCAL}, {@code RESET},
 * {@code PREPARE}, {@code DEALLOCATE}), or comes
 * with a second statement would commit the claim and the effect outside the protocol, or leave
 * the connection different for the next node. Statements that PostgreSQL refuses inside a
 * transaction block ({@code VACUUM}, {@code CREATE INDEX CONCURRENTLY}…) are refused here too, so
 * the mistake is named at deploy rather than at run time.
 *
 * <p>The check reads the statement's words outside string literals ({@code '…'}, {@code E'…'}),
 * quoted identifiers ({@code "…"}), dollar-quoted strings ({@code $tag$…$tag$}) and comments
 * ({@code --}, nested {@code /* *}{@code /}); one trailing {@code ;} is allowed. It judges syntax,
 * not what functions do: {@code CALL} and {@code DO} are allowed because PostgreSQL itself refuses
 * transaction control inside them when they run in a transaction block (SQLSTATE 2D000), and
 * {@code LOCK} is allowed because its lock ends with the node's transaction and its wait is bounded
 * by the node's timeout. Stateless.
 */
public final class SqlStatements {

    private SqlStatements() {
    }

    /** A statement's words (keywords and identifiers) outside literals and comments, upper-cased. */
    record Statement(List<String> words) {
    }

    /**
     * The statements of {@code sql}, split at {@code ;} outside literals, identifiers and comments;
     * statements holding only white space and comments are left out.
     */
    static List<Statement> statements(String sql) {
        List<Statement> out = new ArrayList<>();
        List<String> words = new ArrayList<>();
        boolean content = false;
        int n = sql.length();
        int i = 0;
        while (i < n) {
            char c = sql.charAt(i);
            if (c == ';') {
                if (content) {
                    out.add(new Statement(List.copyOf(words)));
                }
                words.clear();
                content = false;
                i++;
            } else if (Character.isWhitespace(c)) {
                i++;
            } else if (c == '-' && i + 1 < n && sql.charAt(i + 1) == '-') {
                int end = sql.indexOf('\n', i);
                i = end < 0 ? n : end + 1;
            } else if (c == '/' && i + 1 < n && sql.charAt(i + 1) == '*') {
                i = blockCommentEnd(sql, i);
            } else if (c == '\'') {
                content = true;
                boolean escapes = i > 0 && (sql.charAt(i - 1) == 'E' || sql.charAt(i - 1) == 'e')
                        && (i < 2 || !identifierPart(sql.charAt(i - 2)));
                i = quoteEnd(sql, i, '\'', escapes);
            } else if (c == '"') {
                content = true;
                i = quoteEnd(sql, i, '"', false);
            } else if (c == '$' && (i == 0 || !identifierPart(sql.charAt(i - 1))) && dollarTag(sql, i) != null) {
                content = true;
                String tag = dollarTag(sql, i);
                int end = sql.indexOf(tag, i + tag.length());
                i = end < 0 ? n : end + tag.length();
            } else if (identifierStart(c)) {
                content = true;
                int start = i;
                while (i < n && identifierPart(sql.charAt(i))) {
                    i++;
                }
                // E'…' is one literal: the quote is read next, with the E before it.
                if (!(i - start == 1 && (c == 'E' || c == 'e') && i < n && sql.charAt(i) == '\'')) {
                    words.add(sql.substring(start, i).toUpperCase(Locale.ROOT));
                }
            } else {
                content = true;
                i++;
            }
        }
        if (content) {
            out.add(new Statement(List.copyOf(words)));
        }
        return out;
    }

    /**
     * Why {@code sql} cannot be a node's statement, or null when it can: not exactly one statement,
     * or a statement that would act outside the node's transaction.
     */
    public static String problem(String sql) {
        if (sql == null || sql.isBlank()) {
            return "missing";
        }
        List<Statement> statements = statements(sql);
        if (statements.isEmpty()) {
            return "holds no statement (only comments)";
        }
        if (statements.size() > 1) {
            return "holds " + statements.size() + " statements; a sql node runs exactly one, inside the node's transaction"
                    + " (a ';' ends a statement outside quotes and comments; one trailing ';' is fine)";
        }
        return forbidden(statements.get(0).words());
    }

    private static String forbidden(List<String> w) {
        String first = w.isEmpty() ? "" : w.get(0);
        String second = w.size() > 1 ? w.get(1) : "";
        String control = "'%s' would %s the transaction that holds the node's claim and effect, outside the engine's"
                + " exactly-once protocol; the engine commits or rolls back each node itself";
        switch (first) {
            case "BEGIN", "START":
                return String.format(control, first + (first.equals("START") ? " " + second : ""), "nest or restart");
            case "COMMIT", "END":
                return String.format(control, first + (second.equals("PREPARED") ? " PREPARED" : ""), "commit");
            case "ROLLBACK", "ABORT":
                return String.format(control, first + (second.equals("PREPARED") ? " PREPARED" : ""), "roll back");
            case "SAVEPOINT", "RELEASE":
                return String.format(control, first, "split");
            case "PREPARE":
                if (second.equals("TRANSACTION")) {
                    return String.format(control, "PREPARE TRANSACTION", "detach");
                }
                return "'PREPARE' creates a prepared statement in the session, which later nodes and executions share on this"
                        + " connection (the next run of the node would find it already there); the driver prepares statements itself";
            case "DEALLOCATE":
                return "'DEALLOCATE' drops prepared statements of the session, including the driver's own for later nodes";
            case "SET":
                if (second.equals("TRANSACTION")) {
                    return "'SET TRANSACTION' would change the isolation of the transaction that holds the node's claim;"
                            + " the engine chooses it";
                }
                if (second.equals("LOCAL") && w.size() > 2 && (w.get(2).equals("SEARCH_PATH") || w.get(2).equals("SCHEMA"))) {
                    // The engine's own statements later in this transaction name Onceflow's tables unqualified (ADR 0024).
                    return "'SET LOCAL " + w.get(2).toLowerCase(java.util.Locale.ROOT) + "' would change where the engine's own"
                            + " statements after this node, in the same transaction, find Onceflow's tables; qualify the"
                            + " application's tables instead (public.executions)";
                }
                if (second.equals("LOCAL") || second.equals("CONSTRAINTS")) {
                    return null;
                }
                return "'SET " + second + "' changes the session, which later nodes and executions share on this connection;"
                        + " use SET LOCAL (it lasts until the node's transaction ends)";
            case "RESET", "DISCARD":
                return "'" + first + "' changes the session, which later nodes and executions share on this connection";
            case "VACUUM", "CHECKPOINT":
                return "'" + first + "' cannot run inside a transaction block, and every sql node runs in one";
            case "CREATE", "DROP", "REINDEX":
                if (w.contains("CONCURRENTLY") && (w.contains("INDEX") || first.equals("REINDEX"))) {
                    return "'" + first + " … CONCURRENTLY' cannot run inside a transaction block, and every sql node runs in one";
                }
                if ((second.equals("DATABASE") || second.equals("TABLESPACE"))
                        || first.equals("REINDEX") && (second.equals("SYSTEM") || second.equals("DATABASE"))) {
                    return "'" + first + " " + second + "' cannot run inside a transaction block, and every sql node runs in one";
                }
                return null;
            case "ALTER":
                return second.equals("SYSTEM")
                        ? "'ALTER SYSTEM' cannot run inside a transaction block, and every sql node runs in one" : null;
            default:
                return null;
        }
    }

    private static int blockCommentEnd(String sql, int i) {
        int depth = 0;
        int n = sql.length();
        while (i < n) {
            if (sql.startsWith("/*", i)) {
                depth++;
                i += 2;
            } else if (sql.startsWith("*/", i)) {
                depth--;
                i += 2;
                if (depth == 0) {
                    return i;
                }
            } else {
                i++;
            }
        }
        return n;
    }

    /** The index after the closing quote; a doubled quote is part of the text, as is a backslash-escaped one in E'…'. */
    private static int quoteEnd(String sql, int i, char quote, boolean backslashEscapes) {
        int n = sql.length();
        i++;
        while (i < n) {
            char c = sql.charAt(i);
            if (backslashEscapes && c == '\\') {
                i += 2;
            } else if (c == quote) {
                if (i + 1 < n && sql.charAt(i + 1) == quote) {
                    i += 2;
                } else {
                    return i + 1;
                }
            } else {
                i++;
            }
        }
        return n;
    }

    /** The dollar-quote tag starting at {@code i} ({@code $$} or {@code $name$}), or null ({@code $1} is a parameter). */
    private static String dollarTag(String sql, int i) {
        int j = i + 1;
        int n = sql.length();
        if (j < n && sql.charAt(j) == '$') {
            return "$$";
        }
        if (j >= n || !(Character.isLetter(sql.charAt(j)) || sql.charAt(j) == '_')) {
            return null;
        }
        while (j < n && (Character.isLetterOrDigit(sql.charAt(j)) || sql.charAt(j) == '_')) {
            j++;
        }
        return j < n && sql.charAt(j) == '$' ? sql.substring(i, j + 1) : null;
    }

    private static boolean identifierStart(char c) {
        return Character.isLetter(c) || c == '_';
    }

    private static boolean identifierPart(char c) {
        return Character.isLetterOrDigit(c) || c == '_' || c == '$';
    }
}
