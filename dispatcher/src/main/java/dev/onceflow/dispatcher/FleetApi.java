package dev.onceflow.dispatcher;

import dev.onceflow.common.Topics;
import dev.onceflow.common.http.RoleServer;
import io.javalin.http.Context;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import javax.sql.DataSource;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;

/**
 * {@code GET /api/fleet}: the engines (members of the engine group, their partitions and each
 * partition's consumer lag), the dispatcher replicas (members of the Streams application's
 * group), and the row-change capture: this replica's view of it, and the replication slot's
 * retained WAL in bytes. The lag counts records waiting, not offsets ({@link RecordLag}): 0 when
 * nothing waits. Asks the broker and PostgreSQL on every call (bounded: 10 s per answer, 3 s of
 * reading to count the lag).
 */
final class FleetApi {

    private final String bootstrap;
    private final String engineGroup;
    private final String dispatcherGroup;
    private final DataSource db;
    private final String slot;
    private final Supplier<CaptureStatus> capture;

    FleetApi(String bootstrap, String engineGroup, String dispatcherGroup, DataSource db, String slot, Supplier<CaptureStatus> capture) {
        this.bootstrap = bootstrap;
        this.engineGroup = engineGroup;
        this.dispatcherGroup = dispatcherGroup;
        this.db = db;
        this.slot = slot;
        this.capture = capture;
    }

    void show(Context ctx) throws Exception {
        Map<String, Object> body = new LinkedHashMap<>();
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
                AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 5000, AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 10000))) {
            body.put("engines", group(admin, bootstrap, engineGroup, List.of(Topics.EVENTS, Topics.TASKS)));
            body.put("dispatchers", group(admin, bootstrap, dispatcherGroup, null));
        }
        Map<String, Object> cap = new LinkedHashMap<>();
        CaptureStatus s = capture.get();
        cap.put("thisReplica", s);
        cap.put("slot", slot);
        try (Connection c = db.getConnection();
             PreparedStatement q = c.prepareStatement("SELECT active, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint "
                     + "FROM pg_replication_slots WHERE slot_name = ?")) {
            q.setString(1, slot);
            try (ResultSet rs = q.executeQuery()) {
                if (rs.next()) {
                    cap.put("slotActive", rs.getBoolean(1));
                    cap.put("slotRetainedWalBytes", rs.getLong(2));
                } else {
                    cap.put("slotActive", null);
                    cap.put("slotRetainedWalBytes", null);
                }
            }
        }
        body.put("capture", cap);
        RoleServer.json(ctx, 200, body);
    }

    /** How long one call reads records to count the lag ({@link RecordLag}); beyond it, the rest is estimated from offsets. */
    static final java.time.Duration LAG_BUDGET = java.time.Duration.ofSeconds(3);

    private static Map<String, Object> group(Admin admin, String bootstrap, String group, List<String> lagTopics) throws Exception {
        ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).all().get(10, TimeUnit.SECONDS).get(group);
        Map<String, Object> g = new LinkedHashMap<>();
        g.put("group", group);
        g.put("state", d.groupState().toString());
        List<Map<String, Object>> members = new ArrayList<>();
        for (MemberDescription m : d.members()) {
            Map<String, Object> mm = new LinkedHashMap<>();
            mm.put("clientId", m.clientId());
            mm.put("host", m.host());
            mm.put("partitions", m.assignment().topicPartitions().stream().map(TopicPartition::toString).sorted().toList());
            members.add(mm);
        }
        members.sort(java.util.Comparator.comparing(m -> (String) m.get("clientId")));
        g.put("members", members);
        if (lagTopics != null) {
            Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata()
                    .get(10, TimeUnit.SECONDS);
            List<TopicPartition> partitions = new ArrayList<>();
            for (var e : admin.describeTopics(lagTopics).allTopicNames().get(10, TimeUnit.SECONDS).entrySet()) {
                e.getValue().partitions().forEach(p -> partitions.add(new TopicPartition(e.getKey(), p.partition())));
            }
            // Records, not offsets: a transaction's commit marker takes an offset too (RecordLag says why).
            RecordLag.Lag lag = RecordLag.of(bootstrap, partitions, committed, LAG_BUDGET);
            g.put("lag", lag.records());
            g.put("totalLag", lag.total());
            g.put("lagExact", lag.exact());
        }
        return g;
    }
}
