package dev.onceflow.engine;

import java.sql.SQLException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Removes the history of finished executions and expires retired event keys (ADR 0015): every
 * {@code retention.interval.ms} a pass removes batch after batch, each its own short transaction
 * ({@link RetentionStore}), until a batch comes back short, then expires keys the same way. Any
 * number of engine processes run one each: their batches take disjoint rows. A failed batch (a
 * lock it would have waited for longer than {@link RetentionStore#LOCK_TIMEOUT_MS}, the database
 * gone) is rolled back and the next pass tries again.
 *
 * <p>Owned by {@link Engine}; runs on its own daemon thread with its own connection.
 * {@link #runOnce()} is for that thread and tests, not for concurrent callers.
 */
final class Retention implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Retention.class);

    /** What one pass did: committed work only. */
    record Pass(long executionsRemoved, long keysRetired, long keysExpired, int transactions, SQLException failure) {
        boolean didSomething() {
            return executionsRemoved > 0 || keysExpired > 0;
        }
    }

    private final RetentionSettings settings;
    private final DataSource dataSource;
    private final EngineMetrics metrics;
    private final ScheduledExecutorService timer;
    private volatile boolean stopping;
    private RetentionStore store;

    Retention(RetentionSettings settings, DataSource dataSource, EngineMetrics metrics) {
        this.settings = settings;
        this.dataSource = dataSource;
        this.metrics = metrics;
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "onceflow-retention");
            t.setDaemon(true);
            return t;
        });
    }

    void start() {
        timer.scheduleWithFixedDelay(this::runSafely, settings.intervalMs(), settings.intervalMs(), TimeUnit.MILLISECONDS);
        LOG.info("Retention: finished executions' history kept {}, their event keys {} (the dedupe horizon), "
                + "batches of {}, every {}", RetentionSettings.human(settings.historyMs()), RetentionSettings.human(settings.horizonMs()),
                settings.batchSize(), RetentionSettings.human(settings.intervalMs()));
    }

    private void runSafely() {
        try {
            runOnce();
        } catch (Throwable e) {
            LOG.warn("Retention pass failed (the next pass tries again): {}", Failures.describe(e));
        }
    }

    /** One pass: removal batches until one comes back short, then expiry batches the same way. */
    Pass runOnce() {
        long began = System.nanoTime();
        long removed = 0;
        long retired = 0;
        long expired = 0;
        int transactions = 0;
        SQLException failure = null;
        try {
            RetentionStore s = store();
            RetentionStore.Removed batch;
            do {
                batch = s.removeFinished(settings.historyMs(), settings.horizonMs(), settings.batchSize());
                s.commit();
                transactions++;
                removed += batch.executions();
                retired += batch.keysRetired();
                metrics.executionsRemoved.add(batch.executions());
                metrics.eventKeysRetired.add(batch.keysRetired());
            } while (batch.executions() == settings.batchSize() && !stopping);
            int n;
            do {
                n = s.expireKeys(settings.horizonMs(), settings.batchSize());
                s.commit();
                transactions++;
                expired += n;
                metrics.eventKeysExpired.add(n);
            } while (n == settings.batchSize() && !stopping);
            do {
                n = s.expireLimits(settings.batchSize());
                s.commit();
                transactions++;
            } while (n == settings.batchSize() && !stopping);
        } catch (SQLException e) {
            failure = e;
            discardStore();
        }
        Pass pass = new Pass(removed, retired, expired, transactions, failure);
        log(pass, (System.nanoTime() - began) / 1_000_000);
        return pass;
    }

    private void log(Pass pass, long ms) {
        if (pass.didSomething()) {
            LOG.info("Retention removed {} finished executions with their history (finished more than {} ago), retired {} event keys, "
                    + "expired {} retired keys (finished more than {} ago); {} transactions in {} ms", pass.executionsRemoved(),
                    RetentionSettings.human(settings.historyMs()), pass.keysRetired(), pass.keysExpired(),
                    RetentionSettings.human(settings.horizonMs()), pass.transactions(), ms);
        }
        if (pass.failure() != null) {
            boolean gaveWay = "55P03".equals(pass.failure().getSQLState());
            String what = gaveWay ? "gave way to a lock held longer than " + RetentionStore.LOCK_TIMEOUT_MS + " ms"
                    : "failed: " + Failures.describe(pass.failure());
            if (gaveWay) {
                LOG.info("Retention {} (the batch was rolled back; the next pass in {} tries again)", what,
                        RetentionSettings.human(settings.intervalMs()));
            } else {
                LOG.warn("Retention {} (the batch was rolled back; the next pass in {} tries again)", what,
                        RetentionSettings.human(settings.intervalMs()));
            }
        }
    }

    private RetentionStore store() throws SQLException {
        if (store == null) {
            store = new RetentionStore(dataSource.getConnection());
        }
        return store;
    }

    /** Rolls back and drops the connection: after a failure it may be broken; the next pass opens a new one. */
    private void discardStore() {
        if (store != null) {
            store.rollbackQuietly();
            store.close();
            store = null;
        }
    }

    @Override
    public void close() {
        stopping = true;
        timer.shutdownNow();
        try {
            if (timer.awaitTermination(RetentionStore.STATEMENT_TIMEOUT_MS, TimeUnit.MILLISECONDS)) {
                discardStore(); // its thread is done with it
            } else {
                LOG.warn("Retention did not stop within {} ms; its connection closes with the process",
                        RetentionStore.STATEMENT_TIMEOUT_MS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
