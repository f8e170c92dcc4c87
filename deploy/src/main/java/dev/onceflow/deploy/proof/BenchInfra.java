package dev.onceflow.deploy.proof;

import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.deploy.LocalInfra;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import javax.sql.DataSource;

/**
 * The broker(s) and the database one {@code bench} run measures on, and the replication its topics
 * (Onceflow's and the bare limit's) use: the embedded default (one broker in this JVM, replication
 * 1), or {@code --brokers 3}: {@link ChaosFleet}'s three-broker KRaft cluster as child processes,
 * replication factor 3 and {@code min.insync.replicas} 2, with PostgreSQL embedded. Owned by
 * {@link BenchCommand}, which closes it.
 */
interface BenchInfra extends AutoCloseable {

    DataSource dataSource();

    OnceflowConfig config();

    String bootstrapServers();

    /** The replication factor of the run's topics. */
    int replication();

    @Override
    void close();

    /**
     * Starts the infrastructure of a run.
     *
     * @param settings         Onceflow settings of the roles the bench runs in this JVM
     * @param postgresSettings further PostgreSQL server settings (honoured by the embedded default only)
     */
    static BenchInfra start(Path dir, int brokers, Map<String, String> settings, Map<String, String> postgresSettings) throws Exception {
        if (brokers == 1) {
            LocalInfra infra = LocalInfra.start(dir, settings, true, postgresSettings);
            return new BenchInfra() {
                public DataSource dataSource() {
                    return infra.dataSource();
                }

                public OnceflowConfig config() {
                    return infra.config();
                }

                public String bootstrapServers() {
                    return infra.bootstrapServers();
                }

                public int replication() {
                    return 1;
                }

                public void close() {
                    infra.close();
                }
            };
        }
        ChaosFleet fleet = new ChaosFleet(dir, Files.createDirectories(dir.resolve("logs")), false, brokers);
        // The brokers are child processes: an interrupted run (Ctrl-C, kill) must not leave them behind.
        Thread stopAtExit = new Thread(fleet::stop, "onceflow-bench-stop-brokers");
        Runtime.getRuntime().addShutdownHook(stopAtExit);
        try {
            DataSource ds = fleet.startPostgres();
            fleet.startBroker();
            // The chaos fleet's names for the group and the application are its own; the bench's roles use the defaults.
            OnceflowConfig config = fleet.config().with(settings).with(Map.of(
                    OnceflowConfig.ENGINE_GROUP.name(), OnceflowConfig.ENGINE_GROUP.defaultValue(),
                    OnceflowConfig.DISPATCHER_APP_ID.name(), OnceflowConfig.DISPATCHER_APP_ID.defaultValue(),
                    OnceflowConfig.DISPATCHER_STATE_DIR.name(), dir.resolve("streams").toString()));
            return new BenchInfra() {
                public DataSource dataSource() {
                    return ds;
                }

                public OnceflowConfig config() {
                    return config;
                }

                public String bootstrapServers() {
                    return fleet.bootstrap();
                }

                public int replication() {
                    return brokers;
                }

                public void close() {
                    fleet.stop();
                    try {
                        Runtime.getRuntime().removeShutdownHook(stopAtExit);
                    } catch (IllegalStateException e) {
                        // already exiting: the hook runs (stop is idempotent)
                    }
                }
            };
        } catch (Exception | Error e) {
            fleet.stop();
            throw e;
        }
    }
}
