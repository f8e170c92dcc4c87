package dev.onceflow.common.workflow;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class SqlStatementsTest {

    private static int count(String sql) {
        return SqlStatements.statements(sql).size();
    }

    @Test
    void aSemicolonInsideQuotesOrCommentsDoesNotEndTheStatement() {
        assertThat(count("INSERT INTO t (s) VALUES ('a;b')")).isEqualTo(1);
        assertThat(count("INSERT INTO t (s) VALUES ('it''s;fine')")).isEqualTo(1);
        assertThat(count("INSERT INTO t (s) VALUES (E'\\';x')")).as("E'' with a backslash-escaped quote").isEqualTo(1);
        assertThat(count("INSERT INTO t (s) VALUES ($$;$$)")).isEqualTo(1);
        assertThat(count("INSERT INTO t (s) VALUES ($body$ ; $$ ; $body$)")).isEqualTo(1);
        assertThat(count("SELECT 1 -- ; COMMIT\n")).isEqualTo(1);
        assertThat(count("SELECT 1 /* ; /* nested ; */ COMMIT; */")).isEqualTo(1);
        assertThat(count("SELECT \"we;ird\" FROM \"a\"\"b;\"")).isEqualTo(1);
        assertThat(count("SELECT $1, a$b$c FROM t; ")).as("$1 and a$b$ are not dollar quotes").isEqualTo(1);
        assertThat(count("SELECT 1;")).as("one trailing ';'").isEqualTo(1);
        assertThat(count("SELECT 1; -- done\n")).isEqualTo(1);
    }

    @Test
    void aSemicolonOutsideQuotesStartsASecondStatement() {
        assertThat(count("SELECT 1; SELECT 2")).isEqualTo(2);
        assertThat(count("INSERT INTO t VALUES ('a;b'); DELETE FROM t")).isEqualTo(2);
        assertThat(count("SELECT $$;$$; COMMIT")).isEqualTo(2);
        assertThat(count("SELECT 1 /* c */; /* c */ SELECT 2;")).isEqualTo(2);
        assertThat(count("SELECT E'\\\\'; COMMIT")).as("E'\\\\' ends at the second quote").isEqualTo(2);
        assertThat(SqlStatements.problem("UPDATE t SET n = 1; COMMIT")).contains("holds 2 statements");
        assertThat(SqlStatements.problem("SELECT 1;;")).isNull();
    }

    @Test
    void transactionControlIsRefusedNamingTheStatement() {
        for (String sql : new String[] {"COMMIT", "commit;", "  Rollback", "BEGIN", "START TRANSACTION", "SAVEPOINT s",
                "RELEASE SAVEPOINT s", "ROLLBACK TO SAVEPOINT s", "END", "ABORT", "PREPARE TRANSACTION 'x'", "COMMIT PREPARED 'x'",
                "ROLLBACK PREPARED 'x'", "SET TRANSACTION ISOLATION LEVEL READ COMMITTED",
                "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", "/* lead */ -- c\n COMMIT"}) {
            assertThat(SqlStatements.problem(sql)).as(sql).isNotNull();
        }
        assertThat(SqlStatements.problem("COMMIT")).contains("'COMMIT'").contains("claim");
        assertThat(SqlStatements.problem("START TRANSACTION")).contains("'START TRANSACTION'");
        assertThat(SqlStatements.problem("SET TRANSACTION READ ONLY")).contains("'SET TRANSACTION'");
    }

    @Test
    void sessionChangesAndStatementsThatCannotRunInATransactionAreRefused() {
        for (String sql : new String[] {"SET search_path = x", "SET ROLE admin", "SET SESSION AUTHORIZATION u", "RESET ALL",
                "DISCARD ALL", "PREPARE q AS SELECT 1", "DEALLOCATE ALL", "VACUUM t", "CREATE INDEX CONCURRENTLY i ON t (a)",
                "create unique index concurrently i on t (a)",
                "DROP INDEX CONCURRENTLY i", "REINDEX TABLE CONCURRENTLY t", "CREATE DATABASE d", "DROP DATABASE d",
                "ALTER SYSTEM SET work_mem = '1MB'"}) {
            assertThat(SqlStatements.problem(sql)).as(sql).isNotNull();
        }
        assertThat(SqlStatements.problem("SET search_path = x")).contains("SET LOCAL");
    }

    @Test
    void aNodeCannotMoveTheSearchPathUnderTheEnginesOwnStatements() {
        for (String sql : new String[] {"SET LOCAL search_path = public", "set local search_path to app, public",
                "SET LOCAL SCHEMA 'public'"}) {
            assertThat(SqlStatements.problem(sql)).as(sql).contains("find Onceflow's tables").contains("qualify");
        }
    }

    @Test
    void ordinaryStatementsPassEvenWhenTheyMentionForbiddenWords() {
        for (String sql : new String[] {"INSERT INTO t (s) VALUES ('COMMIT; BEGIN')", "UPDATE t SET commit = 1 WHERE id = ?",
                "SELECT * FROM \"rollback\"", "SET LOCAL statement_timeout = 1000", "SET CONSTRAINTS ALL DEFERRED",
                "LOCK TABLE t IN SHARE MODE", "CREATE INDEX i ON t (a)", "CALL p(?)", "DO $$ BEGIN PERFORM 1; END $$",
                "CREATE FUNCTION f() RETURNS int AS $f$ BEGIN RETURN 1; END $f$ LANGUAGE plpgsql",
                "WITH x AS (DELETE FROM t RETURNING *) SELECT count(*) FROM x",
                "SELECT 1 -- COMMIT"}) {
            assertThat(SqlStatements.problem(sql)).as(sql).isNull();
        }
    }

    @Test
    void nothingButCommentsIsNoStatement() {
        assertThat(SqlStatements.problem("-- SELECT 1")).contains("no statement");
        assertThat(SqlStatements.problem(" ; ")).contains("no statement");
    }
}
