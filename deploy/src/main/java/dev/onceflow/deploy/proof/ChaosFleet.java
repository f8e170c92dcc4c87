package dev.onceflow.deploy.proof;

import dev.onceflow.common.Migrations;
import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.common.local.LocalKafka;
import dev.onceflow.deploy.LocalInfra;
import dev.onceflow.deploy.Onceflow;
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
    private final int brokerCount;
    private RestartablePostgres postgres;
    /**
     * The brokers' logging beyond Onceflow's (WARN) defaults: the group coordinator runtime at INFO, a few
     * lines per load of {@code __consumer_offsets} ("Scheduling loading", "Finished loading", "Ignored
     * load completion"), so that a broker log shows the Kafka 4.3.1 load race of ADR 0009 (addendum of
     * session 5) when it happens; {@link ChaosKafka#coordinatorLoadRaces} counts it for the summary.
     */
    static final List<String> BROKER_JVM_OPTIONS =
            List.of("-Dorg.slf4j.simpleLogger.log.org.apache.kafka.coordinator.common.runtime.CoordinatorRuntime=info");

    /** The brokers, node id i + 1 at index i. */
    private final List<ChildProcess> brokers = new ArrayList<>();
    private final List<ChildProcess> engineProcs = new ArrayList<>();
    private final List<ChildProcess> dispatcherProcs = new ArrayList<>();
    private ChildProcess extraEngine;
    private String bootstrap;
    private DataSource ds;

    ChaosFleet(Path dir, Path logs, boolean unsafe) {
        this(dir, logs, unsafe, 1);
    }

    /**
     * {@code brokerCount} 1: one broker, replication factor 1 (as {@code onceflow dev}). 3: a
     * three-node KRaft cluster (every node broker and controller, one quorum of three voters),
     * replication factor 3 everywhere and {@code min.insync.replicas} 2, so one broker may be down.
     */
    ChaosFleet(Path dir, Path logs, boolean unsafe, int brokerCount) {
        if (brokerCount != 1 && brokerCount != 3) {
            throw new IllegalArgumentException("brokers must be 1 or 3, not " + brokerCount);
        }
        this.dir = dir;
        this.logs = logs;
        this.unsafe = unsafe;
        this.brokerCount = brokerCount;
    }

    /** Starts PostgreSQL and applies Onceflow's schema; returns its data source. */
    DataSource startPostgres() throws Exception {
        postgres = new RestartablePostgres(dir.resolve("postgres"), logs);
        ds = dev.onceflow.common.Database.dataSource("jdbc:postgresql://localhost:" + postgres.port() + "/postgres", "postgres", "");
        Migrations.apply(ds);
        return ds;
    }

    /**
     * Starts the broker (or the three brokers) as its own process, waits until it answers (until
     * all of them are registered), and creates Onceflow's topics.
     */
    void startBroker() throws Exception {
        if (brokerCount == 1) {
            int port = LocalKafka.freePort();
            int controllerPort = LocalKafka.freePort();
            Path kafkaDir = Files.createDirectories(dir.resolve("kafka"));
            Path serverProps = write(kafkaDir, LocalKafka.brokerProperties(kafkaDir.resolve("logs"), port, controllerPort));
            LocalKafka.format(serverProps);
            bootstrap = "localhost:" + port;
            brokers.add(new ChildProcess("broker", ChildProcess.java("768m", BROKER_JVM_OPTIONS, "kafka.Kafka", List.of(serverProps.toString())),
                    Map.of(), logs));
        } else {
            int[] ports = new int[brokerCount];
            int[] controllerPorts = new int[brokerCount];
            List<String> voters = new ArrayList<>();
            List<String> servers = new ArrayList<>();
            for (int i = 0; i < brokerCount; i++) {
                ports[i] = LocalKafka.freePort();
                controllerPorts[i] = LocalKafka.freePort();
                voters.add((i + 1) + "@localhost:" + controllerPorts[i]);
                servers.add("localhost:" + ports[i]);
            }
            String clusterId = org.apache.kafka.common.Uuid.randomUuid().toString();
            for (int i = 0; i < brokerCount; i++) {
                Path kafkaDir = Files.createDirectories(dir.resolve("kafka-" + (i + 1)));
                Path serverProps = write(kafkaDir, LocalKafka.clusterProperties(i + 1, String.join(",", voters), kafkaDir.resolve("logs"),
                        ports[i], controllerPorts[i], brokerCount, 2));
                LocalKafka.format(serverProps, clusterId);
                brokers.add(new ChildProcess("broker-" + (i + 1), ChildProcess.java("512m", BROKER_JVM_OPTIONS, "kafka.Kafka", List.of(serverProps.toString())),
                        Map.of(), logs));
            }
            bootstrap = String.join(",", servers);
        }
        for (ChildProcess b : brokers) {
            b.start();
        }
        awaitBroker();
        LocalInfra.createTopics(config());
    }

    private static Path write(Path kafkaDir, Map<String, String> settings) throws IOException {
        Properties props = new Properties();
        props.putAll(settings);
        Path serverProps = kafkaDir.resolve("server.properties");
        try (OutputStream o = Files.newOutputStream(serverProps)) {
            props.store(o, "onceflow chaos broker");
        }
        return serverProps;
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

    /** The chaos run's own bearer token (its dispatchers serve the API on free ports). */
    private final String token = java.util.UUID.randomUUID().toString();

    OnceflowConfig config() {
        return OnceflowConfig.of(Map.of(OnceflowConfig.KAFKA_BOOTSTRAP.name(), bootstrap,
                OnceflowConfig.REPLICATION.name(), String.valueOf(brokerCount),
                OnceflowConfig.DB_URL.name(), "jdbc:postgresql://localhost:" + postgres.port() + "/postgres",
                OnceflowConfig.DB_USER.name(), "postgres",
                OnceflowConfig.ENGINE_GROUP.name(), "onceflow-chaos",
                OnceflowConfig.ENGINE_WORKERS.name(), "2",
                OnceflowConfig.DISPATCHER_APP_ID.name(), "onceflow-chaos-dispatcher",
                OnceflowConfig.DISPATCHER_HTTP_PORT.name(), "0",
                OnceflowConfig.ENGINE_HTTP_PORT.name(), "0")).with(Map.of(OnceflowConfig.API_TOKEN.name(), token));
    }

    private ChildProcess role(String name, String role, Map<String, String> extra) {
        Map<String, String> env = config().with(extra).environment();
        List<String> args = new ArrayList<>(List.of(role));
        if (unsafe && role.equals("engine")) {
            args.add("--unsafe");
        }
        if (role.equals("engine")) {
            args.addAll(List.of("--halt-between-commits", haltTrigger().toString()));
        }
        return new ChildProcess(name, ChildProcess.java("384m", Onceflow.class.getName(), args), env, logs);
    }

    /** The file that, once it exists, halts the next engine to commit a batch between its two commits ({@link HaltBetweenCommits}). */
    Path haltTrigger() {
        return dir.resolve("halt-between-commits");
    }

    /** Waits up to 90 s until the broker answers; with several, until every one is registered in the cluster. */
    void awaitBroker() throws InterruptedException {
        long deadline = System.currentTimeMillis() + 90_000;
        while (true) {
            try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
                    AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 3000, AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 5000))) {
                int nodes = admin.describeCluster().nodes().get().size();
                if (nodes >= brokerCount) {
                    return;
                }
                throw new IllegalStateException(nodes + " of " + brokerCount + " brokers registered");
            } catch (Exception e) {
                if (System.currentTimeMillis() > deadline) {
                    throw new IllegalStateException("the Kafka broker" + (brokerCount > 1 ? "s" : "") + " did not start within 90 s ("
                            + e.getMessage() + "); see " + logs.resolve(brokers.get(0).name() + "-1.log"));
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
        all.addAll(brokers);
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

    /** The (first) broker: the only one with {@code --brokers 1}. */
    ChildProcess broker() {
        return brokers.get(0);
    }

    /** Every broker, node id i + 1 at index i. */
    List<ChildProcess> brokers() {
        return brokers;
    }

    int brokerCount() {
        return brokerCount;
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
        // All at once: a broker of a cluster whose others already stopped waits for a quorum to shut down in order.
        List<Thread> stopping = new ArrayList<>();
        for (ChildProcess b : brokers) {
            Thread t = new Thread(() -> {
                try {
                    b.stop(20);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, "onceflow-chaos-stop-" + b.name());
            t.start();
            stopping.add(t);
        }
        for (Thread t : stopping) {
            try {
                t.join(40_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (postgres != null) {
            postgres.close();
            postgres = null;
        }
    }
}
