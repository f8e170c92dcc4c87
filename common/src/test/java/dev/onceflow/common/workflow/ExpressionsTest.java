package dev.onceflow.common.workflow;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ExpressionsTest {

    private static boolean test(String expression, Object amount) {
        return Expressions.test(expression, Map.of("row", Map.of("amount", amount, "code", "007", "name", "b")));
    }

    @Test
    void aDecimalStringComparesWithAWholeNumberAsADecimal() {
        // numeric columns of row changes arrive as strings with their scale
        assertThat(test("row.amount > 100", "150.50")).isTrue();
        assertThat(test("row.amount > 100", "99.50")).isFalse();
        assertThat(test("row.amount >= 150.5", "150.50")).isTrue();
        assertThat(test("row.amount < 1000", "999.999")).isTrue();
        assertThat(test("row.amount == 150.5", "150.50")).isTrue();
        assertThat(test("row.amount != 150", "150.50")).isTrue();
        assertThat(test("100 < row.amount", "100.01")).isTrue();
    }

    @Test
    void numbersAndStringsKeepTheirOwnComparisons() {
        assertThat(test("row.amount > 100", 150)).isTrue();
        assertThat(test("row.name > 'a'", 1)).as("string with string: lexicographic").isTrue();
        assertThat(test("row.code == '007'", 1)).as("string with string: equal text").isTrue();
        assertThat(test("row.code == '7'", 1)).as("string with string: not numeric equality").isFalse();
    }

    @Test
    void aNonNumericStringComparedWithANumberIsStillAnError() {
        assertThatThrownBy(() -> test("row.name > 100", 1)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("row.name > 100");
    }

    private static Object eval(String expression, Map<String, Object> trigger) {
        return Expressions.evaluate(expression, Map.of("trigger", trigger));
    }

    @Test
    void aStringBuiltPastTheLimitFailsQuicklyNamingTheLimit() {
        String big = "x".repeat(Expressions.MAX_STRING_LENGTH / 2 + 1);
        long start = System.nanoTime();
        assertThatThrownBy(() -> eval("trigger.s + trigger.s", Map.of("s", big))).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("limit of " + Expressions.MAX_STRING_LENGTH);
        // doubling by nesting: each level doubles, the limit stops it long before memory runs out
        String quarter = "y".repeat(Expressions.MAX_STRING_LENGTH / 4 + 1);
        assertThatThrownBy(() -> eval("((trigger.s + trigger.s) + (trigger.s + trigger.s)) + trigger.s", Map.of("s", quarter)))
                .hasMessageContaining("limit of " + Expressions.MAX_STRING_LENGTH);
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(5));
        assertThat(eval("trigger.s + '!'", Map.of("s", "ok"))).isEqualTo("ok!");
    }

    @Test
    void methodsThatMultiplyASizeAreRefused() {
        for (String e : new String[] {"trigger.s.repeat(2000000000)", "'%0999999999d'.formatted(1)", "trigger.s.concat('x')",
                "trigger.s.replace('a', 'aaaa')", "trigger.s.split(',')", "trigger.s.matches('a')", "trigger.getClass()"}) {
            assertThatThrownBy(() -> eval(e, Map.of("s", "abc"))).as(e).isInstanceOf(IllegalArgumentException.class);
        }
        assertThat(eval("trigger.s.startsWith('ab') && trigger.s.toUpperCase() == 'ABC' && trigger.s.length() == 3",
                Map.of("s", "abc"))).isEqualTo(true);
        assertThat(eval("trigger.l.size() + trigger.m.get('k')", Map.of("l", List.of(1, 2), "m", Map.of("k", 3)))).isEqualTo(5);
    }

    @Test
    void aHugeRangeFailsNamingTheLimit() {
        assertThatThrownBy(() -> eval("(1..2000000000).size()", Map.of())).hasMessageContaining("limit of " + Expressions.MAX_RANGE_SIZE);
        assertThatThrownBy(() -> eval("1..2000000000", Map.of())).hasMessageContaining("limit of " + Expressions.MAX_RANGE_SIZE);
        assertThat(eval("trigger.n =~ (1..10)", Map.of("n", 3))).isEqualTo(true);
    }

    @Test
    void loopsLambdasNewAndSideEffectsAreRefusedAtParse() {
        for (String e : new String[] {"(function(){ while(true){} })()", "((x) -> x + 1)(2)", "(x => x)(1)", "while (true) {}",
                "for (var i : [1]) {}", "var x = 1", "new('java.lang.StringBuilder')", "trigger.x = 5", "trigger.x += 5", "trigger.x++",
                "#pragma jexl.safe true\n1", "`${trigger.x}${trigger.x}`", "1; 2"}) {
            assertThatThrownBy(() -> Expressions.compile(e)).as(e).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("cannot parse expression");
        }
        Map<String, Object> trigger = new HashMap<>(Map.of("x", 1));
        assertThatThrownBy(() -> eval("trigger.x = 5", trigger)).isInstanceOf(IllegalArgumentException.class);
        assertThat(trigger).containsEntry("x", 1);
        assertThat(eval("'a`b' + \"`\"", Map.of())).as("a backtick inside a string is text").isEqualTo("a`b`");
    }

    @Test
    void aRegularExpressionThatBacktracksForEverStopsAtTheTimeout() {
        // 40 a's: the backtracking grows like n^20, far past the limit on any machine (25 a's took 0.6 s on one, 12 s on another)
        String input = "a".repeat(40) + "!";
        long start = System.nanoTime();
        assertThatThrownBy(() -> eval("trigger.s =~ '(.*a){20}'", Map.of("s", input))).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("limit of " + Expressions.MATCH_TIMEOUT_MS + " ms");
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(10));
        assertThat(eval("trigger.s =~ 'a.*'", Map.of("s", "abc"))).isEqualTo(true);
        assertThat(eval("trigger.s =~ 'b'", Map.of("s", "abc"))).as("=~ matches the whole value").isEqualTo(false);
        assertThat(eval("trigger.s !~ 'x.*'", Map.of("s", "abc"))).isEqualTo(true);
        assertThat(eval("trigger.s =~ ['abc', 'd']", Map.of("s", "abc"))).isEqualTo(true);
    }

    private static String parseError(String expression) {
        try {
            Expressions.compile(expression);
        } catch (IllegalArgumentException e) {
            assertThat(e.getMessage()).as(expression).doesNotContain("@1:").doesNotContain("Expressions.").doesNotContain("jexl")
                    .startsWith("cannot parse expression '");
            return e.getMessage();
        }
        throw new AssertionError("parsed: " + expression);
    }

    @Test
    void aParseErrorNamesTheTextTheColumnAndWhatIsWrongThere() {
        assertThat(parseError("vars.total >")).isEqualTo("cannot parse expression 'vars.total >' at column 12: unexpected end after '>'");
        assertThat(parseError("vars.total > > 1")).endsWith("at column 14: unexpected '>' after '>'");
        assertThat(parseError("trigger.a.b c")).endsWith("at column 13: unexpected 'c'");
        assertThat(parseError("(trigger.a + 1")).endsWith("at column 1: '(' is not closed");
        assertThat(parseError("trigger.a + 1)")).endsWith("at column 14: ')' has no matching '('");
        assertThat(parseError("trigger.a == 'b")).endsWith("at column 14: the string starting here is not closed (')");
        assertThat(parseError("trigger.a &&\n  || b")).endsWith("at line 2, column 3: unexpected '||' after '&&'");
        assertThat(parseError("while (true) {}")).contains("at column 1: 'while' is not allowed");
        assertThat(parseError("trigger.x = 5")).contains("assignments are not allowed");
        assertThat(parseError("new('java.lang.StringBuilder')")).contains("'new' is not allowed");
        assertThat(parseError("(x -> x)(true)")).contains("functions (x -> …) are not allowed");
        assertThat(parseError("1; 2")).contains("at column 2: unexpected ';'");
    }

    private static String evaluationError(String expression, Map<String, Object> variables) {
        try {
            Expressions.evaluate(expression, variables);
        } catch (IllegalArgumentException e) {
            assertThat(e.getMessage()).as(expression).startsWith("expression '" + expression + "' failed: ");
            String reason = e.getMessage().substring(("expression '" + expression + "' failed: ").length());
            assertThat(reason).as(expression).doesNotContain("@1:").doesNotContain("Expressions.").doesNotContain("jexl")
                    .doesNotContain("java.").doesNotContain("Integer").doesNotContain("Exception");
            return reason;
        }
        throw new AssertionError("evaluated: " + expression);
    }

    @Test
    void anEvaluationErrorSaysWhatWasMissingOrWrongInTheAuthorsWords() {
        Map<String, Object> vars = Map.of("trigger", Map.of("n", 1, "s", "abc", "l", List.of(1, 2)), "vars", Map.of("a", 1),
                "event", Map.of("key", "k"));
        assertThat(evaluationError("nosuchname > 1", vars)).isEqualTo("undefined variable 'nosuchname' (known: event, trigger, vars)");
        assertThat(evaluationError("java.lang.System.exit(1)", vars)).startsWith("undefined variable 'java'");
        assertThat(evaluationError("vars.total > 1", vars)).isEqualTo("'vars.total' is null or not set, and operator '>' needs a value");
        assertThat(evaluationError("vars.a + trigger.zz", vars)).isEqualTo("'trigger.zz' is null or not set, and operator '+' needs a value");
        assertThat(evaluationError("trigger.m.x", vars)).isEqualTo("'trigger.m' is null or not set, so nothing can be read from it");
        assertThat(evaluationError("trigger.s.getClass()", vars)).startsWith("'getClass' is not an allowed method or function at column 11")
                .contains("allowed methods: abs, charAt");
        assertThat(evaluationError("trigger.n / 0", vars)).startsWith("division by zero");
        assertThat(evaluationError("trigger.s > 100", vars)).isEqualTo("operator '>' cannot compare 'abc' with '100'");
        assertThat(evaluationError("trigger.l[5]", vars)).startsWith("index 5 is out of range");
        assertThatThrownBy(() -> Expressions.test("trigger.n", vars)).hasMessage("condition 'trigger.n' must yield true or false,"
                + " got the number 1");
    }

    @Test
    void deeplyNestedExpressionsFailAsAnExpressionError() {
        String deep = "(".repeat(20_000) + "1" + ")".repeat(20_000);
        assertThatThrownBy(() -> Expressions.compile(deep)).isInstanceOf(IllegalArgumentException.class);
    }
}
