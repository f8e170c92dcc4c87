package dev.onceflow.common.workflow;

import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import org.apache.commons.jexl3.JexlBuilder;
import org.apache.commons.jexl3.JexlEngine;
import org.apache.commons.jexl3.JexlException;
import org.apache.commons.jexl3.JexlExpression;
import org.apache.commons.jexl3.JexlFeatures;
import org.apache.commons.jexl3.JexlInfo;
import org.apache.commons.jexl3.MapContext;
import org.apache.commons.jexl3.introspection.JexlPermissions;

/**
 * The one embedded, sandboxed expression language (Apache JEXL with {@link JexlPermissions#RESTRICTED}:
 * no class loading, reflection, I/O or system access; only maps, lists, strings and numbers).
 * Expressions see {@code trigger} (the event's data), {@code event} ({@code key}, {@code workflow},
 * {@code time}), {@code vars} and {@code nodes.<id>.output}. Thread-safe: the engine and its
 * expression cache are shared.
 *
 * <p>An expression is a condition or a calculation over one record, evaluated on an engine worker
 * or a dispatcher thread; one record's expression must not exhaust memory or hold that thread, or
 * the record stalls its partition. So its cost is bounded:
 * <ul>
 * <li>Refused at parse ({@link #FEATURES}): loops, lambdas and function definitions (which would
 *     bring loops and recursion back), {@code new}, assignments and other side effects (an
 *     expression must not change {@code trigger} or {@code vars}), local variables, pragmas and
 *     annotations; template strings ({@code `…${x}…`}), which build strings outside the arithmetic's
 *     limit. What remains evaluates each part of the expression at most once, so its time grows
 *     with its length and its inputs, not without end.</li>
 * <li>Method calls: only {@link #METHODS}, pure and no larger than their input
 *     ({@code trigger.name.startsWith('a')}, {@code trigger.code.toLowerCase()}); methods that
 *     multiply a size ({@code repeat}, {@code formatted}, {@code replace}, {@code join},
 *     {@code toArray}…) or take a regular expression ({@code matches}, {@code split}) are refused.</li>
 * <li>A string built by {@code +} holds at most {@value #MAX_STRING_LENGTH} characters; a range
 *     ({@code 1..n}) at most {@value #MAX_RANGE_SIZE} numbers.</li>
 * <li>A regular-expression match ({@code =~}, {@code !~}) stops after {@value #MATCH_TIMEOUT_MS} ms
 *     (a pattern such as {@code (a+)+b} backtracks for ever on long input).</li>
 * </ul>
 * Each breach fails the expression with an {@link IllegalArgumentException} naming the limit, which
 * fails the node (or dead-letters the record), never the worker.
 */
public final class Expressions {

    /** Longest string that {@code +} may build, in characters. */
    public static final int MAX_STRING_LENGTH = 4_000_000;

    /** Most numbers a range {@code a..b} may hold. */
    public static final int MAX_RANGE_SIZE = 100_000;

    /** Longest time one regular-expression match may take. */
    public static final long MATCH_TIMEOUT_MS = 1_000;

    /** Pure methods whose result is no larger than their receiver and arguments; every other method is refused. */
    static final Set<String> METHODS = Set.of(
            // strings
            "startsWith", "endsWith", "contains", "indexOf", "lastIndexOf", "length", "isEmpty", "isBlank", "toLowerCase",
            "toUpperCase", "trim", "strip", "substring", "charAt", "equals", "equalsIgnoreCase", "compareTo",
            "compareToIgnoreCase", "toString",
            // lists and maps
            "size", "get", "containsKey", "containsValue",
            // numbers
            "intValue", "longValue", "doubleValue", "abs", "signum");

    /** What the parser accepts: expressions without loops, lambdas, {@code new}, side effects or variables. */
    static final JexlFeatures FEATURES = new JexlFeatures()
            .loops(false)
            .lambda(false)
            .thinArrow(false)
            .fatArrow(false)
            .newInstance(false)
            .sideEffect(false)
            .sideEffectGlobal(false)
            .localVar(false)
            .pragma(false)
            .annotation(false)
            .importPragma(false)
            .namespacePragma(false);

    private static final JexlEngine JEXL = new JexlBuilder()
            .features(FEATURES)
            .permissions(new MethodAllowList(JexlPermissions.RESTRICTED))
            .arithmetic(new DecimalStrings(true))
            .strict(true)
            .safe(false)
            .silent(false)
            .cache(1024)
            .create();

    private Expressions() {
    }

    /**
     * Parses an expression; throws {@link IllegalArgumentException} with the reason when it does not
     * parse, worded by {@link ExpressionProblems}: {@code cannot parse expression 'vars.total >' at
     * column 12: unexpected end after '>'}.
     */
    public static JexlExpression compile(String expression) {
        if (expression == null || expression.isBlank()) {
            throw new IllegalArgumentException("expression is empty");
        }
        if (hasTemplate(expression)) {
            throw new IllegalArgumentException("cannot parse expression '" + abbreviate(expression) + "': template strings (`...`)"
                    + " are not supported; join strings with +");
        }
        try {
            // Our own JexlInfo: without it JEXL names the Java caller (Expressions.compile:107) as the source.
            return JEXL.createExpression(new JexlInfo("", 1, 1), expression);
        } catch (JexlException e) {
            throw new IllegalArgumentException(ExpressionProblems.parse(expression, e), e);
        } catch (StackOverflowError e) {
            throw new IllegalArgumentException("cannot parse expression '" + abbreviate(expression) + "': nested too deeply");
        }
    }

    /** Evaluates an expression over the given variables; throws {@link IllegalArgumentException} with the reason on failure. */
    public static Object evaluate(String expression, Map<String, Object> variables) {
        JexlExpression compiled = compile(expression);
        try {
            return compiled.evaluate(new MapContext(new java.util.HashMap<>(variables)));
        } catch (JexlException e) {
            throw new IllegalArgumentException("expression '" + abbreviate(expression) + "' failed: " + reason(expression, variables, e), e);
        } catch (LimitExceeded e) {
            throw new IllegalArgumentException("expression '" + abbreviate(expression) + "' failed: " + e.getMessage(), e);
        } catch (StackOverflowError e) {
            throw new IllegalArgumentException("expression '" + abbreviate(expression) + "' failed: nested too deeply");
        }
    }

    /** JEXL truthiness is too loose for branching: a condition must yield a boolean. */
    public static boolean test(String expression, Map<String, Object> variables) {
        Object value = evaluate(expression, variables);
        if (value instanceof Boolean b) {
            return b;
        }
        throw new IllegalArgumentException("condition '" + abbreviate(expression) + "' must yield true or false, got "
                + ExpressionProblems.value(value));
    }

    /**
     * Compares a numeric string with a number as decimals. Row changes carry {@code numeric}
     * columns as strings with their scale ({@code "150.50"}), and JEXL alone compares a string with
     * a whole number as whole numbers, so {@code row.amount > 100} failed on any fraction. Strings
     * compared with strings are untouched. Stateless, hence thread-safe.
     */
    static final class DecimalStrings extends org.apache.commons.jexl3.JexlArithmetic {

        DecimalStrings(boolean strict) {
            super(strict);
        }

        /** Used by JEXL when options change the math context or scale. */
        DecimalStrings(boolean strict, java.math.MathContext context, int scale) {
            super(strict, context, scale);
        }

        @Override
        public Object add(Object left, Object right) {
            Object sum = super.add(left, right);
            if (sum instanceof CharSequence text && text.length() > MAX_STRING_LENGTH) {
                throw new LimitExceeded("a string built by + would hold " + text.length() + " characters, more than the limit of "
                        + MAX_STRING_LENGTH);
            }
            return sum;
        }

        @Override
        public Iterable<?> createRange(Object from, Object to) throws ArithmeticException {
            long size;
            try {
                size = Math.abs(toLong(to) - toLong(from)) + 1;
            } catch (RuntimeException notNumbers) {
                return super.createRange(from, to); // reports the operands as JEXL does
            }
            if (size > MAX_RANGE_SIZE) {
                throw new LimitExceeded("a range " + from + ".." + to + " would hold " + size + " numbers, more than the limit of "
                        + MAX_RANGE_SIZE);
            }
            return super.createRange(from, to);
        }

        /**
         * {@code value =~ regex}: JEXL matches the whole value with {@link String#matches}, which
         * cannot be stopped; here the same match reads the value through a sequence that gives up
         * at the deadline.
         */
        @Override
        public Boolean contains(Object container, Object value) {
            if (!(container instanceof String || container instanceof Pattern) || value == null) {
                return super.contains(container, value);
            }
            Pattern pattern;
            try {
                pattern = container instanceof Pattern p ? p : Pattern.compile((String) container);
            } catch (PatternSyntaxException e) {
                throw new LimitExceeded("'" + container + "' is not a regular expression: " + e.getDescription());
            }
            long deadline = System.nanoTime() + MATCH_TIMEOUT_MS * 1_000_000L;
            return pattern.matcher(new Deadline(value.toString(), deadline)).matches();
        }

        @Override
        protected int compare(Object left, Object right, org.apache.commons.jexl3.JexlOperator operator) {
            java.math.BigDecimal[] pair = decimals(left, right);
            return pair != null ? pair[0].compareTo(pair[1]) : super.compare(left, right, operator);
        }

        @Override
        public boolean equals(Object left, Object right) {
            java.math.BigDecimal[] pair = decimals(left, right);
            return pair != null ? pair[0].compareTo(pair[1]) == 0 : super.equals(left, right);
        }

        /** Both as decimals when one is a number and the other a string that is a decimal numeral; else null. */
        private static java.math.BigDecimal[] decimals(Object left, Object right) {
            if (left instanceof String && right instanceof Number || left instanceof Number && right instanceof String) {
                java.math.BigDecimal l = decimal(left);
                java.math.BigDecimal r = decimal(right);
                return l == null || r == null ? null : new java.math.BigDecimal[] {l, r};
            }
            return null;
        }

        private static java.math.BigDecimal decimal(Object value) {
            if (value instanceof java.math.BigDecimal d) {
                return d;
            }
            if (value instanceof Double || value instanceof Float) {
                double d = ((Number) value).doubleValue();
                return Double.isFinite(d) ? new java.math.BigDecimal(Double.toString(d)) : null;
            }
            if (value instanceof Number n) {
                return new java.math.BigDecimal(n.toString());
            }
            String s = ((String) value).trim();
            if (!s.matches("[+-]?\\d+(\\.\\d+)?([eE][+-]?\\d+)?")) {
                return null;
            }
            return new java.math.BigDecimal(s);
        }
    }

    /** A bound of {@link Expressions} was reached; reported as the expression's failure. */
    static final class LimitExceeded extends ArithmeticException {
        LimitExceeded(String message) {
            super(message);
        }
    }

    /** A string read by a regular-expression match that stops the match at a deadline. Not thread-safe; one per match. */
    private static final class Deadline implements CharSequence {
        private final String text;
        private final long deadline;
        private int reads;

        Deadline(String text, long deadline) {
            this.text = text;
            this.deadline = deadline;
        }

        @Override
        public char charAt(int index) {
            // Backtracking reads characters again and again: checking the clock every 4096 reads bounds the match.
            if ((++reads & 0xFFF) == 0 && System.nanoTime() - deadline > 0) {
                throw new LimitExceeded("a regular-expression match ran longer than the limit of " + MATCH_TIMEOUT_MS + " ms");
            }
            return text.charAt(index);
        }

        @Override
        public int length() {
            return text.length();
        }

        @Override
        public CharSequence subSequence(int start, int end) {
            return new Deadline(text.substring(start, end), deadline);
        }

        @Override
        public String toString() {
            return text;
        }
    }

    /**
     * {@link JexlPermissions#RESTRICTED}, with method calls narrowed to {@link #METHODS} and no
     * constructors. Immutable, hence thread-safe.
     */
    private record MethodAllowList(JexlPermissions base) implements JexlPermissions {
        @Override
        public boolean allow(Class<?> clazz) {
            return base.allow(clazz);
        }

        @Override
        public boolean allow(Constructor<?> ctor) {
            return false;
        }

        @Override
        public boolean allow(Field field) {
            return base.allow(field);
        }

        @Override
        public boolean allow(Method method) {
            return METHODS.contains(method.getName()) && base.allow(method);
        }

        @Override
        public boolean allow(Package pack) {
            return base.allow(pack);
        }

        @Override
        public JexlPermissions compose(String... src) {
            return new MethodAllowList(base.compose(src));
        }
    }

    /** Whether a backtick (a template string) appears outside the expression's '…' and "…" literals. */
    private static boolean hasTemplate(String expression) {
        return firstOutsideLiterals(expression, c -> c == '`') >= 0;
    }

    /** The index of the first character outside '…' and "…" literals (backslash escapes inside them) that is {@code wanted}, or -1. */
    static int firstOutsideLiterals(String text, java.util.function.IntPredicate wanted) {
        char quote = 0;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (quote != 0) {
                if (c == '\\') {
                    i++;
                } else if (c == quote) {
                    quote = 0;
                }
            } else if (c == '\'' || c == '"') {
                quote = c;
            } else if (wanted.test(c)) {
                return i;
            }
        }
        return -1;
    }

    static String abbreviate(String expression) {
        return expression.length() <= 200 ? expression : expression.substring(0, 200) + "…";
    }

    private static String reason(String expression, Map<String, Object> variables, JexlException e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof LimitExceeded limit) {
                return limit.getMessage();
            }
        }
        return ExpressionProblems.evaluation(expression, variables, e);
    }
}
