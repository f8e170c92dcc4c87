package dev.onceflow.common.metrics;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One process's cumulative counts of duplicates absorbed, by layer, written to
 * {@code absorbed_duplicates} every {@link #EVERY} so that a dispatcher can chart them for the
 * console (ADR 0017): an engine process reports {@code execution_key} and {@code processed_key}, a
 * dispatcher {@code dispatcher}. Writes on its own daemon thread, never inside an engine batch's
 * transaction; a failed write is logged and the next tick writes the then-current counts. The row's
 * process name carries the start time, so a restarted process adds rows instead of lowering a
 * counter. Owned by the role that started it, which closes it.
 */
public final class AbsorbedDuplicatesReport implements AutoCloseable {

    public static final Duration EVERY = Duration.ofSeconds(5);
    /** Rows not updated for this long belong to a process that is gone: {@link #sums} folds them. */
    public static final Duration GONE_AFTER = Duration.ofHours(1);
    public static final List<String> LAYERS = List.of(MeterNames.LAYER_DISPATCHER, MeterNames.LAYER_EXECUTION_KEY,
            MeterNames.LAYER_PROCESSED_KEY);

    private static final Logger LOG = LoggerFactory.getLogger(AbsorbedDuplicatesReport.class);

    private final DataSource db;
    private final String process;
    private final Supplier<Map<String, Long>> counts;
    private final ScheduledExecutorService timer;
    private boolean warned;

    /**
     * @param process a name of the process (an engine's name, a dispatcher's host and pid); the
     *                start time is appended
     * @param counts  the cumulative counts by layer ({@link #LAYERS}), read on the timer thread
     */
    public AbsorbedDuplicatesReport(DataSource db, String process, Supplier<Map<String, Long>> counts) {
        this.db = db;
        this.process = process + "@" + System.currentTimeMillis();
        this.counts = counts;
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "onceflow-duplicates-report");
            t.setDaemon(true);
            return t;
        });
    }

    public AbsorbedDuplicatesReport start() {
        timer.scheduleWithFixedDelay(this::writeSafely, EVERY.toMillis(), EVERY.toMillis(), TimeUnit.MILLISECONDS);
        return this;
    }

    private void writeSafely() {
        try {
            write();
            warned = false;
        } catch (SQLException | RuntimeException e) {
            if (!warned) { // once per outage, not every 5 s
                LOG.warn("Cannot write this process's absorbed-duplicate counts for the console's figures (tried again every {} s): {}",
                        EVERY.toSeconds(), e.getMessage());
                warned = true;
            }
        }
    }

    /**
     * Upserts the non-zero counters. A row is written on every tick even when unchanged, so that
     * {@code updated_at} tells a live process from a gone one.
     */
    void write() throws SQLException {
        Map<String, Long> now = counts.get();
        try (Connection c = db.getConnection(); PreparedStatement u = c.prepareStatement(
                "INSERT INTO absorbed_duplicates (process, layer, absorbed, updated_at) VALUES (?, ?, ?, now()) "
                        + "ON CONFLICT (process, layer) DO UPDATE SET absorbed = greatest(absorbed_duplicates.absorbed, EXCLUDED.absorbed), "
                        + "updated_at = now()")) {
            c.setAutoCommit(true);
            int rows = 0;
            for (Map.Entry<String, Long> e : now.entrySet()) {
                if (e.getValue() > 0) {
                    u.setString(1, process);
                    u.setString(2, e.getKey());
                    u.setLong(3, e.getValue());
                    u.addBatch();
                    rows++;
                }
            }
            if (rows > 0) {
                u.executeBatch();
            }
        }
    }

    /**
     * The fleet's counts by layer (every layer present, 0 when none): first folds the rows of
     * processes gone for {@link #GONE_AFTER} into the row of process {@code retired}, in one
     * statement (the deleted rows are locked, so two dispatchers folding at once count each row
     * once), then sums.
     */
    public static Map<String, Long> sums(DataSource db) throws SQLException {
        Map<String, Long> sums = new LinkedHashMap<>();
        LAYERS.forEach(l -> sums.put(l, 0L));
        try (Connection c = db.getConnection()) {
            c.setAutoCommit(true);
            try (PreparedStatement fold = c.prepareStatement("WITH gone AS (DELETE FROM absorbed_duplicates "
                    + "WHERE updated_at < now() - make_interval(secs => ?) AND process <> 'retired' RETURNING layer, absorbed) "
                    + "INSERT INTO absorbed_duplicates (process, layer, absorbed, updated_at) "
                    + "SELECT 'retired', layer, sum(absorbed), now() FROM gone GROUP BY layer "
                    + "ON CONFLICT (process, layer) DO UPDATE SET absorbed = absorbed_duplicates.absorbed + EXCLUDED.absorbed, "
                    + "updated_at = now()")) {
                fold.setLong(1, GONE_AFTER.toSeconds());
                fold.executeUpdate();
            }
            try (PreparedStatement q = c.prepareStatement("SELECT layer, sum(absorbed)::bigint FROM absorbed_duplicates GROUP BY layer");
                 ResultSet rs = q.executeQuery()) {
                while (rs.next()) {
                    sums.put(rs.getString(1), rs.getLong(2));
                }
            }
        }
        return sums;
    }

    /**
     * Stops the timer. No last write: a role closing while PostgreSQL is away would wait on it,
     * and the figures may lose the last {@link #EVERY} of a process's counts (ADR 0017).
     */
    @Override
    public void close() {
        timer.shutdownNow();
    }
}
