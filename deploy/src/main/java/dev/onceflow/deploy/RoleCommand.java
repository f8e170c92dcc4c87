package dev.onceflow.deploy;

import dev.onceflow.common.Database;
import dev.onceflow.common.Migrations;
import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.dispatcher.Dispatcher;
import dev.onceflow.dispatcher.StoreCatalog;
import dev.onceflow.engine.Engine;
import dev.onceflow.engine.EngineHooks;
import dev.onceflow.engine.EngineMetrics;
import java.io.PrintStream;
import java.time.Clock;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code onceflow engine} and {@code onceflow dispatcher}: one production role against the Kafka
 * and PostgreSQL named by configuration. Migrations run and topics are created on start. SIGTERM
 * (or Ctrl-C) closes the role: engine workers finish or abort their open transaction and leave the
 * group; the dispatcher's Streams threads commit and close.
 */
final class RoleCommand {

    private static final Logger LOG = LoggerFactory.getLogger(RoleCommand.class);
    private static final Args.Opt START_TIMEOUT = Args.Opt.value("start-timeout", "S", "Wait up to S seconds for PostgreSQL and Kafka"
            + " at start (default 300; 0: no waiting).");
    static final Args.Spec DISPATCHER = new Args.Spec("dispatcher",
            "Run one dispatcher against the configured Kafka and PostgreSQL.\n"
                    + "Trigger routing, schedules, row-change capture, the HTTP API and the console; migrations run and topics are\n"
                    + "created at start.", Args.CONFIG).with(List.of(START_TIMEOUT));
    // --unsafe (the negative control) and --halt-between-commits FILE (a chaos fault) are the proof's: hidden.
    static final Args.Spec ENGINE = new Args.Spec("engine",
            "Run one engine process (engine.workers threads) against the configured Kafka and PostgreSQL.\n"
                    + "Migrations run and topics are created at start; SIGTERM finishes or aborts the open transactions and leaves.", Args.CONFIG)
            .with(List.of(START_TIMEOUT,
                    Args.Opt.value("halt-between-commits", "FILE", "Proof only: halt between the two commits when FILE appears.").hide(),
                    Args.Opt.flag("unsafe", "Proof only: the negative control, without the processed-key check.").hide()));
    /** How long a role waits at start for PostgreSQL and Kafka, by default ({@code --start-timeout S}). */
    static final int START_TIMEOUT_S = 300;
    /** Per bootstrap address, how long a start-up probe waits for a TCP connection. */
    private static final int PROBE_TIMEOUT_MS = 3_000;

    private RoleCommand() {
    }

    static int engine(List<String> argv, PrintStream out, PrintStream err) throws InterruptedException {
        Args args = Args.parse(ENGINE, argv);
        OnceflowConfig config = Onceflow.config(args);
        DataSource ds = prepare(config, startWait(args, START_TIMEOUT_S));
        String halt = args.get("halt-between-commits", null);
        EngineHooks hooks = halt == null ? EngineHooks.NONE
                : new dev.onceflow.deploy.proof.HaltBetweenCommits(java.nio.file.Path.of(halt));
        // The engine names itself engine-<host>-<pid>-<n> (Engine.processName): unique in the group.
        Engine engine = new Engine(config, ds, hooks, Clock.systemUTC(), args.flag("unsafe"));
        engine.start();
        out.println("onceflow engine " + engine.name() + " running: " + config.getInt(OnceflowConfig.ENGINE_WORKERS)
                + " workers, group " + config.get(OnceflowConfig.ENGINE_GROUP) + ", Kafka "
                + config.get(OnceflowConfig.KAFKA_BOOTSTRAP));
        serve(engine::close, () -> {
            EngineMetrics m = engine.metrics();
            return engineLine(m, engine.problems());
        });
        return 0;
    }

    static int dispatcher(List<String> argv, PrintStream out, PrintStream err) throws InterruptedException {
        Args args = Args.parse(DISPATCHER, argv);
        OnceflowConfig config = Onceflow.config(args);
        String name = processName("dispatcher");
        if (!config.asMap().containsKey("kafka.streams.client.id")) {
            // Kafka Streams names its threads' clients <client.id>-StreamThread-N-...: readable, and one per process.
            config = config.with(java.util.Map.of("kafka.streams.client.id", name));
        }
        prepare(config, startWait(args, START_TIMEOUT_S));
        com.zaxxer.hikari.HikariDataSource ds = Database.pooled(config, "onceflow-" + name, 8);
        StoreCatalog catalog = new StoreCatalog(new dev.onceflow.common.WorkflowStore(ds), config);
        Dispatcher dispatcher = new Dispatcher(config, catalog, ds);
        dispatcher.start();
        out.println("onceflow dispatcher " + name + " running: application " + config.get(OnceflowConfig.DISPATCHER_APP_ID)
                + ", Kafka " + config.get(OnceflowConfig.KAFKA_BOOTSTRAP));
        serve(() -> {
            dispatcher.close();
            catalog.close();
            ds.close();
        }, () -> dispatcher.metrics() + captureLine(dispatcher.captureStatus()));
        return 0;
    }

    /** The engine's status line: its counts, then whatever a person should look at (stalls, stuck executions). */
    static String engineLine(EngineMetrics m, List<String> problems) {
        return "executions started " + m.events() + ", nodes run " + m.nodeRuns() + ", duplicates absorbed "
                + (m.duplicateEvents() + m.duplicateNodeRuns()) + ", failed batches " + m.batchFailures()
                + ", dead-lettered " + m.deadLettered()
                + (problems.isEmpty() ? "" : "; PROBLEMS: " + String.join(" | ", problems));
    }

    /** The row-change capture's part of the status line: who captures what, and what a person must fix. */
    static String captureLine(dev.onceflow.dispatcher.CaptureStatus c) {
        if (c == null || (!c.leading() && c.problem() == null && c.changes() == 0)) {
            return "";
        }
        return "; row-change capture " + c.state() + " slot=" + c.slot() + (c.tables().isEmpty() ? "" : " tables=" + c.tables())
                + " changes=" + c.changes() + " events=" + c.events() + (c.problem() == null ? "" : " PROBLEM: " + c.problem());
    }

    /**
     * Waits for PostgreSQL and runs migrations, then waits for Kafka and creates missing topics: every role does,
     * so any one can start first, and before the infrastructure too (within the start timeout).
     */
    static DataSource prepare(OnceflowConfig config, StartupWait wait) throws InterruptedException {
        LOG.info("Configuration:\n{}", config);
        DataSource ds = prepareDatabase(config, wait);
        wait.await("Kafka", config.get(OnceflowConfig.KAFKA_BOOTSTRAP), () -> {
            createTopics(config);
            return null;
        });
        return ds;
    }

    /** Waits for PostgreSQL and runs migrations; Kafka is not needed (workflow deploy and list). */
    static DataSource prepareDatabase(OnceflowConfig config, StartupWait wait) throws InterruptedException {
        DataSource ds = Database.dataSource(config);
        wait.await("PostgreSQL", withoutQuery(config.get(OnceflowConfig.DB_URL)), () -> migrate(ds, config.schema()));
        return ds;
    }

    /** {@code --start-timeout S} (0: one attempt, no waiting). */
    static StartupWait startWait(Args args, int defaultSeconds) {
        return new StartupWait(args.intValue("start-timeout", defaultSeconds, 0, 86_400) * 1000L);
    }

    private static Integer migrate(DataSource ds, String schema) throws StartupWait.NotYet {
        try {
            return Migrations.apply(ds, schema);
        } catch (IllegalStateException e) {
            java.sql.SQLException sql = cause(e, java.sql.SQLException.class);
            if (sql != null && transientSqlState(sql.getSQLState())) {
                throw new StartupWait.NotYet(firstSentence(sql.getMessage()), e);
            }
            throw e; // a wrong password, a missing database, a failing migration: waiting will not fix it
        }
    }

    /**
     * SQL states worth waiting on: connection exceptions (08: refused, reset, unknown host, timeout), a server
     * that is starting up or shutting down (57P03), too many connections (53300).
     */
    static boolean transientSqlState(String state) {
        return state != null && (state.startsWith("08") || state.equals("57P03") || state.equals("53300"));
    }

    /**
     * One attempt at Kafka: a plain TCP probe of the bootstrap addresses first, so that an absent broker costs
     * one line per attempt instead of a Kafka client's reconnect warnings; then the topics.
     */
    private static void createTopics(OnceflowConfig config) throws StartupWait.NotYet {
        String unreachable = unreachable(config.get(OnceflowConfig.KAFKA_BOOTSTRAP), PROBE_TIMEOUT_MS);
        if (unreachable != null) {
            throw new StartupWait.NotYet("no bootstrap address accepts connections: " + unreachable, null);
        }
        try {
            LocalInfra.createTopics(config);
        } catch (IllegalStateException e) {
            if (cause(e, java.util.concurrent.TimeoutException.class) != null
                    || cause(e, org.apache.kafka.common.errors.TimeoutException.class) != null) {
                throw new StartupWait.NotYet("a broker accepted a TCP connection but Kafka gave no answer in time (still starting,"
                        + " not a Kafka listener, or its advertised.listeners not reachable from here)", e);
            }
            Throwable kafka = cause(e, org.apache.kafka.common.errors.RetriableException.class);
            if (kafka == null) {
                // e.g. replication 3 while only 1 broker has registered yet: a cluster that is still coming up
                kafka = cause(e, org.apache.kafka.common.errors.InvalidReplicationFactorException.class);
            }
            if (kafka != null) {
                throw new StartupWait.NotYet(kafka.getClass().getSimpleName() + ": " + kafka.getMessage(), e);
            }
            throw e;
        }
    }

    /**
     * Tries a TCP connection to each {@code host:port} of a bootstrap list; null when one accepts, else what
     * each said ({@code "kafka-0:9092 (Connection refused)"}).
     */
    static String unreachable(String bootstrap, int timeoutMs) {
        List<String> failures = new java.util.ArrayList<>();
        for (String address : bootstrap.split(",")) {
            String a = address.trim();
            if (a.isEmpty()) {
                continue;
            }
            String host = org.apache.kafka.common.utils.Utils.getHost(a);
            Integer port = org.apache.kafka.common.utils.Utils.getPort(a);
            if (host == null || port == null) {
                failures.add(a + " (not host:port)");
                continue;
            }
            try (java.net.Socket socket = new java.net.Socket()) {
                socket.connect(new java.net.InetSocketAddress(host, port), timeoutMs);
                return null;
            } catch (java.io.IOException e) {
                failures.add(a + " (" + (e instanceof java.net.UnknownHostException ? "unknown host" : e.getMessage()) + ")");
            }
        }
        return String.join(", ", failures);
    }

    /** "Connection to db:5432 refused." of pgjdbc's "Connection to db:5432 refused. Check that the hostname ...". */
    static String firstSentence(String message) {
        if (message == null) {
            return "no message";
        }
        int end = message.indexOf(". ");
        return end < 0 ? message : message.substring(0, end + 1);
    }

    /** A JDBC URL without its query string, which may carry a password. */
    static String withoutQuery(String url) {
        int q = url.indexOf('?');
        return q < 0 ? url : url.substring(0, q);
    }

    private static <T extends Throwable> T cause(Throwable t, Class<T> type) {
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (type.isInstance(c)) {
                return type.cast(c);
            }
        }
        return null;
    }

    /**
     * A process's name for Kafka client ids and logs: {@code role-host-pid}, unique among the processes of a
     * fleet and readable in a consumer group's member list. {@code HOSTNAME} (a pod's name in Kubernetes) is
     * preferred to a DNS lookup.
     */
    static String processName(String role) {
        String host = System.getenv("HOSTNAME");
        if (host == null || host.isBlank()) {
            try {
                host = java.net.InetAddress.getLocalHost().getHostName();
            } catch (java.io.IOException e) {
                host = "localhost";
            }
        }
        return processName(role, host, ProcessHandle.current().pid());
    }

    /** {@code role-host-pid}, with the host's first label only and characters Kafka client ids accept. */
    static String processName(String role, String host, long pid) {
        String h = host == null ? "" : host.trim();
        int dot = h.indexOf('.');
        if (dot > 0 && !h.chars().allMatch(c -> Character.isDigit(c) || c == '.')) {
            h = h.substring(0, dot); // kafka-engine-7.svc.cluster.local -> kafka-engine-7; an IP address stays whole
        }
        h = h.replaceAll("[^A-Za-z0-9._-]", "-");
        if (h.length() > 63) {
            h = h.substring(0, 63);
        }
        return role + "-" + (h.isEmpty() ? "localhost" : h) + "-" + pid;
    }

    /** Blocks until SIGTERM/SIGINT, logging a status line every 30 s; then runs {@code stop}. */
    private static void serve(Runnable stop, java.util.function.Supplier<String> status) throws InterruptedException {
        CountDownLatch done = new CountDownLatch(1);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            LOG.info("Shutdown requested; closing");
            done.countDown();
            try {
                stopped.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "onceflow-shutdown"));
        while (!done.await(30, java.util.concurrent.TimeUnit.SECONDS)) {
            LOG.info("Status: {}", status.get());
        }
        try {
            stop.run();
        } finally {
            LOG.info("Stopped. Final status: {}", status.get());
            stopped.countDown();
        }
    }
}
