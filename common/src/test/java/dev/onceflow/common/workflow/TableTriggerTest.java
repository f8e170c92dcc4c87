package dev.onceflow.common.workflow;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class TableTriggerTest {

    private static final String NODES = "\"nodes\": [{\"type\": \"end\", \"id\": \"done\"}]";

    private static Workflow parse(String trigger) throws DefinitionException {
        String json = "{\"id\": \"rows\", \"trigger\": " + trigger + ", " + NODES + "}";
        return Workflows.parse("rows.json", json.getBytes(StandardCharsets.UTF_8));
    }

    private static String problems(String trigger) {
        return catchThrowableOfType(DefinitionException.class, () -> parse(trigger)).getMessage();
    }

    @Test
    void bareTableNameMeansPublicAndOperationsDefaultToAllThree() throws Exception {
        Trigger.Table t = (Trigger.Table) parse("{\"type\": \"table\", \"table\": \"orders\"}").trigger();
        assertThat(t.table()).isEqualTo("public.orders");
        assertThat(t.operations()).containsExactly("insert", "update", "delete");
        assertThat(t.changed()).isEmpty();
        assertThat(t.condition()).isNull();
    }

    @Test
    void keepsTheSchemaChangedColumnsAndCondition() throws Exception {
        Trigger.Table t = (Trigger.Table) parse("""
                {"type": "table", "table": "sales.orders", "operations": ["update"], "changed": ["status", "amount"],
                 "condition": "row.amount > 100"}""").trigger();
        assertThat(t.table()).isEqualTo("sales.orders");
        assertThat(t.operations()).containsExactly("update");
        assertThat(t.changed()).containsExactly("status", "amount");
        assertThat(t.condition()).isEqualTo("row.amount > 100");
    }

    @Test
    void rejectsUnknownOperationsQuotedNamesAndAMissingTable() {
        assertThat(problems("{\"type\": \"table\", \"table\": \"orders\", \"operations\": [\"upsert\"]}"))
                .contains("rows.json").contains("unknown operation 'upsert'");
        assertThat(problems("{\"type\": \"table\", \"table\": \"Orders; DROP TABLE x\"}"))
                .contains("trigger field 'table'").contains("not an unquoted PostgreSQL table name");
        assertThat(problems("{\"type\": \"table\"}")).contains("trigger field 'table': missing");
        assertThat(problems("{\"type\": \"table\", \"table\": \"orders\", \"operations\": [\"insert\", \"insert\"]}"))
                .contains("listed twice");
    }

    @Test
    void changedColumnsNeedUpdatesAndValidNames() {
        assertThat(problems("{\"type\": \"table\", \"table\": \"orders\", \"operations\": [\"insert\"], \"changed\": [\"status\"]}"))
                .contains("field 'changed': only applies to updates");
        assertThat(problems("{\"type\": \"table\", \"table\": \"orders\", \"changed\": [\"st atus\"]}"))
                .contains("'st atus' is not an unquoted PostgreSQL column name");
    }

    @Test
    void aConditionThatDoesNotParseIsRejectedAtDeploy() {
        assertThat(problems("{\"type\": \"table\", \"table\": \"orders\", \"condition\": \"row.amount >\"}"))
                .contains("trigger field 'condition'").contains("cannot parse expression");
    }
}
