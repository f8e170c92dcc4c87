package dev.onceflow.deploy;

import dev.onceflow.common.Migrations;
import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.common.local.LocalKafka;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import javax.sql.DataSource;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;

/**
 * The processes of a chaos run: PostgreSQL (embedded, durable), the Kafka broker, the dispatchers
 * and engines (each a {@link ChildProcess} with its settings in {@code ONCEFLOW_*} environment
 * variables), and one extra engine that {@link ChaosFaults} adds and removes. {@link ChaosFaults}
 * kills and restarts them through the accessors; {@link #stop()} ends them all.
 *
 * <p>Owned by {@link ChaosCommand}. Not thread-safe: driven by the run's main thread, except
 * {@link #stop()}, which the JVM shutdown hook may also call, best effort, if the run is interrupted.
 */
final class ChaosFleet {

    private final Path dir;
    private final Path logs;
    private final boolean unsafe;
    private RestartablePostgres postgres;
    private ChildProcess broker;
    private final List<ChildProcess> engineProcs = new ArrayList<>();
    private final List<ChildProcess> dispatcherProcs = new ArrayList<>();
    private ChildProcess extraEngine;
    private String bootstrap;
    private DataSource ds;

    ChaosFleet(Path dir, Path logs, boolean unsafe) {
        this.dir = dir;
        this.logs = logs;
        this.unsafe = unsafe;
    }

    /** Starts PostgreSQL and applies Onceflow's schema; returns its data source. */
    DataSource startPostgres() throws Exception {
        postgres = new RestartablePostgres(dir.resolve("postgres"), logs);
        ds = dev.onceflow.common.Database.dataSource("jdbc:postgresql://localhost:" + postgres.port() + "/postgres", "postgres", "");
        Migrations.apply(ds);
        return ds;
    }

    /** Starts the broker as its own process, waits until it answers, and creates Onceflow's topics. */
    void startBroker() throws Exception {
        int port = LocalKafka.freePort();
        int controllerPort = LocalKafka.freePort();
        Path kafkaDir = Files.createDirectories(dir.resolve("kafka"));
        Properties props = new Properties();
        props.putAll(LocalKafka.brokerProperties(kafkaDir.resolve("logs"), port, controllerPort));
        Path serverProps = kafkaDir.resolve("server.properties");
        try (OutputStream o = Files.newOutputStream(serverProps)) {
            props.store(o, "onceflow chaos broker");
        }
        LocalKafka.format(serverProps);
        bootstrap = "localhost:" + port;
        broker = new ChildProcess("broker", ChildProcess.java("768m", "kafka.Kafka", List.of(serverProps.toString())), Map.of(), logs);
        broker.start();
        awaitBroker();
        LocalInfra.createTopics(config());
    }

    /** Starts the dispatchers, then the engines; prepares (but does not start) the extra engine. */
    void startRoles(int dispatchers, int engines) throws IOException {
        for (int i = 1; i <= dispatchers; i++) {
            ChildProcess d = role("dispatcher-" + i, "dispatcher", Map.of(OnceflowConfig.DISPATCHER_STATE_DIR.name(),
                    dir.resolve("streams-" + i).toString()));
            dispatcherProcs.add(d);
            d.start();
        }
        for (int i = 1; i <= engines; i++) {
            ChildProcess e = role("engine-" + i, "engine", Map.of());
            engineProcs.add(e);
            e.start();
        }
        extraEngine = role("engine-extra", "engine", Map.of());
    }

    OnceflowConfig config() {
        return OnceflowConfig.of(Map.of(OnceflowConfig.KAFKA_BOOTSTRAP.name(), bootstrap,
                OnceflowConfig.DB_URL.name(), "jdbc:postgresql://localhost:" + postgres.port() + "/postgres",
                OnceflowConfig.DB_USER.name(), "postgres",
                OnceflowConfig.ENGINE_GROUP.name(), "onceflow-chaos",
                OnceflowConfig.ENGINE_WORKERS.name(), "2",
                OnceflowConfig.DISPATCHER_APP_ID.name(), "onceflow-chaos-dispatcher",
                OnceflowConfig.DISPATCHER_HTTP_PORT.name(), "0"));
    }

    private ChildProcess role(String name, String role, Map<String, String> extra) {
        Map<String, String> env = config().with(extra).environment();
        List<String> args = new ArrayList<>(List.of(role));
        if (unsafe && role.equals("engine")) {
            args.add("--unsafe");
        }
        return new ChildProcess(name, ChildProcess.java("384m", Onceflow.class.getName(), args), env, logs);
    }

    void awaitBroker() throws InterruptedException {
        long deadline = System.currentTimeMillis() + 90_000;
        while (true) {
            try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
                    AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 3000, AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 5000))) {
                admin.describeCluster().nodes().get();
                return;
            } catch (Exception e) {
                if (System.currentTimeMillis() > deadline) {
                    throw new IllegalStateException("the Kafka broker did not start within 90 s; see " + logs.resolve("broker-1.log"));
                }
                Thread.sleep(300);
            }
        }
    }

    /**
     * Restarts every role (and the broker) that exited by itself — as a process supervisor such
     * as Kubernetes would — and returns what happened to each, for the summary: a role that exits
     * is a finding (it should wait and retry, not exit), but the run goes on with the fleet it is
     * meant to have. Called by the fault thread between faults and while waiting for quiet.
     */
    List<Map<String, Object>> restartExited(long startedAt) throws IOException {
        List<ChildProcess> all = new ArrayList<>(engineProcs);
        all.addAll(dispatcherProcs);
        all.add(extraEngine);
        all.add(broker);
        List<Map<String, Object>> exits = new ArrayList<>();
        for (ChildProcess p : all) {
            if (p != null && p.exitedByItself()) {
                Map<String, Object> e = new java.util.LinkedHashMap<>();
                e.put("at_s", Math.round((System.currentTimeMillis() - startedAt) / 100.0) / 10.0);
                e.put("role", p.name());
                e.put("exit_code", p.exitCode());
                e.put("last_log_line", p.lastLogLine());
                p.start();
                exits.add(e);
            }
        }
        return exits;
    }

    DataSource dataSource() {
        return ds;
    }

    String bootstrap() {
        return bootstrap;
    }

    RestartablePostgres postgres() {
        return postgres;
    }

    ChildProcess broker() {
        return broker;
    }

    List<ChildProcess> engines() {
        return engineProcs;
    }

    List<ChildProcess> dispatchers() {
        return dispatcherProcs;
    }

    ChildProcess extraEngine() {
        return extraEngine;
    }

    /** Stops the roles, then the broker, then PostgreSQL; whatever was started. */
    void stop() {
        List<ChildProcess> all = new ArrayList<>(engineProcs);
        all.addAll(dispatcherProcs);
        if (extraEngine != null) {
            all.add(extraEngine);
        }
        for (ChildProcess p : all) {
            try {
                p.stop(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        try {
            if (broker != null) {
                broker.stop(20);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (postgres != null) {
            postgres.close();
            postgres = null;
        }
    }
}
