package dev.onceflow.engine;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Clock;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The PostgreSQL side of one engine worker: one connection, the {@link ExecutionStore} on it and
 * the {@link BatchPipeline} over that store. Opened on first use and again after the connection
 * was lost, without touching the worker's Kafka clients: the consumer keeps its partitions while
 * a new connection is opened. Used by the worker's thread only.
 */
final class WorkerDatabase implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(WorkerDatabase.class);

    private final String worker;
    private final DataSource dataSource;
    private final EngineSettings settings;
    private final WorkflowCache workflows;
    private final NodeRunner runner;
    private final Clock clock;
    private final PoisonAttempts poison;
    private ExecutionStore store;
    private BatchPipeline pipeline;

    WorkerDatabase(String worker, DataSource dataSource, EngineSettings settings, WorkflowCache workflows, NodeRunner runner,
                   Clock clock) {
        this.worker = worker;
        this.dataSource = dataSource;
        this.settings = settings;
        this.workflows = workflows;
        this.runner = runner;
        this.clock = clock;
        this.poison = new PoisonAttempts(settings.poisonMaxAttempts());
    }

    /** The store, on a connection opened now if there is none. */
    ExecutionStore store() throws SQLException {
        if (store == null) {
            store = openStore();
            pipeline = new BatchPipeline(store, workflows, runner, clock, policy(), poison);
        }
        return store;
    }

    /**
     * A long-statement slot's own connection and transaction step ({@link LongStatements}). Called
     * from the slots' threads: it reads only what this object was built with.
     */
    RunLongStatement openLongStatement() throws SQLException {
        ExecutionStore own = openStore();
        return new RunLongStatement(own, new ApplyOutcome(own, workflows, policy(), clock, runner), runner, policy());
    }

    private ClaimPolicy policy() {
        return settings.unsafe() ? ClaimPolicy.UNSAFE : ClaimPolicy.ONCE;
    }

    private ExecutionStore openStore() throws SQLException {
        Connection connection = dataSource.getConnection();
        try {
            try (java.sql.Statement st = connection.createStatement()) {
                // A frozen or partitioned zombie must not hold its uncommitted claims (row locks)
                // for longer than this: PostgreSQL ends its session and the new owner of the
                // partition proceeds (ADR 0009). Statements themselves are not affected.
                st.execute("SET idle_in_transaction_session_timeout = " + settings.idleInTransactionTimeoutMs());
            }
            return new ExecutionStore(connection);
        } catch (SQLException | RuntimeException e) {
            connection.close();
            throw e;
        }
    }

    /** The pipeline over {@link #store()}. */
    BatchPipeline pipeline() throws SQLException {
        store();
        return pipeline;
    }

    void rollBack() {
        if (store != null) {
            store.rollbackQuietly();
        }
    }

    /** After a failure: a lost connection is given up, and the next unit of work opens a new one. */
    void dropIfBroken() {
        if (store != null && broken()) {
            LOG.warn("Engine worker {}: database connection lost; opening a new one for the next unit of work", worker);
            close();
        }
    }

    private boolean broken() {
        try {
            return store.connection().isClosed() || !store.connection().isValid(2);
        } catch (SQLException e) {
            return true;
        }
    }

    @Override
    public void close() {
        if (store != null) {
            store.rollbackQuietly();
            store.close();
            store = null;
            pipeline = null;
        }
    }
}
