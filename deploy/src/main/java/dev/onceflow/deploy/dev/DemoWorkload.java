package dev.onceflow.deploy.dev;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.common.EventEnvelope;
import dev.onceflow.common.Json;
import dev.onceflow.common.Topics;
import dev.onceflow.common.TriggerRecord;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * The demo's duplicated traffic: {@code events} distinct orders, each delivered three times in a
 * shuffled order, as a fleet with retrying publishers and several dispatcher replicas would:
 * <ol>
 *   <li>publisher A sends the trigger record to {@value Topics#TRIGGERS};</li>
 *   <li>publisher B (a retry) sends the same record again, with the same id;</li>
 *   <li>a dispatcher replica that has lost its dedupe state writes the resolved event straight to
 *       {@value Topics#EVENTS}, past the dispatcher's filter, so the engine's unique event key must
 *       absorb it.</li>
 * </ol>
 * Not thread-safe; one per run.
 */
final class DemoWorkload {

    static final int COPIES = 3;

    private final String workflow;
    private final int version;
    private final int events;
    private final String runId;
    private final Random random;
    private final AtomicLong published = new AtomicLong();
    private final Set<String> keys = new LinkedHashSet<>();
    private final Set<String> acked = java.util.concurrent.ConcurrentHashMap.newKeySet();

    DemoWorkload(String workflow, int version, int events, long seed) {
        this.workflow = workflow;
        this.version = version;
        this.events = events;
        this.random = new Random(seed);
        this.runId = Long.toString(Math.abs(seed), 36);
    }

    /** Publishes every copy; blocks until all are acknowledged. An interrupt stops publishing. */
    void publish(KafkaProducer<byte[], byte[]> publisherA, KafkaProducer<byte[], byte[]> publisherB) {
        long baseTime = System.currentTimeMillis();
        List<int[]> sends = new ArrayList<>(events * COPIES);
        for (int i = 0; i < events; i++) {
            for (int c = 0; c < COPIES; c++) {
                sends.add(new int[] {i, c});
            }
        }
        Collections.shuffle(sends, random);
        int[] amounts = new int[events];
        for (int i = 0; i < events; i++) {
            amounts[i] = 1 + random.nextInt(200);
        }
        List<java.util.concurrent.Future<?>> acks = new ArrayList<>();
        for (int[] send : sends) {
            if (Thread.currentThread().isInterrupted()) {
                break; // onceflow dev is stopping (Ctrl-C): publish no more
            }
            int i = send[0];
            String id = "order-" + runId + "-" + i;
            Instant time = Instant.ofEpochMilli(baseTime + i);
            ObjectNode data = Json.MAPPER.createObjectNode().put("order", i).put("amount", amounts[i]);
            byte[] key = id.getBytes(StandardCharsets.UTF_8);
            ProducerRecord<byte[], byte[]> record;
            KafkaProducer<byte[], byte[]> producer = publisherA;
            switch (send[1]) {
                case 0:
                    record = new ProducerRecord<>(Topics.TRIGGERS, key, new TriggerRecord(workflow, id, time, data).toBytes());
                    break;
                case 1:
                    producer = publisherB;
                    record = new ProducerRecord<>(Topics.TRIGGERS, key, new TriggerRecord(workflow, id, time, data).toBytes());
                    break;
                default:
                    String eventKey = key(i, baseTime);
                    EventEnvelope event = new EventEnvelope(eventKey, workflow, version, time.toEpochMilli(), data,
                            "demo-replica-without-dedupe-state", System.currentTimeMillis());
                    record = new ProducerRecord<>(Topics.EVENTS, eventKey.getBytes(StandardCharsets.UTF_8), Json.bytes(event));
            }
            String eventKey = key(i, baseTime);
            acks.add(producer.send(record, (md, e) -> {
                if (e == null) {
                    published.incrementAndGet();
                    acked.add(eventKey); // a key counts once Kafka acknowledged at least one copy
                }
            }));
        }
        publisherA.flush();
        publisherB.flush();
        int failed = 0;
        for (java.util.concurrent.Future<?> ack : acks) {
            try {
                ack.get();
            } catch (Exception e) {
                failed++; // not acknowledged: not published, so not expected to run
            }
        }
        for (int i = 0; i < events; i++) {
            if (acked.contains(key(i, baseTime))) {
                keys.add(key(i, baseTime));
            }
        }
        if (failed > 0) {
            System.err.println("demo: " + failed + " copies were not acknowledged by Kafka and are not counted");
        }
    }

    private String key(int i, long baseTime) {
        return workflow + "@" + (baseTime + i) + "#order-" + runId + "-" + i;
    }

    long published() {
        return published.get();
    }

    /** The distinct event keys published (each {@link #COPIES} times). */
    Set<String> keys() {
        return keys;
    }
}
