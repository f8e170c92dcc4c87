package dev.onceflow.common.workflow;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.commons.jexl3.JexlArithmetic;
import org.apache.commons.jexl3.JexlException;
import org.apache.commons.jexl3.JexlFeatures;
import org.apache.commons.jexl3.JexlInfo;

/**
 * JEXL's failures told in the expression's own words: where in the expression (line and column,
 * counted from 1 in the text the user wrote) and what is wrong there, without JEXL's
 * {@code Class.method:line@1:12} locations or Java class names. {@link Expressions#compile} reports
 * {@code cannot parse expression 'vars.total >' at column 12: unexpected end after '>'};
 * {@link Expressions#evaluate} reports {@code expression 'x > 1' failed: undefined variable 'x' …}.
 * Stateless.
 */
final class ExpressionProblems {

    /** Tokens after which an operand must follow: a parse failure reported at one of them is about what follows. */
    private static final Set<String> NEEDS_OPERAND = Set.of("+", "-", "*", "/", "%", ">", ">=", "<", "<=", "==", "!=", "=~", "!~",
            "=^", "=$", "!^", "!$", "&&", "||", "and", "or", "not", "!", "?", ":", "?:", "??", ".", "?.", "[", "(", ",", "..", "&", "|",
            "^", "~", "eq", "ne", "lt", "le", "gt", "ge", "div", "mod", "empty", "size");

    /** Statement words an expression has no place for. */
    private static final Set<String> STATEMENTS = Set.of("while", "for", "do", "var", "let", "const", "if", "else", "return",
            "break", "continue", "function", "import", "try", "catch", "finally", "throw", "switch", "case", "new", "yield");

    private static final Pattern OPERAND = Pattern.compile("[A-Za-z_$][A-Za-z0-9_$]*(?:\\s*(?:\\?\\.|\\.)\\s*[A-Za-z_$][A-Za-z0-9_$]*"
            + "|\\[[^\\]]*\\])*");
    private static final Pattern COMPARISON = Pattern.compile("\\((.*) (?:GT|GE|LT|LE|EQ|NE|GTE|LTE) (.*)\\)");
    private static final Pattern COERCION = Pattern.compile("coercion:?\\s*\\((.*)\\)");

    private ExpressionProblems() {
    }

    /** Why an expression does not parse, starting with {@code cannot parse expression '…'}. */
    static String parse(String expression, JexlException e) {
        String head = "cannot parse expression '" + Expressions.abbreviate(expression) + "'";
        String unbalanced = unbalanced(expression);
        if (unbalanced != null) {
            return head + unbalanced;
        }
        JexlInfo info = e.getInfo();
        int line = info == null ? 1 : Math.max(1, info.getLine());
        int column = info == null ? 1 : Math.max(1, info.getColumn());
        String detail = e.getDetail() == null ? "" : e.getDetail().trim();
        if (e instanceof JexlException.Feature) {
            return head + at(line, column) + ": " + feature(e, expression);
        }
        if (e instanceof JexlException.Tokenization) {
            int odd = firstOddCharacter(expression);
            return odd >= 0 ? head + at(expression, odd) + ": unexpected character '" + expression.charAt(odd) + "'"
                    : head + at(line, column) + ": unexpected character";
        }
        if (e instanceof JexlException.Parsing) {
            if (STATEMENTS.contains(detail)) {
                return head + at(line, column) + ": '" + detail + "' is not allowed: an expression has no statements, loops or variables"
                        + (detail.equals("if") || detail.equals("else") ? " (use condition ? a : b)" : "");
            }
            int offset = offset(expression, line, column);
            if (offset >= 0 && NEEDS_OPERAND.contains(detail) && expression.startsWith(detail, offset)) {
                int next = skipSpace(expression, offset + detail.length());
                if (next >= expression.length()) {
                    return head + at(line, column) + ": unexpected end after '" + detail + "'";
                }
                return head + at(expression, next) + ": unexpected '" + token(expression, next) + "' after '" + detail + "'";
            }
            if (detail.equals(";")) {
                return head + at(line, column) + ": unexpected ';' (an expression is one expression, not statements)";
            }
            return head + at(line, column) + ": unexpected '" + detail + "'";
        }
        return head + at(line, column) + (detail.isEmpty() ? "" : ": " + detail);
    }

    /** Why an evaluation failed, after {@code expression '…' failed: }. */
    static String evaluation(String expression, Map<String, Object> variables, JexlException e) {
        JexlInfo info = e.getInfo();
        int line = info == null ? 1 : Math.max(1, info.getLine());
        int column = info == null ? 1 : Math.max(1, info.getColumn());
        String detail = e.getDetail() == null ? "" : e.getDetail().trim();
        if (e instanceof JexlException.Variable variable) {
            String name = variable.getVariable();
            String root = name.contains(".") ? name.substring(0, name.indexOf('.')) : name;
            if (!variable.isUndefined()) {
                return "variable '" + name + "' is null";
            }
            return "undefined variable '" + root + "'" + (variables.isEmpty() ? "" : " (known: " + String.join(", ",
                    new TreeSet<>(variables.keySet())) + ")");
        }
        if (e instanceof JexlException.Property property) {
            String name = property.getProperty() == null ? detail : property.getProperty();
            if (name.startsWith(".")) {
                // JEXL names the last step it could take: the value there is null, so what follows cannot be read
                int offset = offset(expression, line, column);
                int end = offset < 0 ? -1 : expression.indexOf(name, offset);
                String path = end < 0 ? name.substring(1) : expression.substring(offset, end + name.length()).trim();
                return "'" + path + "' is null or not set, so nothing can be read from it";
            }
            Throwable cause = e.getCause();
            String at = near(expression, line, column, name);
            if (cause instanceof IndexOutOfBoundsException) {
                return "index " + name + " is out of range" + at;
            }
            return property.isUndefined() ? "no field '" + unquote(name) + "'" + at : "cannot read '" + unquote(name) + "' from null" + at;
        }
        if (e instanceof JexlException.Method method) {
            String name = method.getMethod();
            if (!Expressions.METHODS.contains(name)) {
                return "'" + name + "' is not an allowed method or function" + near(expression, line, column, name)
                        + " (allowed methods: " + String.join(", ", new TreeSet<>(Expressions.METHODS)) + ")";
            }
            return "method '" + name + "' does not take these arguments" + near(expression, line, column, name);
        }
        Throwable cause = e.getCause();
        String operator = detail.endsWith(" error") ? detail.substring(0, detail.length() - " error".length()) : null;
        if (operator != null) {
            if (cause instanceof JexlArithmetic.NullOperand) {
                String operand = operand(expression, line, column);
                return operand == null ? "operator '" + operator + "' got a null value" + at(line, column)
                        : "'" + operand + "' is null or not set, and operator '" + operator + "' needs a value";
            }
            String message = cause == null || cause.getMessage() == null ? "" : cause.getMessage();
            if ((operator.equals("/") || operator.equals("%")) && cause instanceof ArithmeticException
                    && !(cause instanceof JexlArithmetic.CoercionException)
                    && (message.equals(operator) || message.contains("zero"))) {
                return "division by zero" + at(line, column);
            }
            Matcher comparison = COMPARISON.matcher(message);
            if (comparison.find()) {
                return "operator '" + operator + "' cannot compare '" + comparison.group(1) + "' with '" + comparison.group(2) + "'";
            }
            Matcher coercion = COERCION.matcher(message);
            if (coercion.find()) {
                return "operator '" + operator + "' needs numbers, got '" + coercion.group(1) + "'";
            }
            return "operator '" + operator + "' cannot be applied to these values" + at(line, column);
        }
        if (cause != null && !detail.isEmpty() && Expressions.METHODS.contains(detail)) {
            return "method '" + detail + "' failed" + near(expression, line, column, detail) + (cause.getMessage() == null ? "" : ": " + cause.getMessage());
        }
        return (detail.isEmpty() ? "cannot be evaluated" : detail) + at(line, column);
    }

    private static String feature(JexlException e, String expression) {
        String message = String.valueOf(e.getMessage());
        if (expression.contains("->") || expression.contains("=>") || message.contains(JexlFeatures.stringify(JexlFeatures.LAMBDA))) {
            return "functions (x -> …) are not allowed";
        }
        if (message.contains(JexlFeatures.stringify(JexlFeatures.LOOP))) {
            return "loops are not allowed";
        }
        if (message.contains(JexlFeatures.stringify(JexlFeatures.SIDE_EFFECT))) {
            return "assignments are not allowed: an expression cannot change trigger, vars or anything else"
                    + " (a calculation node sets vars)";
        }
        if (message.contains(JexlFeatures.stringify(JexlFeatures.NEW_INSTANCE))) {
            return "'new' is not allowed: an expression cannot create objects";
        }
        if (message.contains(JexlFeatures.stringify(JexlFeatures.LOCAL_VAR))) {
            return "local variables are not allowed";
        }
        if (message.contains(JexlFeatures.stringify(JexlFeatures.PRAGMA))) {
            return "pragmas (#pragma) are not allowed";
        }
        if (message.contains(JexlFeatures.stringify(JexlFeatures.ANNOTATION))) {
            return "annotations (@…) are not allowed";
        }
        String detail = e.getDetail() == null ? "" : e.getDetail().trim();
        return "'" + detail + "' is not allowed in an expression";
    }

    /**
     * An unclosed string or bracket, or a closing bracket without its opening one, as
     * {@code at column 5: '(' is not closed}; null when strings and brackets balance.
     */
    static String unbalanced(String expression) {
        Deque<Integer> open = new ArrayDeque<>();
        char quote = 0;
        int quoteAt = -1;
        for (int i = 0; i < expression.length(); i++) {
            char c = expression.charAt(i);
            if (quote != 0) {
                if (c == '\\') {
                    i++;
                } else if (c == quote) {
                    quote = 0;
                }
            } else if (c == '\'' || c == '"' || c == '`') {
                quote = c;
                quoteAt = i;
            } else if (c == '(' || c == '[' || c == '{') {
                open.push(i);
            } else if (c == ')' || c == ']' || c == '}') {
                char expected = c == ')' ? '(' : c == ']' ? '[' : '{';
                if (open.isEmpty()) {
                    return at(expression, i) + ": '" + c + "' has no matching '" + expected + "'";
                }
                int opener = open.pop();
                if (expression.charAt(opener) != expected) {
                    return at(expression, i) + ": '" + c + "' does not close '" + expression.charAt(opener) + "'" + at(expression, opener)
                            .replace(" at ", " from ");
                }
            }
        }
        if (quote != 0) {
            return at(expression, quoteAt) + ": the string starting here is not closed (" + quote + ")";
        }
        if (!open.isEmpty()) {
            int opener = open.getLast();
            return at(expression, opener) + ": '" + expression.charAt(opener) + "' is not closed";
        }
        return null;
    }

    /** {@code " at column 12"}, or {@code " at line 2, column 3"} for a multi-line expression's later lines. */
    private static String at(int line, int column) {
        return line > 1 ? " at line " + line + ", column " + column : " at column " + column;
    }

    /**
     * Where {@code name} is, near JEXL's line and column: JEXL points at the dot before a method
     * or at the end of a property, the author looks for the name's first character.
     */
    private static String near(String expression, int line, int column, String name) {
        int offset = offset(expression, line, column);
        int found = offset < 0 || name.isEmpty() ? -1 : expression.indexOf(name, Math.max(0, offset - name.length() + 1));
        return found >= 0 && found <= offset + 2 ? at(expression, found) : at(line, column);
    }

    private static String at(String expression, int offset) {
        int line = 1;
        int lineStart = 0;
        for (int i = 0; i < offset && i < expression.length(); i++) {
            if (expression.charAt(i) == '\n') {
                line++;
                lineStart = i + 1;
            }
        }
        return at(line, offset - lineStart + 1);
    }

    /** The offset of JEXL's line and column (from 1) in the text, or -1. */
    private static int offset(String expression, int line, int column) {
        int offset = 0;
        for (int l = 1; l < line; l++) {
            int newline = expression.indexOf('\n', offset);
            if (newline < 0) {
                return -1;
            }
            offset = newline + 1;
        }
        offset += column - 1;
        return offset >= 0 && offset < expression.length() ? offset : -1;
    }

    private static int skipSpace(String expression, int from) {
        int i = from;
        while (i < expression.length() && Character.isWhitespace(expression.charAt(i))) {
            i++;
        }
        return i;
    }

    /** The token starting at {@code offset}: a word, a number, or one punctuation character (or two for an operator). */
    private static String token(String expression, int offset) {
        char c = expression.charAt(offset);
        int end = offset + 1;
        if (Character.isLetterOrDigit(c) || c == '_' || c == '$') {
            while (end < expression.length() && (Character.isLetterOrDigit(expression.charAt(end)) || expression.charAt(end) == '_')) {
                end++;
            }
        } else if (end < expression.length() && "=&|<>!".indexOf(expression.charAt(end)) >= 0 && "=&|<>!".indexOf(c) >= 0) {
            end++;
        }
        return expression.substring(offset, end);
    }

    /** The variable path starting at JEXL's line and column ({@code vars.total}), or null. */
    private static String operand(String expression, int line, int column) {
        int offset = offset(expression, line, column);
        if (offset < 0) {
            return null;
        }
        Matcher m = OPERAND.matcher(expression).region(offset, expression.length());
        return m.lookingAt() ? m.group().replaceAll("\\s+", "") : null;
    }

    /** The first character outside strings that JEXL's tokenizer does not know, or -1. */
    private static int firstOddCharacter(String expression) {
        return Expressions.firstOutsideLiterals(expression, c -> c > 126 || (c < 32 && !Character.isWhitespace(c)));
    }

    /** A value as the expression's author knows it: {@code the number 1}, {@code the string "a"}, {@code an array}. */
    static String value(Object value) {
        if (value == null) {
            return "null";
        }
        if (value instanceof Number) {
            return "the number " + value;
        }
        if (value instanceof CharSequence text) {
            String s = text.toString();
            return "the string \"" + (s.length() > 60 ? s.substring(0, 60) + "…" : s) + "\"";
        }
        if (value instanceof Map) {
            return "an object";
        }
        if (value instanceof Iterable || value.getClass().isArray()) {
            return "an array";
        }
        return String.valueOf(value);
    }

    private static String unquote(String name) {
        return name.length() >= 2 && (name.startsWith("'") && name.endsWith("'") || name.startsWith("\"") && name.endsWith("\""))
                ? name.substring(1, name.length() - 1) : name;
    }
}
