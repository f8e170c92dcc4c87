package dev.onceflow.deploy.proof;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import javax.sql.DataSource;

/**
 * The chaos run's row writer: inserts into {@code chaos_rows}, the table that the {@code table}
 * workflow watches, at a steady rate — a transaction every {@value #PERIOD_MS} ms with a varying
 * number of rows, payloads from a few bytes to several kilobytes (large ones are TOASTed).
 *
 * <p>Ids come from its own counter and are never reused, so every row is accounted for:
 * {@link #acknowledged()} holds the ids of transactions whose COMMIT returned; {@link #inDoubt()}
 * those of transactions whose COMMIT failed (the PostgreSQL restart fault cuts the connection, and
 * then only the table knows whether it committed). Rows of a transaction that failed before its
 * COMMIT (or could not even connect) never committed and are only counted in {@link #failedRows()}. The checker takes the table as
 * the truth of what committed and cross-checks it against these sets.
 *
 * <p>It starts writing only once the replication slot exists and has its consistent point:
 * changes are captured from the slot's creation on, and a row committed earlier would never start
 * an execution although nothing was lost by Onceflow.
 *
 * <p>Owns one thread; {@link #close()} stops it. The sets are safe to read from any thread.
 */
final class ChaosRowWriter implements AutoCloseable {

    static final long PERIOD_MS = 250;

    private final DataSource ds;
    private final String slot;
    private final int rowsPerSecond;
    private final Random random;
    private final Thread thread;
    private final Set<Long> acknowledged = ConcurrentHashMap.newKeySet();
    private final Set<Long> inDoubt = ConcurrentHashMap.newKeySet();
    private volatile long failedRows;
    private volatile long transactions;
    private volatile long captureReadyAt = -1;
    private volatile String lastError;
    private volatile boolean died;
    private volatile boolean running = true;

    ChaosRowWriter(DataSource ds, String slot, int rowsPerSecond, long seed) {
        this.ds = ds;
        this.slot = slot;
        this.rowsPerSecond = rowsPerSecond;
        this.random = new Random(seed);
        this.thread = new Thread(this::loop, "onceflow-chaos-row-writer");
        this.thread.setDaemon(true);
    }

    static String createTable() {
        return "CREATE TABLE IF NOT EXISTS chaos_rows (id bigint PRIMARY KEY, tx bigint NOT NULL, payload text NOT NULL, "
                + "created_at timestamptz NOT NULL DEFAULT now())";
    }

    void start() {
        thread.start();
    }

    Set<Long> acknowledged() {
        return acknowledged;
    }

    Set<Long> inDoubt() {
        return inDoubt;
    }

    long failedRows() {
        return failedRows;
    }

    long transactions() {
        return transactions;
    }

    /** When the slot was found ready and writing began (epoch ms), or -1 if it never was. */
    long captureReadyAt() {
        return captureReadyAt;
    }

    String lastError() {
        return lastError;
    }

    /** Whether the thread ended on an unexpected error instead of {@link #close()}. */
    boolean died() {
        return died;
    }

    private void loop() {
        try {
            write();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException | Error e) {
            // Not expected; recorded so that a writer that stopped early shows in the run's output.
            lastError = "the writer stopped: " + e;
            died = true;
            throw e;
        }
    }

    private void write() throws InterruptedException {
        if (!awaitSlot()) {
            return;
        }
        captureReadyAt = System.currentTimeMillis();
        long nextId = 1;
        long next = System.currentTimeMillis();
        Connection c = null;
        // Average rowsPerSecond: a transaction per period with 1 .. 2·mean−1 rows.
        int mean = Math.max(1, (int) Math.round(rowsPerSecond * PERIOD_MS / 1000.0));
        while (running) {
            int n = 1 + random.nextInt(2 * mean - 1);
            List<Long> ids = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                ids.add(nextId++);
            }
            c = writeOnce(c, ids);
            next += PERIOD_MS;
            Thread.sleep(Math.max(0, next - System.currentTimeMillis()));
        }
        closeQuietly(c);
    }

    /** One transaction; returns the connection to use next (null after a failure: a fresh one is opened). */
    private Connection writeOnce(Connection c, List<Long> ids) {
        boolean committing = false;
        try {
            if (c == null) {
                c = ds.getConnection();
                c.setAutoCommit(false);
            }
            long tx = transactions + 1;
            // One multi-row INSERT rather than a JDBC batch: with assertions on (the test JVM),
            // pgjdbc 42.7.8 turns a connection lost in the middle of executeBatch into an
            // AssertionError instead of an SQLException (pgjdbc issues #1458, #3180), which would
            // end this thread at the PostgreSQL restart fault.
            String values = String.join(", ", java.util.Collections.nCopies(ids.size(), "(?, ?, ?)"));
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO chaos_rows (id, tx, payload) VALUES " + values)) {
                int p = 1;
                for (long id : ids) {
                    ps.setLong(p++, id);
                    ps.setLong(p++, tx);
                    ps.setString(p++, payload());
                }
                ps.executeUpdate();
            }
            committing = true;
            c.commit();
            acknowledged.addAll(ids);
            transactions = tx;
            return c;
        } catch (SQLException | RuntimeException e) {
            if (committing) {
                inDoubt.addAll(ids);
            } else {
                failedRows += ids.size();
            }
            lastError = e.toString();
            closeQuietly(c); // an open transaction is rolled back with its session
            return null;
        }
    }

    /** Mostly short rows, one in five between 2 and 8 KB (stored out of line, TOASTed). */
    private String payload() {
        int length = random.nextInt(5) == 0 ? 2048 + random.nextInt(6144) : 8 + random.nextInt(200);
        StringBuilder sb = new StringBuilder(length);
        for (int i = 0; i < length; i++) {
            sb.append((char) ('a' + random.nextInt(26)));
        }
        return sb.toString();
    }

    private boolean awaitSlot() throws InterruptedException {
        while (running) {
            try (Connection c = ds.getConnection();
                 PreparedStatement q = c.prepareStatement(
                         "SELECT 1 FROM pg_replication_slots WHERE slot_name = ? AND confirmed_flush_lsn IS NOT NULL")) {
                q.setString(1, slot);
                try (ResultSet rs = q.executeQuery()) {
                    if (rs.next()) {
                        return true;
                    }
                }
            } catch (SQLException e) {
                lastError = e.toString(); // PostgreSQL restarting: ask again
            }
            Thread.sleep(200);
        }
        return false;
    }

    private static void closeQuietly(Connection c) {
        if (c != null) {
            try {
                c.close();
            } catch (SQLException e) {
                // the session is gone either way
            }
        }
    }

    /** Stops writing after the current transaction and waits for the thread. */
    @Override
    public void close() throws InterruptedException {
        running = false;
        thread.join(60_000);
    }
}
