import java.util.*;
import java.util.concurrent.*;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;

public class Probe {
    public static void main(String[] a) throws Exception {
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", a[0]))) {
            for (String g : a[1].split(",")) {
                var plain = admin.listConsumerGroupOffsets(g).partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS);
                System.out.println(g + " plain " + new TreeMap<>(str(plain)));
                long t0 = System.nanoTime();
                try {
                    var st = admin.listConsumerGroupOffsets(g, new ListConsumerGroupOffsetsOptions().requireStable(true).timeoutMs(Integer.parseInt(a.length > 2 ? a[2] : "20000")))
                        .partitionsToOffsetAndMetadata().get();
                    System.out.println(g + " stable in " + (System.nanoTime() - t0) / 1_000_000 + " ms " + new TreeMap<>(str(st)));
                } catch (Exception e) {
                    System.out.println(g + " stable FAILED after " + (System.nanoTime() - t0) / 1_000_000 + " ms: " + e);
                }
            }
        }
    }
    static Map<String, Long> str(Map<TopicPartition, OffsetAndMetadata> m) {
        Map<String, Long> o = new HashMap<>();
        m.forEach((k, v) -> o.put(k.toString(), v == null ? null : v.offset()));
        return o;
    }
}
