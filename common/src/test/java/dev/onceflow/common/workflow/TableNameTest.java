package dev.onceflow.common.workflow;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class TableNameTest {

    @Test
    void namesWrittenAsInSqlKeepTheCaseOfQuotedParts() {
        assertThat(TableName.parse("users")).isEqualTo(TableName.of("public", "users"));
        assertThat(TableName.parse("public.users")).isEqualTo(TableName.of("public", "users"));
        assertThat(TableName.parse("\"orderItems\"")).isEqualTo(TableName.of("public", "orderItems"));
        assertThat(TableName.parse("app.\"orderItems\"")).isEqualTo(TableName.of("app", "orderItems"));
        assertThat(TableName.parse("\"App\" . \"Order Items\"")).isEqualTo(TableName.of("App", "Order Items"));
        assertThat(TableName.parse("\"say \"\"hi\"\"\"")).isEqualTo(TableName.of("public", "say \"hi\""));
        assertThat(TableName.parse("\"a.b\"")).isEqualTo(TableName.of("public", "a.b"));
        assertThat(TableName.parse("über_tabelle")).isEqualTo(TableName.of("public", "über_tabelle"));
        assertThat(TableName.parse("t$1")).isEqualTo(TableName.of("public", "t$1"));
    }

    @Test
    void canonicalTextIsTheOldTextForPlainNamesAndQuotedOtherwise() {
        // Plain lower-case names keep the text event keys and ordering keys always had.
        assertThat(TableName.of("public", "orders")).hasToString("public.orders");
        assertThat(TableName.of("public", "orderItems")).hasToString("public.\"orderItems\"");
        assertThat(TableName.of("My App", "x\"y")).hasToString("\"My App\".\"x\"\"y\"");
        for (String text : new String[] {"public.orders", "public.\"orderItems\"", "\"My App\".\"x\"\"y\"", "\"a.b\".c"}) {
            assertThat(TableName.parse(text)).as("round trip").hasToString(text);
        }
    }

    @Test
    void sqlQuotesBothPartsSoKeywordsAndCaseAreSafe() {
        assertThat(TableName.parse("public.\"orderItems\"").sql()).isEqualTo("\"public\".\"orderItems\"");
        assertThat(TableName.parse("\"user\".\"order\"").sql()).isEqualTo("\"user\".\"order\"");
        assertThat(TableName.parse("\"x\"\"y\"").sql()).isEqualTo("\"public\".\"x\"\"y\"");
    }

    @Test
    void includeRegexMatchesExactlyTheCatalogNameAndHoldsNoComma() {
        TableName t = TableName.parse("app.\"order,Items.v2\"");
        String regex = t.includeRegex();
        assertThat(regex).doesNotContain(",");
        assertThat(Pattern.compile(regex).matcher("app.order,Items.v2").matches()).isTrue();
        assertThat(Pattern.compile(regex).matcher("app.order,ItemsXv2").matches()).as("the dot is literal").isFalse();
        assertThat(Pattern.compile(TableName.parse("public.users").includeRegex()).matcher("public.users").matches()).isTrue();
        assertThat(Pattern.compile(TableName.parse("public.users").includeRegex()).matcher("publicXusers").matches()).isFalse();
    }

    @Test
    void unquotedUpperCaseIsRefusedWithBothWaysToWriteIt() {
        assertThatThrownBy(() -> TableName.parse("orderItems")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("PostgreSQL would fold it to orderitems")
                .hasMessageContaining("Write \"orderItems\"").hasMessageContaining("\\\"orderItems\\\"");
        assertThatThrownBy(() -> TableName.column("createdAt")).hasMessageContaining("fold it to createdat");
    }

    @Test
    void refusesWhatIsNotAnIdentifier() {
        assertThatThrownBy(() -> TableName.parse("Orders; DROP TABLE x")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> TableName.parse("orders; drop table x")).hasMessageContaining("unexpected ';'");
        assertThatThrownBy(() -> TableName.parse("my-table")).hasMessageContaining("unexpected '-'")
                .hasMessageContaining("quote");
        assertThatThrownBy(() -> TableName.parse("1orders")).hasMessageContaining("'1' at position 1");
        assertThatThrownBy(() -> TableName.parse("\"open")).hasMessageContaining("unterminated");
        assertThatThrownBy(() -> TableName.parse("\"\"")).hasMessageContaining("empty quoted name");
        assertThatThrownBy(() -> TableName.parse("public.")).hasMessageContaining("ends where a name should follow");
        assertThatThrownBy(() -> TableName.parse("db.public.users")).hasMessageContaining("3 parts");
        assertThatThrownBy(() -> TableName.parse(" ")).hasMessageContaining("missing table name");
        assertThatThrownBy(() -> TableName.parse("t".repeat(64))).hasMessageContaining("longer than 63 bytes");
        assertThat(TableName.parse("t".repeat(63)).name()).hasSize(63);
        assertThatThrownBy(() -> TableName.column("public.status")).hasMessageContaining("not a single column name");
    }

    @Test
    void columnsComeBackAsTheRowsNameThem() {
        assertThat(TableName.column("\"createdAt\"")).isEqualTo("createdAt");
        assertThat(TableName.column("nickname")).isEqualTo("nickname");
        assertThat(TableName.column("\"createdById\"")).isEqualTo("createdById");
        assertThat(TableName.quoteIfNeeded("createdAt")).isEqualTo("\"createdAt\"");
        assertThat(TableName.quoteIfNeeded("nickname")).isEqualTo("nickname");
    }
}
