package dev.onceflow.deploy.dev;

import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;
import javax.sql.DataSource;

/**
 * The demo's row changes on {@value #TABLE}, which {@code deploy/examples/demo-order-status.json}
 * watches (inserts, and updates that change {@code status}, except rows of channel {@code test}).
 * It makes, one transaction at a time with a short pause between them, changes that must fire
 * and changes that must not, and records which ones must, so the summary can tell a lost change
 * from one that ran twice:
 * <ul>
 *   <li>fires: every insert (the first rows in one multi-row transaction: same txId and commit
 *       time, so only the lsn and the primary key tell their event keys apart); an update of
 *       {@code status}; two status updates of one row in one transaction;</li>
 *   <li>does not fire: an update of {@code note} only; {@code status} set to its own value; a
 *       delete; any change of a {@code test} row (the trigger's condition).</li>
 * </ul>
 * Row {@code id}s start at 1 ({@code onceflow dev} starts from an empty database). Not
 * thread-safe except for the counters, which the progress line reads.
 */
final class DemoRowChanges {

    static final String TABLE = "demo_shop_orders";

    /** A change the table workflow must start exactly one execution for: its op, the row's id and new status. */
    record Expected(String op, long id, String status) {
    }

    private final DataSource ds;
    private final int rows;
    private final long pauseMillis;
    private final Random random;
    private final List<Expected> expected = new ArrayList<>();
    private final AtomicLong made = new AtomicLong();
    private long inserts;
    private long updates;
    private long deletes;
    private long shipped;
    private long uncommitted;

    DemoRowChanges(DataSource ds, int rows, long pauseMillis, long seed) {
        if (rows < 1) {
            throw new IllegalArgumentException("rows must be at least 1, got " + rows);
        }
        this.ds = ds;
        this.rows = rows;
        this.pauseMillis = pauseMillis;
        this.random = new Random(seed);
    }

    /** Rows for a demo of {@code events} published events: one per 100, between 10 and 200. */
    static int rowsFor(int events) {
        return Math.max(10, Math.min(200, events / 100));
    }

    /** Makes every change; returns when the last transaction committed. */
    void run() throws SQLException, InterruptedException {
        int batch = Math.min(5, rows);
        String[] channel = new String[rows + 1];
        BigDecimal[] amount = new BigDecimal[rows + 1];
        for (int id = 1; id <= rows; id++) {
            channel[id] = id % 6 == 0 ? "test" : "web";
            amount[id] = BigDecimal.valueOf(100 + random.nextInt(50_000), 2);
        }
        try (Connection c = ds.getConnection()) {
            c.setAutoCommit(false);
            // Inserts: the first `batch` rows in one transaction, then one row per transaction.
            for (int id = 1; id <= rows; id++) {
                insert(c, id, channel[id], amount[id]);
                if (id >= batch) {
                    commit(c);
                }
            }
            for (int id = 1; id <= rows; id++) {
                if (id % 2 == 0) {
                    setStatus(c, id, channel[id], "paid");
                    commit(c);
                }
                if (id % 3 == 0) {
                    execute(c, "UPDATE " + TABLE + " SET note = 'called the customer', updated_at = now() WHERE id = ?", id);
                    updates++;
                    commit(c);
                }
                if (id % 4 == 0) {
                    execute(c, "UPDATE " + TABLE + " SET status = status, updated_at = now() WHERE id = ?", id);
                    updates++;
                    commit(c);
                }
                if (id % 5 == 0) {
                    setStatus(c, id, channel[id], "packed");
                    setStatus(c, id, channel[id], "shipped");
                    commit(c);
                }
                if (id % 7 == 0) {
                    execute(c, "DELETE FROM " + TABLE + " WHERE id = ?", id);
                    deletes++;
                    commit(c);
                }
            }
        }
    }

    private void insert(Connection c, long id, String channel, BigDecimal amount) throws SQLException {
        try (PreparedStatement s = c.prepareStatement("INSERT INTO " + TABLE + " (id, status, channel, amount) VALUES (?, 'new', ?, ?)")) {
            s.setLong(1, id);
            s.setString(2, channel);
            s.setBigDecimal(3, amount);
            s.executeUpdate();
        }
        inserts++;
        uncommitted++;
        if (!"test".equals(channel)) {
            expected.add(new Expected("insert", id, "new"));
        }
    }

    private void setStatus(Connection c, long id, String channel, String status) throws SQLException {
        try (PreparedStatement s = c.prepareStatement("UPDATE " + TABLE + " SET status = ?, updated_at = now() WHERE id = ?")) {
            s.setString(1, status);
            s.setLong(2, id);
            s.executeUpdate();
        }
        updates++;
        uncommitted++;
        if (!"test".equals(channel)) {
            expected.add(new Expected("update", id, status));
            if (status.equals("shipped")) {
                shipped++;
            }
        }
    }

    /** A statement on one row that the workflow must not fire for. */
    private void execute(Connection c, String sql, long id) throws SQLException {
        try (PreparedStatement s = c.prepareStatement(sql)) {
            s.setLong(1, id);
            s.executeUpdate();
        }
        uncommitted++;
    }

    private void commit(Connection c) throws SQLException, InterruptedException {
        c.commit();
        made.addAndGet(uncommitted);
        uncommitted = 0;
        Thread.sleep(pauseMillis);
    }

    /** Row changes committed so far (read by the progress line). */
    long made() {
        return made.get();
    }

    /** The changes that must start one execution each, in the order they were made. Call after {@link #run()}. */
    List<Expected> expected() {
        return List.copyOf(expected);
    }

    long inserts() {
        return inserts;
    }

    long updates() {
        return updates;
    }

    long deletes() {
        return deletes;
    }

    /** Expected executions that reach the {@code notify} node (status {@code shipped}): one extra effect each. */
    long shipped() {
        return shipped;
    }
}
