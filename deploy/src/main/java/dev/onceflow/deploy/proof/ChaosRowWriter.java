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
 * number of rows, payloads from a few bytes to several kilobytes (large ones are TOASTed) — and
 * after each insert {@value #UPDATES_PER_BURST} updates back to back, each its own transaction,
 * that raise one row's {@code version} by 1 (half the time a row of that insert, so one row often
 * changes several times within milliseconds: the changes whose order the table workflow must keep).
 *
 * <p>A row's {@code version} counts its committed updates, so the table alone says which changes
 * committed: the insert (version 0) and versions 1 to its final version. The writer records the
 * {@code (id, version)} of every update whose COMMIT returned ({@link #updatesAcknowledged()}).
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
    static final int UPDATES_PER_BURST = 3;

    private final DataSource ds;
    private final String slot;
    private final int rowsPerSecond;
    private final Random random;
    private final Thread thread;
    private final Set<Long> acknowledged = ConcurrentHashMap.newKeySet();
    private final Set<Long> inDoubt = ConcurrentHashMap.newKeySet();
    /** Committed updates as {@code id:version}. */
    private final Set<String> updatesAcknowledged = ConcurrentHashMap.newKeySet();
    /** Ids known committed, to pick rows to update from (written by the writer thread only). */
    private final List<Long> updatable = new ArrayList<>();
    private volatile long updatesInDoubt;
    private volatile long updatesFailed;
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
                + "version integer NOT NULL DEFAULT 0, created_at timestamptz NOT NULL DEFAULT now())";
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

    /** {@code id:version} of each update whose COMMIT returned. */
    Set<String> updatesAcknowledged() {
        return updatesAcknowledged;
    }

    /** Updates whose COMMIT failed: they may or may not have happened (the row's version says). */
    long updatesInDoubt() {
        return updatesInDoubt;
    }

    /** Updates that failed before their COMMIT (or could not connect): they never happened. */
    long updatesFailed() {
        return updatesFailed;
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
            for (int u = 0; u < UPDATES_PER_BURST && !updatable.isEmpty(); u++) {
                // Half the time a row of this insert (if it committed), else any committed row.
                long id = acknowledged.contains(ids.get(0)) && random.nextBoolean()
                        ? ids.get(random.nextInt(ids.size())) : updatable.get(random.nextInt(updatable.size()));
                c = updateOnce(c, id);
            }
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
            updatable.addAll(ids);
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

    /** One update of row {@code id} in its own transaction; returns the connection to use next (null after a failure). */
    private Connection updateOnce(Connection c, long id) {
        boolean committing = false;
        try {
            if (c == null) {
                c = ds.getConnection();
                c.setAutoCommit(false);
            }
            int version;
            try (PreparedStatement ps = c.prepareStatement("UPDATE chaos_rows SET version = version + 1 WHERE id = ? RETURNING version")) {
                ps.setLong(1, id);
                try (ResultSet rs = ps.executeQuery()) {
                    if (!rs.next()) {
                        c.rollback(); // not expected: the row committed and nothing deletes rows
                        lastError = "row " + id + " was not found to update";
                        return c;
                    }
                    version = rs.getInt(1);
                }
            }
            committing = true;
            c.commit();
            updatesAcknowledged.add(id + ":" + version);
            return c;
        } catch (SQLException | RuntimeException e) {
            if (committing) {
                updatesInDoubt++;
            } else {
                updatesFailed++;
            }
            lastError = e.toString();
            closeQuietly(c);
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
