package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.onceflow.common.Database;
import dev.onceflow.common.Migrations;
import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.common.WorkflowStore;
import dev.onceflow.common.workflow.Workflow;
import dev.onceflow.common.workflow.Workflows;
import dev.onceflow.deploy.proof.ChildProcess;
import dev.onceflow.dispatcher.Dispatcher;
import dev.onceflow.dispatcher.StoreCatalog;
import dev.onceflow.engine.Engine;
import dev.onceflow.engine.EngineHooks;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Onceflow inside an application's own database (ADR 0024): a NocoBase-shaped database — camelCase
 * columns ({@code "createdAt"}, {@code "createdById"}), a camelCase table ({@code "orderItems"}),
 * and NocoBase's own {@code workflows} and {@code executions} tables in {@code public} — with
 * Onceflow in schema {@code onceflow} of that same database. A table trigger on {@code public.users}
 * ({@code changed} on a camelCase column) runs {@code sql} nodes that update the application's
 * {@code users} and insert into {@code "orderItems"}, whose own trigger inserts into
 * {@code "userAudits"}; one engine process halts between its PostgreSQL and its Kafka commit.
 * Every effect happens once, and Onceflow's tables are all in {@code onceflow}. The negative
 * control runs the same with unsafe engines (no processed keys) and must see an effect twice.
 *
 * <p>Each test gets a database of its own (and a replication slot of its own), dropped afterwards.
 */
@Timeout(value = 6, unit = TimeUnit.MINUTES)
class ApplicationDatabaseIT {

    private static final int USERS = 24;
    private static final String SCHEMA = "onceflow";
    /** NocoBase's tables as it creates them: quoted camelCase, and its own workflows/executions in public. */
    private static final String APP_SCHEMA = """
            CREATE TABLE users (id bigserial PRIMARY KEY, nickname varchar(255),
                "createdAt" timestamptz NOT NULL DEFAULT now(), "updatedAt" timestamptz NOT NULL DEFAULT now(),
                "createdById" bigint);
            CREATE TABLE "orderItems" (id bigserial PRIMARY KEY, "userId" bigint, "productName" varchar(255),
                "createdAt" timestamptz NOT NULL DEFAULT now(), "updatedAt" timestamptz NOT NULL DEFAULT now());
            CREATE TABLE "userAudits" (id bigserial PRIMARY KEY, "userId" bigint, "eventKey" text,
                "createdAt" timestamptz NOT NULL DEFAULT now());
            CREATE TABLE workflows (id bigserial PRIMARY KEY, key varchar(255), title varchar(255), type varchar(255),
                enabled boolean, current boolean, config json, options json,
                "createdAt" timestamptz NOT NULL DEFAULT now(), "updatedAt" timestamptz NOT NULL DEFAULT now());
            CREATE TABLE executions (id bigserial PRIMARY KEY, key varchar(255), "workflowId" bigint, "eventKey" varchar(255),
                context json, status integer, "createdAt" timestamptz NOT NULL DEFAULT now());
            INSERT INTO workflows (key, title, type, enabled, current, config)
                VALUES ('k1', 'on user change', 'collection', true, true, '{"collection": "users", "mode": 2}');
            """;
    private static final List<String> APP_TABLES = List.of("executions", "orderItems", "userAudits", "users", "workflows");

    @RegisterExtension
    final Fleet fleet = new Fleet(TestInfra.embedded());
    private final List<AutoCloseable> running = new ArrayList<>();
    private ChildProcess child;
    private String database;
    private String slot;

    @AfterEach
    void dropTheDatabase() throws Exception {
        if (child != null) {
            child.kill9();
        }
        for (int i = running.size() - 1; i >= 0; i--) {
            try {
                running.get(i).close();
            } catch (Exception e) {
                // keep closing the rest
            }
        }
        if (database != null) {
            // The slot holds WAL for the whole cluster, and a database with a slot cannot be dropped.
            await().atMost(Duration.ofSeconds(30)).until(() -> count(fleet.ds, "SELECT count(*) FROM pg_replication_slots "
                    + "WHERE slot_name = '" + slot + "' AND active") == 0);
            Scripts.run(fleet.ds, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '" + slot
                    + "'");
            Scripts.run(fleet.ds, "DROP DATABASE IF EXISTS " + database + " WITH (FORCE)");
        }
    }

    @Test
    void nocoBaseTablesInPublicOnceflowInItsSchemaEveryEffectOnceThroughAnEngineHalt() throws Exception {
        Run run = run(false);
        System.out.printf("application database: %d user changes, duplicate events/node runs absorbed after the halt: %d/%d%n",
                USERS, run.engine.metrics().duplicateEvents(), run.engine.metrics().duplicateNodeRuns());

        // Once each: one audit row per users change and one per order item, one '!' per user.
        assertThat(run.count("SELECT count(*) FROM \"userAudits\"")).isEqualTo(USERS);
        assertThat(run.count("SELECT count(DISTINCT \"eventKey\") FROM \"userAudits\"")).isEqualTo(USERS);
        assertThat(run.count("SELECT count(*) FROM \"orderItems\"")).isEqualTo(USERS);
        assertThat(run.count("SELECT count(DISTINCT \"productName\") FROM \"orderItems\"")).isEqualTo(USERS);
        assertThat(run.count("SELECT count(*) FROM users WHERE nickname LIKE '%!'")).isEqualTo(USERS);
        assertThat(run.count("SELECT count(*) FROM users WHERE nickname LIKE '%!!%'")).as("touched twice").isZero();
        assertThat(run.engine.metrics().duplicateEvents() + run.engine.metrics().duplicateNodeRuns())
                .as("the halted engine's batch was delivered again and absorbed").isPositive();

        // Onceflow's tables are in its schema, none in public; the application's are untouched.
        assertThat(tables(run.app, "public")).containsExactlyElementsOf(APP_TABLES);
        assertThat(tables(run.app, SCHEMA)).contains("executions", "onceflow_schema", "processed_keys", "rowchange_offsets",
                "timers", "workflows").doesNotContainAnyElementsOf(List.of("users", "orderItems", "userAudits"));
        assertThat(run.count("SELECT count(*) FROM public.workflows")).as("NocoBase's own workflows").isEqualTo(1);
        assertThat(run.count("SELECT count(*) FROM public.executions")).as("NocoBase's own executions").isZero();
        await().atMost(Duration.ofSeconds(30)).until(() -> run.count("SELECT count(*) FROM " + SCHEMA
                + ".rowchange_offsets WHERE slot = '" + slot + "'") > 0);
        // Without db.schema, Onceflow could not live here at all: NocoBase's workflows table is in the way.
        assertThatThrownBy(() -> Migrations.apply(Database.dataSource(run.url, run.user, run.password)))
                .hasMessageContaining("\"workflows\" already exists");
    }

    @Test
    void negativeControlUnsafeEnginesRunAnEffectTwiceThroughTheSameHalt() throws Exception {
        Run run = run(true);
        System.out.printf("application database, unsafe: %d user changes -> %d audit rows, %d order items, %d users touched twice%n",
                USERS, run.count("SELECT count(*) FROM \"userAudits\""), run.count("SELECT count(*) FROM \"orderItems\""),
                run.count("SELECT count(*) FROM users WHERE nickname LIKE '%!!%'"));
        assertThat(run.count("SELECT count(*) FROM \"userAudits\"") + run.count("SELECT count(*) FROM \"orderItems\"")
                + run.count("SELECT count(*) FROM users WHERE nickname LIKE '%!!%'"))
                .as("without processed keys the halted batch's effects happen again").isGreaterThan(2L * USERS);
    }

    /** What a run left behind: Onceflow's and the application's database (one and the same). */
    private record Run(DataSource app, Engine engine, String url, String user, String password) {
        long count(String sql) throws Exception {
            return ApplicationDatabaseIT.count(app, sql);
        }
    }

    private Run run(boolean unsafe) throws Exception {
        String suffix = Fleet.uniqueId("a").substring(2).replace('-', '_');
        database = "app_" + suffix;
        slot = "app_" + suffix;
        Scripts.run(fleet.ds, "CREATE DATABASE " + database);
        OnceflowConfig base = fleet.config(2);
        String url = base.get(OnceflowConfig.DB_URL).replaceFirst("/[^/?]+(\\?.*)?$", "/" + database);
        // The application's own connections: the default search path, as NocoBase has it.
        DataSource app = Database.dataSource(url, base.get(OnceflowConfig.DB_USER), base.get(OnceflowConfig.DB_PASSWORD));
        Scripts.run(app, APP_SCHEMA);

        OnceflowConfig config = base.with(Map.of(OnceflowConfig.DB_URL.name(), url, OnceflowConfig.DB_SCHEMA.name(), SCHEMA,
                OnceflowConfig.TABLE_SLOT.name(), slot, OnceflowConfig.TABLE_PUBLICATION.name(), slot,
                OnceflowConfig.ENGINE_MAX_POLL.name(), "10"));
        DataSource onceflow = Database.dataSource(config);
        Migrations.apply(onceflow, config.schema());
        WorkflowStore store = new WorkflowStore(onceflow);
        // A user's owner changes (camelCase column in 'changed' and in the condition): touch the user, add an order item.
        Workflow onOwner = store.deploy(Workflows.parse("owner.json", """
                {"id": "%s", "trigger": {"type": "table", "table": "public.users", "operations": ["update"],
                   "changed": ["\\"createdById\\""], "condition": "after.createdById == 7"},
                 "nodes": [
                  {"type": "sql", "id": "touch", "next": "order",
                   "sql": "UPDATE users SET \\"updatedAt\\" = now(), nickname = nickname || '!' WHERE id = CAST(? AS bigint)",
                   "params": ["trigger.row.id"]},
                  {"type": "sql", "id": "order",
                   "sql": "INSERT INTO \\"orderItems\\" (\\"userId\\", \\"productName\\") VALUES (CAST(? AS bigint), ?)",
                   "params": ["trigger.row.id", "event.key"]}]}""".formatted(Fleet.uniqueId("owner"))
                .getBytes(StandardCharsets.UTF_8)));
        // A new order item (a camelCase table, named bare): one audit row.
        Workflow onItem = store.deploy(Workflows.parse("item.json", """
                {"id": "%s", "trigger": {"type": "table", "table": "\\"orderItems\\"", "operations": ["insert"]},
                 "nodes": [
                  {"type": "sql", "id": "audit",
                   "sql": "INSERT INTO \\"userAudits\\" (\\"userId\\", \\"eventKey\\") VALUES (CAST(? AS bigint), ?)",
                   "params": ["trigger.row.userId", "event.key"]}]}""".formatted(Fleet.uniqueId("item"))
                .getBytes(StandardCharsets.UTF_8)));

        Engine engine = new Engine(config, onceflow, EngineHooks.NONE, Clock.systemUTC(), unsafe);
        engine.start();
        running.add(engine);
        Path dir = Files.createDirectories(Path.of("target", "application-database-it"));
        Path haltTrigger = dir.resolve("halt-" + suffix);
        Files.deleteIfExists(haltTrigger);
        List<String> args = new ArrayList<>(List.of("engine", "--halt-between-commits", haltTrigger.toString()));
        if (unsafe) {
            args.add("--unsafe");
        }
        // The halted child stays in the group until its session times out, and its open Kafka transaction holds
        // back read_committed readers until it times out: 6 s (the broker's minimum session) and 5 s instead of
        // 10 s each, so the in-process workers take its partitions over sooner. What they then meet is the same.
        child = new ChildProcess("engine-" + suffix, ChildProcess.java("384m", Onceflow.class.getName(), args),
                config.with(Map.of(OnceflowConfig.ENGINE_WORKERS.name(), "1", "kafka.consumer.session.timeout.ms", "6000",
                        OnceflowConfig.ENGINE_TRANSACTION_TIMEOUT.name(), "5000")).environment(), dir);
        child.start();
        StoreCatalog catalog = new StoreCatalog(store, config);
        running.add(catalog);
        Dispatcher dispatcher = new Dispatcher(config, catalog, onceflow);
        dispatcher.start();
        running.add(dispatcher);
        await().atMost(Duration.ofMinutes(2)).until(() -> dispatcher.captureStatus().capturing("public.users")
                && dispatcher.captureStatus().capturing("public.\"orderItems\""));
        fleet.awaitStableGroup(3); // two in-process workers and the child's one

        for (int i = 1; i <= USERS; i++) {
            Scripts.run(app, "INSERT INTO users (nickname, \"createdById\") VALUES ('user-" + i + "', 1)");
        }
        Files.writeString(haltTrigger, "halt"); // the child's next commit with records halts between the two commits
        long pid = child.pid();
        for (int i = 1; i <= USERS; i++) {
            Scripts.run(app, "UPDATE users SET \"createdById\" = 7 WHERE id = " + i);  // fires
            Scripts.run(app, "UPDATE users SET \"updatedAt\" = now() WHERE id = " + i); // 'changed' says no
        }
        await().atMost(Duration.ofMinutes(2)).until(() -> !Files.exists(haltTrigger)
                && ProcessHandle.of(pid).map(p -> !p.isAlive()).orElse(true));
        String owner = "SELECT count(*) FROM executions WHERE workflow_id = '" + onOwner.id() + "' AND finished_at IS NOT NULL";
        String item = "SELECT count(*) FROM executions WHERE workflow_id = '" + onItem.id() + "' AND finished_at IS NOT NULL";
        if (unsafe) {
            // Without processed keys an execution need not finish cleanly (its bookkeeping may run twice too):
            // wait for every effect to have happened at least once, then look for the extra ones.
            await().atMost(Duration.ofMinutes(3)).pollInterval(Duration.ofMillis(500))
                    .until(() -> count(app, "SELECT count(*) FROM \"userAudits\"") >= USERS
                            && count(app, "SELECT count(*) FROM \"orderItems\"") >= USERS);
            // Then until the halted batch's effects happened again (what the control must show), for at most 30 s
            // (it was a fixed 5 s): without them the assertion of the test fails as before.
            long needed = 2L * USERS;
            try {
                await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(200))
                        .until(() -> count(app, "SELECT count(*) FROM \"userAudits\"") + count(app, "SELECT count(*) FROM \"orderItems\"")
                                + count(app, "SELECT count(*) FROM users WHERE nickname LIKE '%!!%'") > needed);
            } catch (org.awaitility.core.ConditionTimeoutException notSeen) {
                // Not an error here: the control's assertion, after this returns, says what did not happen again.
            }
            return new Run(app, engine, url, base.get(OnceflowConfig.DB_USER), base.get(OnceflowConfig.DB_PASSWORD));
        }
        await().atMost(Duration.ofMinutes(3)).pollInterval(Duration.ofMillis(500))
                .until(() -> count(onceflow, owner) == USERS && count(onceflow, item) == USERS);
        // Held for 3 s: an effect repeated after the counts were reached would show up by then.
        long audits = count(app, "SELECT count(*) FROM \"userAudits\"");
        await().during(Duration.ofSeconds(3)).atMost(Duration.ofMinutes(1))
                .until(() -> count(app, "SELECT count(*) FROM \"userAudits\"") == audits);
        assertThat(count(onceflow, "SELECT count(*) FROM executions WHERE workflow_id IN ('" + onOwner.id() + "', '"
                + onItem.id() + "') AND status <> 'succeeded'")).as("executions that did not succeed").isZero();
        return new Run(app, engine, url, base.get(OnceflowConfig.DB_USER), base.get(OnceflowConfig.DB_PASSWORD));
    }

    private static List<String> tables(DataSource ds, String schema) throws Exception {
        List<String> out = new ArrayList<>();
        try (Connection c = ds.getConnection(); PreparedStatement q = c.prepareStatement(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ? AND table_type = 'BASE TABLE'")) {
            q.setString(1, schema);
            try (ResultSet rs = q.executeQuery()) {
                while (rs.next()) {
                    out.add(rs.getString(1));
                }
            }
        }
        return List.copyOf(new TreeSet<>(out));
    }

    private static long count(DataSource ds, String sql) throws Exception {
        try (Connection c = ds.getConnection(); PreparedStatement q = c.prepareStatement(sql); ResultSet rs = q.executeQuery()) {
            rs.next();
            return rs.getLong(1);
        }
    }
}
