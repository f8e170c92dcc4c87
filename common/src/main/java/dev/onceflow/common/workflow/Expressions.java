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

    private static String reason(JexlException e) {
        String message = e.getMessage();
        return message == null ? e.getClass().getSimpleName() : message;
    }
}
