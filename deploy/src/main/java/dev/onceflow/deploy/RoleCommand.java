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
import java.util.Set;
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
    private static final Set<String> VALUED = Set.of("config", "set");

    private RoleCommand() {
    }

    static int engine(List<String> argv, PrintStream out, PrintStream err) throws InterruptedException {
        Args args = Args.parse("engine", argv, VALUED, Set.of("unsafe"));
        OnceflowConfig config = Onceflow.config(args);
        DataSource ds = prepare(config);
        Engine engine = new Engine(config, ds, EngineHooks.NONE, Clock.systemUTC(), args.flag("unsafe"));
        engine.start();
        out.println("onceflow engine " + engine.name() + " running: " + config.getInt(OnceflowConfig.ENGINE_WORKERS)
                + " workers, group " + config.get(OnceflowConfig.ENGINE_GROUP) + ", Kafka "
                + config.get(OnceflowConfig.KAFKA_BOOTSTRAP));
        serve(engine::close, () -> {
            EngineMetrics m = engine.metrics();
            return "executions started " + m.events() + ", nodes run " + m.nodeRuns() + ", duplicates absorbed "
                    + (m.duplicateEvents() + m.duplicateNodeRuns()) + ", failed batches " + m.batchFailures();
        });
        return 0;
    }

    static int dispatcher(List<String> argv, PrintStream out, PrintStream err) throws InterruptedException {
        Args args = Args.parse("dispatcher", argv, VALUED, Set.of());
        OnceflowConfig config = Onceflow.config(args);
        DataSource ds = prepare(config);
        StoreCatalog catalog = new StoreCatalog(new dev.onceflow.common.WorkflowStore(ds), config);
        Dispatcher dispatcher = new Dispatcher(config, catalog, ds);
        dispatcher.start();
        out.println("onceflow dispatcher running: application " + config.get(OnceflowConfig.DISPATCHER_APP_ID)
                + ", Kafka " + config.get(OnceflowConfig.KAFKA_BOOTSTRAP));
        serve(() -> {
            dispatcher.close();
            catalog.close();
        }, () -> dispatcher.metrics() + captureLine(dispatcher.captureStatus()));
        return 0;
    }

    /** The row-change capture's part of the status line: who captures what, and what a person must fix. */
    static String captureLine(dev.onceflow.dispatcher.CaptureStatus c) {
        if (c == null || (!c.leading() && c.problem() == null && c.changes() == 0)) {
            return "";
        }
        return "; row-change capture " + c.state() + " slot=" + c.slot() + (c.tables().isEmpty() ? "" : " tables=" + c.tables())
                + " changes=" + c.changes() + " events=" + c.events() + (c.problem() == null ? "" : " PROBLEM: " + c.problem());
    }

    /** Runs migrations and creates missing topics: every role does, so any one can start first. */
    static DataSource prepare(OnceflowConfig config) {
        LOG.info("Configuration:\n{}", config);
        DataSource ds = Database.dataSource(config);
        Migrations.apply(ds);
        LocalInfra.createTopics(config);
        return ds;
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
