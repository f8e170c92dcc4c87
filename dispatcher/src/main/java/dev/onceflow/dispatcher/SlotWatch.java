package dev.onceflow.dispatcher;

import dev.onceflow.common.metrics.MeterNames;
import dev.onceflow.common.metrics.OnceflowMeters;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reports the row-change capture's replication slot from {@code pg_replication_slots} of the
 * watched database: the WAL it holds back ({@code pg_current_wal_lsn() - confirmed_flush_lsn}, in
 * bytes) and whether anyone reads it. A slot that exists while nobody reads it — no table workflow
 * is enabled any more, or no dispatcher can lead the capture — keeps WAL until the disk fills, so
 * it is a warning ({@value MeterNames#CAPTURE_SLOT_INACTIVE}). Every dispatcher replica reports
 * the slot, leader or not. Nothing is shown while the slot does not exist or the database cannot
 * be read.
 *
 * <p>Queries every {@link #EVERY} on its own daemon thread, so a scrape never waits on PostgreSQL.
 * Thread-safe; owned by its {@link Dispatcher}, which closes it.
 */
final class SlotWatch implements AutoCloseable {

    static final Duration EVERY = Duration.ofSeconds(5);

    private static final Logger LOG = LoggerFactory.getLogger(SlotWatch.class);

    /** The slot as last read. */
    record Slot(boolean active, Long lagBytes) {
    }

    private final DataSource watched;
    private final String slot;
    private final ScheduledExecutorService timer;
    private final List<OnceflowMeters.Registration> gauges;
    private volatile Optional<Slot> last = Optional.empty();

    SlotWatch(DataSource watched, String slot, OnceflowMeters meters) {
        this.watched = watched;
        this.slot = slot;
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "onceflow-slot-watch");
            t.setDaemon(true);
            return t;
        });
        List<String> labels = List.of(MeterNames.SLOT);
        this.gauges = List.of(
                meters.gauges(MeterNames.CAPTURE_SLOT_LAG, "WAL the row-change capture's replication slot holds back, in bytes",
                        labels, () -> last.filter(s -> s.lagBytes() != null)
                                .map(s -> Map.of(List.of(slot), s.lagBytes())).orElse(Map.of())),
                meters.gauges(MeterNames.CAPTURE_SLOT_INACTIVE,
                        "1 when the replication slot exists and nobody reads it (its WAL piles up), else 0",
                        labels, () -> last.map(s -> Map.of(List.of(slot), s.active() ? 0 : 1)).orElse(Map.of())));
    }

    void start() {
        timer.scheduleWithFixedDelay(this::refresh, 0, EVERY.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** The slot as last read; empty when it does not exist or could not be read. */
    Optional<Slot> last() {
        return last;
    }

    private void refresh() {
        try {
            last = read();
        } catch (SQLException | RuntimeException e) {
            last = Optional.empty();
            LOG.debug("Cannot read replication slot '{}' (next try in {}): {}", slot, EVERY, e.toString());
        }
    }

    Optional<Slot> read() throws SQLException {
        try (Connection c = watched.getConnection();
             PreparedStatement q = c.prepareStatement("SELECT active, (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() "
                     + "ELSE pg_current_wal_lsn() END) - confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = ?")) {
            q.setQueryTimeout(10);
            q.setString(1, slot);
            try (ResultSet rs = q.executeQuery()) {
                if (!rs.next()) {
                    return Optional.empty();
                }
                java.math.BigDecimal lag = rs.getBigDecimal(2);
                return Optional.of(new Slot(rs.getBoolean(1), lag == null ? null : Math.max(0, lag.longValue())));
            }
        }
    }

    @Override
    public void close() {
        timer.shutdownNow();
        gauges.forEach(OnceflowMeters.Registration::close);
    }
}
