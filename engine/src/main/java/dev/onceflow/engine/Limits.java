package dev.onceflow.engine;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * The state of the limits beyond a lane's order (ADR 0022), in PostgreSQL so that the fleet shares
 * it: rate limit buckets and debounce {@code keep: "first"} windows. Times are PostgreSQL's clock
 * ({@code clock_timestamp()}), like the timers that end a throttled execution's wait, so engines
 * whose clocks disagree still share one bucket. Called by {@link ExecutionStore} inside its
 * transaction, under the lanes' locks; a bucket row is locked by the transaction that reads it
 * until it ends. Not thread-safe: one per connection.
 */
final class Limits {

    /** A lane's kept execution under {@code keep: "first"}: later events until {@code untilMicros} are superseded by it. */
    record Window(String keptEventKey, long untilMicros) {
    }

    private final Connection connection;
    private final PreparedStatement clock;
    private final PreparedStatement lockBuckets;
    private final PreparedStatement saveBuckets;
    private final PreparedStatement windows;
    private final PreparedStatement saveWindows;

    Limits(Connection connection) throws SQLException {
        this.connection = connection;
        clock = connection.prepareStatement("SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint");
        // Inserted full (a tat long past) when missing; the no-op update locks an existing row and
        // returns it. Sorted, so two transactions lock shared buckets in the same order.
        lockBuckets = connection.prepareStatement("INSERT INTO rate_buckets (bucket, tat) "
                + "SELECT b, timestamptz 'epoch' FROM unnest(?::text[]) AS u(b) ORDER BY 1 "
                + "ON CONFLICT (bucket) DO UPDATE SET bucket = EXCLUDED.bucket "
                + "RETURNING bucket, (extract(epoch FROM tat) * 1000000)::bigint");
        saveBuckets = connection.prepareStatement("UPDATE rate_buckets r SET tat = timestamptz 'epoch' + u.t * interval '1 microsecond', "
                + "updated_at = now() FROM unnest(?::text[], ?::bigint[]) AS u(b, t) WHERE r.bucket = u.b");
        windows = connection.prepareStatement("SELECT ordering_key, event_key, (extract(epoch FROM until) * 1000000)::bigint "
                + "FROM debounce_windows WHERE ordering_key = ANY(?)");
        saveWindows = connection.prepareStatement("INSERT INTO debounce_windows (ordering_key, execution_id, event_key, until) "
                + "SELECT k, i, e, timestamptz 'epoch' + t * interval '1 microsecond' "
                + "FROM unnest(?::text[], ?::bigint[], ?::text[], ?::bigint[]) AS u(k, i, e, t) "
                + "ON CONFLICT (ordering_key) DO UPDATE SET execution_id = EXCLUDED.execution_id, event_key = EXCLUDED.event_key, "
                + "until = EXCLUDED.until");
    }

    /** PostgreSQL's clock now, in epoch microseconds. */
    long nowMicros() throws SQLException {
        try (ResultSet rs = clock.executeQuery()) {
            rs.next();
            return rs.getLong(1);
        }
    }

    /** Locks these buckets until the transaction ends (creating missing ones full) and returns their tat, epoch µs. */
    Map<String, Long> lockBuckets(Collection<String> buckets) throws SQLException {
        Map<String, Long> tats = new HashMap<>();
        if (buckets.isEmpty()) {
            return tats;
        }
        lockBuckets.setArray(1, connection.createArrayOf("text", new TreeSet<>(buckets).toArray(new String[0])));
        try (ResultSet rs = lockBuckets.executeQuery()) {
            while (rs.next()) {
                tats.put(rs.getString(1), rs.getLong(2));
            }
        }
        return tats;
    }

    void saveBuckets(Map<String, Long> tats) throws SQLException {
        if (tats.isEmpty()) {
            return;
        }
        saveBuckets.setArray(1, connection.createArrayOf("text", tats.keySet().toArray(new String[0])));
        saveBuckets.setArray(2, connection.createArrayOf("int8", tats.values().toArray(new Long[0])));
        saveBuckets.executeUpdate();
    }

    /** The {@code keep: "first"} windows of these lanes, open or not. The lanes must be locked. */
    Map<String, Window> windows(Collection<String> orderingKeys) throws SQLException {
        Map<String, Window> found = new HashMap<>();
        if (orderingKeys.isEmpty()) {
            return found;
        }
        windows.setArray(1, connection.createArrayOf("text", orderingKeys.toArray(new String[0])));
        try (ResultSet rs = windows.executeQuery()) {
            while (rs.next()) {
                found.put(rs.getString(1), new Window(rs.getString(2), rs.getLong(3)));
            }
        }
        return found;
    }

    /** Opens a window per lane: the executions kept, until epoch µs. */
    void saveWindows(List<String> orderingKeys, List<Long> ids, List<String> eventKeys, List<Long> untilMicros) throws SQLException {
        if (orderingKeys.isEmpty()) {
            return;
        }
        saveWindows.setArray(1, connection.createArrayOf("text", orderingKeys.toArray(new String[0])));
        saveWindows.setArray(2, connection.createArrayOf("int8", ids.toArray(new Long[0])));
        saveWindows.setArray(3, connection.createArrayOf("text", eventKeys.toArray(new String[0])));
        saveWindows.setArray(4, connection.createArrayOf("int8", untilMicros.toArray(new Long[0])));
        saveWindows.executeUpdate();
    }

    /**
     * One start from a bucket, by the generic cell rate algorithm as a scheduler: the start may
     * happen at the returned time (epoch µs, never before {@code nowMicros}), and {@code tat[0]},
     * the bucket's theoretical arrival time, moves one emission interval on. With rate R and burst
     * B, after a quiet spell B starts may happen at once and then one per 1/R s, so no window of
     * one second holds more than R + B starts. Starts are handed out in call order, each no
     * earlier than the one before. Pure.
     */
    static long reserve(long[] tat, long nowMicros, double perSecond, int burst) {
        long interval = Math.max(1, Math.round(1_000_000 / perSecond));
        long tolerance = (long) (burst - 1) * interval;
        long theoretical = Math.max(tat[0], nowMicros);
        long start = Math.max(nowMicros, theoretical - tolerance);
        tat[0] = theoretical + interval;
        return start;
    }
}
