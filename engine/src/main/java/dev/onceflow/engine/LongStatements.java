package dev.onceflow.engine;

import java.sql.SQLException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Runs a node's statement so that a long one does not cost the worker its partitions (design,
 * "Long SQL"): the statement runs on a helper thread, on the worker's own connection and inside
 * the batch's transaction (the worker thread only waits, so the connection is never used by two
 * threads at once); once it has run longer than {@link #KEEP_ALIVE_AFTER_MS}, the worker thread
 * pauses its partitions and keeps polling ({@link KeepAlive}), so the group sees a live member and
 * no rebalance happens however long the statement runs (up to its own timeout). Other workers'
 * partitions keep flowing. One per worker; not thread-safe.
 */
final class LongStatements implements AutoCloseable {

    /** What the worker does while a statement runs long: pause and poll. No-op outside an engine loop. */
    interface KeepAlive {
        /** Called about every 100 ms while the statement runs. */
        void tick();

        /** Called once when the statement has finished, if {@link #tick} was called. */
        void done();

        KeepAlive NONE = new KeepAlive() {
            @Override
            public void tick() {
            }

            @Override
            public void done() {
            }
        };
    }

    /** A statement that runs past this starts the keep-alive. */
    static final long KEEP_ALIVE_AFTER_MS = 1_000;

    interface Statement<T> {
        T run() throws SQLException;
    }

    private final ExecutorService thread = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "onceflow-statement");
        t.setDaemon(true);
        return t;
    });
    private KeepAlive keepAlive = KeepAlive.NONE;

    void keepAlive(KeepAlive keepAlive) {
        this.keepAlive = keepAlive;
    }

    <T> T run(Statement<T> statement) throws SQLException {
        Future<T> result = thread.submit(statement::run);
        boolean kept = false;
        try {
            long waitMs = KEEP_ALIVE_AFTER_MS;
            while (true) {
                try {
                    return result.get(waitMs, TimeUnit.MILLISECONDS);
                } catch (TimeoutException stillRunning) {
                    kept = true;
                    keepAlive.tick();
                    waitMs = 100;
                }
            }
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof SQLException sql) {
                throw sql;
            }
            if (cause instanceof RuntimeException re) {
                throw re;
            }
            if (cause instanceof Error err) {
                throw err;
            }
            throw new IllegalStateException(cause);
        } catch (InterruptedException e) {
            // The worker is stopping: the statement is cancelled with the connection's rollback.
            Thread.currentThread().interrupt();
            result.cancel(true);
            throw new SQLException("interrupted while a node's statement ran", "57014", e);
        } finally {
            if (kept) {
                keepAlive.done();
            }
        }
    }

    @Override
    public void close() {
        thread.shutdownNow();
    }
}
