package dev.onceflow.dispatcher;

import dev.onceflow.common.Database;
import java.nio.ByteBuffer;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.Map;
import java.util.Set;
import javax.sql.DataSource;
import org.apache.kafka.connect.errors.ConnectException;
import org.apache.kafka.connect.runtime.WorkerConfig;
import org.apache.kafka.connect.storage.MemoryOffsetBackingStore;

/**
 * Debezium's offset store for the row-change capture, in Onceflow's PostgreSQL table
 * {@code rowchange_offsets} (one set of rows per replication slot; in {@code db.schema} when set). Debezium instantiates it by
 * class name and calls {@link #configure}, {@link #start}, then {@code set} from its offset
 * commit; {@link #save()} writes the whole map in one transaction, so a crash leaves either the
 * old or the new position, never half of one.
 *
 * <p>Debezium commits offsets only for records the capture marked processed, and the capture
 * marks a record only after Kafka acknowledged its events: the stored position never runs ahead
 * of what was published. Thread-safety: as {@link MemoryOffsetBackingStore} (its single executor
 * runs every read and write).
 */
public final class PostgresOffsetStore extends MemoryOffsetBackingStore {

    static final String URL = "offset.storage.onceflow.url";
    static final String USER = "offset.storage.onceflow.user";
    static final String PASSWORD = "offset.storage.onceflow.password";
    static final String SLOT = "offset.storage.onceflow.slot";
    /** {@code db.schema}: where {@code rowchange_offsets} lives; empty for the connection's default. */
    static final String SCHEMA = "offset.storage.onceflow.schema";

    private DataSource dataSource;
    private String slot;

    public PostgresOffsetStore() {
    }

    @Override
    public void configure(WorkerConfig config) {
        super.configure(config);
        Map<String, String> o = config.originalsStrings();
        String url = o.get(URL);
        slot = o.get(SLOT);
        if (url == null || slot == null) {
            throw new ConnectException("PostgresOffsetStore needs " + URL + " and " + SLOT);
        }
        dataSource = Database.dataSource(url, o.get(USER), o.get(PASSWORD), o.getOrDefault(SCHEMA, ""));
    }

    @Override
    public synchronized void start() {
        super.start();
        try (Connection c = dataSource.getConnection();
             PreparedStatement q = c.prepareStatement("SELECT offset_key, offset_value FROM rowchange_offsets WHERE slot = ?")) {
            q.setString(1, slot);
            try (ResultSet rs = q.executeQuery()) {
                while (rs.next()) {
                    byte[] v = rs.getBytes(2);
                    data.put(ByteBuffer.wrap(rs.getBytes(1)), v == null ? null : ByteBuffer.wrap(v));
                }
            }
        } catch (SQLException e) {
            throw new ConnectException("cannot read the row-change offsets of slot '" + slot + "': " + e.getMessage(), e);
        }
    }

    @Override
    protected void save() {
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(false);
            try (PreparedStatement up = c.prepareStatement("INSERT INTO rowchange_offsets (slot, offset_key, offset_value) "
                    + "VALUES (?, ?, ?) ON CONFLICT (slot, offset_key) DO UPDATE SET offset_value = EXCLUDED.offset_value, "
                    + "updated_at = now()")) {
                for (Map.Entry<ByteBuffer, ByteBuffer> e : data.entrySet()) {
                    up.setString(1, slot);
                    up.setBytes(2, bytes(e.getKey()));
                    up.setBytes(3, e.getValue() == null ? null : bytes(e.getValue()));
                    up.addBatch();
                }
                up.executeBatch();
                c.commit();
            } catch (SQLException e) {
                c.rollback();
                throw e;
            }
        } catch (SQLException e) {
            // Debezium fails the commit and tries again at the next flush; the old position stays.
            throw new ConnectException("cannot store the row-change offsets of slot '" + slot + "': " + e.getMessage(), e);
        }
    }

    private static byte[] bytes(ByteBuffer b) {
        ByteBuffer d = b.duplicate();
        byte[] out = new byte[d.remaining()];
        d.get(out);
        return out;
    }

    @Override
    public Set<Map<String, Object>> connectorPartitions(String connectorName) {
        return Set.of(); // only used by Kafka Connect's REST API, which the embedded engine does not run
    }
}
