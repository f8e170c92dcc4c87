package dev.onceflow.common.workflow;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

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
}
