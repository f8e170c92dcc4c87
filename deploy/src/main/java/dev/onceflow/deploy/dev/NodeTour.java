package dev.onceflow.deploy.dev;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.common.Json;
import dev.onceflow.common.Topics;
import dev.onceflow.common.TriggerRecord;
import dev.onceflow.common.local.LocalReceiver;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import javax.sql.DataSource;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * {@code onceflow dev}'s tour of the node types: one trigger record for each {@code nodes-*}
 * example (the http one against a local receiver that counts calls per Idempotency-Key), then
 * one line per execution: its status, how long it took, the nodes it ran. One use, on the
 * calling thread.
 */
final class NodeTour {

    private NodeTour() {
    }

    /** Runs the tour; true when every example execution succeeded and the receiver saw each key once. */
    static boolean run(KafkaProducer<byte[], byte[]> producer, DataSource ds, PrintStream out) throws Exception {
        int[] charges = {0};
        LocalReceiver receiver = LocalReceiver.start((key, calls, path, body) ->
                new LocalReceiver.Answer(201, "{\"charge\": \"ch-" + (++charges[0]) + "\", \"status\": \"captured\"}"));
        try {
            long time = System.currentTimeMillis();
            Map<String, ObjectNode> data = new LinkedHashMap<>();
            data.put("nodes-calculation", Json.MAPPER.createObjectNode().put("gross", 119));
            data.put("nodes-delay", Json.MAPPER.createObjectNode());
            data.put("nodes-http", Json.MAPPER.createObjectNode().put("paymentsUrl", receiver.url())
                    .put("orderId", "ord-42").put("amount", 250).put("currency", "EUR"));
            ObjectNode loop = Json.MAPPER.createObjectNode();
            loop.putArray("lines").add(Json.MAPPER.createObjectNode().put("amount", 5)).add(Json.MAPPER.createObjectNode().put("amount", 7));
            data.put("nodes-loop", loop);
            data.put("nodes-parallel", Json.MAPPER.createObjectNode().put("amount", 80));
            out.println("Node tour: one execution of each nodes-* example");
            for (Map.Entry<String, ObjectNode> e : data.entrySet()) {
                byte[] record = new TriggerRecord(e.getKey(), "tour", Instant.ofEpochMilli(time), e.getValue()).toBytes();
                producer.send(new ProducerRecord<>(Topics.TRIGGERS, e.getKey().getBytes(StandardCharsets.UTF_8), record));
            }
            producer.flush();
            long deadline = System.currentTimeMillis() + 60_000;
            while (finished(ds, data.keySet().toArray(new String[0])) < data.size() && System.currentTimeMillis() < deadline) {
                Thread.sleep(200);
            }
            boolean ok = true;
            for (String workflow : data.keySet()) {
                ok &= print(ds, workflow, out);
            }
            Map<String, Integer> calls = receiver.callsByKey();
            boolean once = receiver.callsWithoutKey() == 0 && receiver.keysCalledMoreThanOnce() == 0;
            out.printf("  %-20s %s%s%n", "http receiver", calls.isEmpty() ? "not called" : "calls per Idempotency-Key " + calls,
                    receiver.callsWithoutKey() == 0 ? "" : ", " + receiver.callsWithoutKey() + " without a key");
            return ok && once && !calls.isEmpty();
        } finally {
            receiver.close();
        }
    }

    private static long finished(DataSource ds, String[] workflows) throws SQLException {
        try (Connection c = ds.getConnection(); PreparedStatement q = c.prepareStatement(
                "SELECT count(*) FROM executions WHERE workflow_id = ANY(?) AND finished_at IS NOT NULL")) {
            q.setArray(1, c.createArrayOf("text", workflows));
            try (ResultSet rs = q.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    private static boolean print(DataSource ds, String workflow, PrintStream out) throws SQLException {
        try (Connection c = ds.getConnection(); PreparedStatement q = c.prepareStatement("""
                SELECT e.status, coalesce(e.error, ''), extract(epoch FROM coalesce(e.finished_at, now()) - e.created_at),
                       (SELECT string_agg(p.node_id || CASE WHEN p.path <> '' THEN '[' || p.path || ']' ELSE '' END, ' → '
                               ORDER BY p.started_at, p.ctid) FROM processed_keys p WHERE p.execution_id = e.id)
                  FROM executions e WHERE e.workflow_id = ? ORDER BY e.created_at DESC LIMIT 1""")) {
            q.setString(1, workflow);
            try (ResultSet rs = q.executeQuery()) {
                if (!rs.next()) {
                    out.printf("  %-20s no execution%n", workflow);
                    return false;
                }
                out.printf("  %-20s %s in %.1f s: %s%s%n", workflow, rs.getString(1), rs.getDouble(3), rs.getString(4),
                        rs.getString(2).isEmpty() ? "" : " (" + rs.getString(2) + ")");
                return "succeeded".equals(rs.getString(1));
            }
        }
    }
}
