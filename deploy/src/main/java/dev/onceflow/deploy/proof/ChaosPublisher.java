package dev.onceflow.deploy.proof;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.common.EventEnvelope;
import dev.onceflow.common.Json;
import dev.onceflow.common.Topics;
import dev.onceflow.common.TriggerRecord;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * The chaos run's publishing workload: trigger records for the {@link ChaosCommand#ORDERS} and
 * {@link ChaosCommand#HEAVY} workflows, each key delivered 1–3 times, drawn from the run's seed.
 * Counts the copies the broker acknowledged and the keys it accepted at least once — the keys
 * that must each have exactly one execution — and the keys in doubt: a copy failed (the broker may
 * have written it and lost only the answer, as at its kill -9) and none was acknowledged. A key in
 * doubt may or may not have an execution; any other execution is of an event nobody published.
 *
 * <p>Owned by {@link ChaosCommand}: {@link #publishLoop()} runs on its own thread until
 * {@link #stop()}; the counts are safe to read from any thread.
 */
final class ChaosPublisher {

    private final String bootstrap;
    private final long seed;
    private final int rate;
    private final long startedAt;
    private final Set<String> accepted = ConcurrentHashMap.newKeySet();
    private final Set<String> failed = ConcurrentHashMap.newKeySet();
    private final AtomicLong published = new AtomicLong();
    private final AtomicBoolean publishing = new AtomicBoolean(true);

    ChaosPublisher(String bootstrap, long seed, int rate, long startedAt) {
        this.bootstrap = bootstrap;
        this.seed = seed;
        this.rate = rate;
        this.startedAt = startedAt;
    }

    /** Keys the broker acknowledged at least once (a live set). */
    Set<String> accepted() {
        return accepted;
    }

    /** Keys of which a copy failed and none was acknowledged (so far): they may or may not have been written. */
    Set<String> inDoubt() {
        Set<String> doubt = new java.util.HashSet<>(failed);
        doubt.removeAll(accepted);
        return doubt;
    }

    /** Copies the broker acknowledged, counting every delivery of a key. */
    long published() {
        return published.get();
    }

    /** Ends {@link #publishLoop()}: it sends what it held back, waits (bounded) for acknowledgements, and returns. */
    void stop() {
        publishing.set(false);
    }

    /**
     * {@code rate} order events per second plus one heavy event every two seconds. Each key is
     * delivered 1–3 times: by publisher A, by publisher B later (a retry, out of order), and
     * sometimes straight to the events topic (a dispatcher replica without dedupe state).
     */
    void publishLoop() {
        Random r = new Random(seed * 31 + 7);
        try (KafkaProducer<byte[], byte[]> a = producer("a"); KafkaProducer<byte[], byte[]> b = producer("b")) {
            List<Held> delayed = new ArrayList<>();
            long i = 0;
            long tick = System.currentTimeMillis();
            while (publishing.get()) {
                for (int k = 0; k < Math.max(1, rate / 10); k++, i++) {
                    publishOne(i, a, r, delayed);
                }
                // Flush some delayed copies, shuffled: they arrive out of order and late.
                Collections.shuffle(delayed, r);
                int n = delayed.size() / 2;
                for (int k = 0; k < n; k++) {
                    Held held = delayed.remove(delayed.size() - 1);
                    send(b, held.record(), held.eventKey());
                }
                tick += 100;
                long sleep = tick - System.currentTimeMillis();
                if (sleep > 0) {
                    Thread.sleep(sleep);
                }
            }
            for (Held held : delayed) {
                send(b, held.record(), held.eventKey());
            }
            // Bounded: a record the broker never acknowledges (e.g. sequence errors after the broker's
            // kill -9) is simply not accepted; the run must not hang on it.
            a.close(java.time.Duration.ofSeconds(60));
            b.close(java.time.Duration.ofSeconds(60));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Event {@code i}: sent now by {@code a}; its extra copies, if {@code r} draws any, held back in {@code delayed}. */
    private void publishOne(long i, KafkaProducer<byte[], byte[]> a, Random r, List<Held> delayed) {
        String wf = i % Math.max(1, rate * 2L) == 0 ? ChaosCommand.HEAVY : ChaosCommand.ORDERS;
        String id = "e" + i;
        Instant time = Instant.ofEpochMilli(startedAt + i);
        ObjectNode data = Json.MAPPER.createObjectNode().put("n", i);
        String key = wf + "@" + time.toEpochMilli() + "#" + id;
        byte[] trigger = new TriggerRecord(wf, id, time, data).toBytes();
        byte[] recordKey = id.getBytes(StandardCharsets.UTF_8);
        send(a, new ProducerRecord<>(Topics.TRIGGERS, recordKey, trigger), key);
        int copies = 1 + r.nextInt(3);
        if (copies >= 2) {
            delayed.add(new Held(new ProducerRecord<>(Topics.TRIGGERS, recordKey, trigger), key));
        }
        if (copies == 3) {
            int version = 1;
            EventEnvelope event = new EventEnvelope(key, wf, version, time.toEpochMilli(), data,
                    "chaos-replica-without-dedupe-state", System.currentTimeMillis());
            delayed.add(new Held(new ProducerRecord<>(Topics.EVENTS, key.getBytes(StandardCharsets.UTF_8), Json.bytes(event)), key));
        }
    }

    /** Every copy of a key, sent by either publisher, accepts the key when acknowledged, or puts it in doubt when it fails. */
    private void send(KafkaProducer<byte[], byte[]> producer, ProducerRecord<byte[], byte[]> record, String eventKey) {
        try {
            producer.send(record, (md, e) -> {
                if (e == null) {
                    published.incrementAndGet();
                    accepted.add(eventKey);
                } else {
                    failed.add(eventKey);
                }
            });
        } catch (RuntimeException e) {
            failed.add(eventKey); // not sent at all; in doubt all the same, to keep the bookkeeping simple
        }
    }

    /** A copy held back to be sent later, with the event key it delivers. */
    private record Held(ProducerRecord<byte[], byte[]> record, String eventKey) {
    }

    private KafkaProducer<byte[], byte[]> producer(String name) {
        Map<String, Object> p = new LinkedHashMap<>();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.CLIENT_ID_CONFIG, "chaos-publisher-" + name);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "false");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "60000");
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "60000");
        return new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer());
    }
}
