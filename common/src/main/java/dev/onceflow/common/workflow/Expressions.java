package dev.onceflow.common.workflow;

import java.util.Map;
import org.apache.commons.jexl3.JexlBuilder;
import org.apache.commons.jexl3.JexlEngine;
import org.apache.commons.jexl3.JexlException;
import org.apache.commons.jexl3.JexlExpression;
import org.apache.commons.jexl3.MapContext;
import org.apache.commons.jexl3.introspection.JexlPermissions;

/**
 * The one embedded, sandboxed expression language (Apache JEXL with {@link JexlPermissions#RESTRICTED}:
 * no class loading, reflection, I/O or system access; only maps, lists, strings and numbers).
 * Expressions see {@code trigger} (the event's data), {@code event} ({@code key}, {@code workflow},
 * {@code time}), {@code vars} and {@code nodes.<id>.output}. Thread-safe: the engine and its
 * expression cache are shared.
 */
public final class Expressions {

    private static final JexlEngine JEXL = new JexlBuilder()
            .permissions(JexlPermissions.RESTRICTED)
            .arithmetic(new DecimalStrings(true))
            .strict(true)
            .safe(false)
            .silent(false)
            .cache(1024)
            .create();

    private Expressions() {
    }

    /** Parses an expression; throws {@link IllegalArgumentException} with the reason when it does not parse. */
    public static JexlExpression compile(String expression) {
        if (expression == null || expression.isBlank()) {
            throw new IllegalArgumentException("expression is empty");
        }
        try {
            return JEXL.createExpression(expression);
        } catch (JexlException e) {
            throw new IllegalArgumentException("expression '" + expression + "' does not parse: " + reason(e), e);
        }
    }

    /** Evaluates an expression over the given variables; throws {@link IllegalArgumentException} with the reason on failure. */
    public static Object evaluate(String expression, Map<String, Object> variables) {
        JexlExpression compiled = compile(expression);
        try {
            return compiled.evaluate(new MapContext(new java.util.HashMap<>(variables)));
        } catch (JexlException e) {
            throw new IllegalArgumentException("expression '" + expression + "' failed: " + reason(e), e);
        }
    }

    /** JEXL truthiness is too loose for branching: a condition must yield a boolean. */
    public static boolean test(String expression, Map<String, Object> variables) {
        Object value = evaluate(expression, variables);
        if (value instanceof Boolean b) {
            return b;
        }
        throw new IllegalArgumentException("condition '" + expression + "' must yield true or false, got "
                + (value == null ? "null" : value.getClass().getSimpleName() + " " + value));
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

    private static String reason(JexlException e) {
        String message = e.getMessage();
        return message == null ? e.getClass().getSimpleName() : message;
    }
}
