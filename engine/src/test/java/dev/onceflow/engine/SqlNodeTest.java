package dev.onceflow.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.onceflow.common.workflow.Node;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class SqlNodeTest {

    /** A connection that counts every call: a refused statement must reach none of it. */
    private static Connection countingConnection(AtomicInteger calls) {
        return (Connection) Proxy.newProxyInstance(SqlNodeTest.class.getClassLoader(), new Class<?>[] {Connection.class},
                (proxy, method, args) -> {
                    calls.incrementAndGet();
                    throw new UnsupportedOperationException("the statement reached the connection: " + method.getName());
                });
    }

    private static NodeResult run(String sql) throws Exception {
        AtomicInteger calls = new AtomicInteger();
        NodeResult result = new SqlNode(1_000).run(new Node.Sql("n1", sql, List.of(), null, null), Map.of(), countingConnection(calls));
        assertThat(calls).as("calls on the connection for " + sql).hasValue(0);
        return result;
    }

    @Test
    void aStoredStatementWithSeveralStatementsFailsTheNodeWithoutRunning() throws Exception {
        NodeResult result = run("UPDATE t SET n = 1; COMMIT");
        assertThat(result).isInstanceOf(NodeResult.Failed.class);
        assertThat(((NodeResult.Failed) result).error()).contains("sql node 'n1'").contains("field 'sql'").contains("2 statements");
        assertThat(((NodeResult.Failed) result).transactionAborted()).isFalse();
    }

    @Test
    void aStoredTransactionControlStatementFailsTheNodeWithoutRunning() throws Exception {
        assertThat(((NodeResult.Failed) run("commit")).error()).contains("'COMMIT'");
        assertThat(((NodeResult.Failed) run("SAVEPOINT s")).error()).contains("'SAVEPOINT'");
    }

    @Test
    void semicolonsInQuotesAndCommentsAreNotRefused() {
        for (String sql : new String[] {"INSERT INTO t VALUES ('a;b')", "SELECT $$;$$", "SELECT 1 -- ;", "SELECT 1 /* ; */",
                "SELECT \"we;ird\" FROM t", "SELECT 1;"}) {
            assertThat(SqlNode.refusal(new Node.Sql("n", sql, List.of(), null, null))).as(sql).isNull();
        }
    }
}
