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
        assertThat(problems("{\"type\": \"table\", \"table\": \"orders; DROP TABLE x\"}"))
                .contains("trigger field 'table'").contains("unexpected ';'");
        assertThat(problems("{\"type\": \"table\", \"table\": \"orderItems\"}"))
                .contains("trigger field 'table'").contains("fold it to orderitems").contains("public.\"orderItems\"");
        assertThat(problems("{\"type\": \"table\"}")).contains("trigger field 'table': missing");
        assertThat(problems("{\"type\": \"table\", \"table\": \"orders\", \"operations\": [\"insert\", \"insert\"]}"))
                .contains("listed twice");
    }

    @Test
    void changedColumnsNeedUpdatesAndValidNames() {
        assertThat(problems("{\"type\": \"table\", \"table\": \"orders\", \"operations\": [\"insert\"], \"changed\": [\"status\"]}"))
                .contains("field 'changed': only applies to updates");
        assertThat(problems("{\"type\": \"table\", \"table\": \"orders\", \"changed\": [\"st atus\"]}"))
                .contains("trigger field 'changed'").contains("'st atus' is not a PostgreSQL column name");
        assertThat(problems("{\"type\": \"table\", \"table\": \"users\", \"changed\": [\"createdAt\"]}"))
                .contains("trigger field 'changed'").contains("fold it to createdat");
    }

    @Test
    void acceptsQuotedCamelCaseAndSchemaQualifiedNamesAsNocoBaseCreatesThem() throws Exception {
        Trigger.Table t = (Trigger.Table) parse("{\"type\": \"table\", \"table\": \"app.\\\"orderItems\\\"\", "
                + "\"operations\": [\"update\"], \"changed\": [\"\\\"createdAt\\\"\", \"\\\"nickname\\\"\", \"status\"], "
                + "\"condition\": \"row.createdById == 1\"}").trigger();
        assertThat(t.table()).isEqualTo("app.\"orderItems\"");
        assertThat(t.tableName()).isEqualTo(TableName.of("app", "orderItems"));
        assertThat(t.changed()).as("canonical: quoted only where needed").containsExactly("\"createdAt\"", "nickname", "status");
        assertThat(t.changedColumns()).as("as the rows name them").containsExactly("createdAt", "nickname", "status");
        Trigger.Table bare = (Trigger.Table) parse("{\"type\": \"table\", \"table\": \"\\\"orderItems\\\"\"}").trigger();
        assertThat(bare.table()).isEqualTo("public.\"orderItems\"");
        assertThat(((Trigger.Table) parse("{\"type\": \"table\", \"table\": \"public.\\\"users\\\"\"}").trigger()).table())
                .as("quotes that change nothing are dropped").isEqualTo("public.users");
    }

    @Test
    void aConditionThatDoesNotParseIsRejectedAtDeploy() {
        assertThat(problems("{\"type\": \"table\", \"table\": \"orders\", \"condition\": \"row.amount >\"}"))
                .contains("trigger field 'condition'").contains("cannot parse expression");
    }
}
