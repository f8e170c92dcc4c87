package dev.onceflow.dispatcher;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.common.EventEnvelope;
import dev.onceflow.common.EventKey;
import dev.onceflow.common.Json;
import dev.onceflow.common.Topics;
import dev.onceflow.common.workflow.ScheduleRules;
import dev.onceflow.common.workflow.Trigger;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Fires the ticks of every enabled {@code schedule} workflow. Runs in every dispatcher replica:
 * each replica fires every tick with the event key {@code workflowId@fireTimeMillis}, so replicas
 * agree on the key; the dedupe store drops most copies and the engine's unique event key the
 * rest. No tick is lost when a replica dies, because the others fire it too. Events go to
 * {@value Topics#BY_KEY}, the dispatcher's own re-keyed topic, so they pass the dedupe filter.
 *
 * <p>Owns one thread; {@link #close()} stops it. Thread-safe.
 */
final class ScheduleSource implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ScheduleSource.class);

    /** The latest tick of a workflow that has an execution, so a restarted replica knows what was missed. */
    @FunctionalInterface
    interface LastTick {
        Optional<Instant> latest(String workflowId) throws Exception;
    }

    private final WorkflowCatalog catalog;
    private final LastTick lastTick;
    private final Producer<byte[], byte[]> producer;
    private final Clock clock;
    private final Instant started;
    private final Map<String, SchedulePlan> plans = new HashMap<>();
    private final Map<String, Integer> versions = new HashMap<>();
    private final AtomicLong fired = new AtomicLong();
    private final Thread thread;
    private volatile boolean running = true;

    ScheduleSource(WorkflowCatalog catalog, LastTick lastTick, Producer<byte[], byte[]> producer, Clock clock) {
        this.catalog = catalog;
        this.lastTick = lastTick;
        this.producer = producer;
        this.clock = clock;
        this.started = clock.instant();
        this.thread = new Thread(this::loop, "onceflow-schedule-source");
        this.thread.setDaemon(true);
    }

    void start() {
        thread.start();
    }

    Instant started() {
        return started;
    }

    long fired() {
        return fired.get();
    }

    private void loop() {
        while (running) {
            try {
                tick(clock.instant());
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            } catch (RuntimeException e) {
                LOG.warn("Schedule source: {}; retrying in 1 s", e.toString());
                try {
                    Thread.sleep(1000);
                } catch (InterruptedException ie) {
                    return;
                }
            }
        }
    }

    /** One pass: fire every due tick of every enabled schedule. Package-private for tests. */
    void tick(Instant now) {
        for (WorkflowCatalog.Entry entry : catalog.all()) {
            if (!(entry.trigger() instanceof Trigger.Schedule schedule) || !entry.enabled()) {
                plans.remove(entry.id());
                continue;
            }
            SchedulePlan plan = plan(entry, schedule, now);
            if (plan == null) {
                continue;
            }
            for (Instant t : plan.due(now)) {
                fire(entry, t, now);
            }
        }
    }

    private SchedulePlan plan(WorkflowCatalog.Entry entry, Trigger.Schedule schedule, Instant now) {
        SchedulePlan plan = plans.get(entry.id());
        Integer version = versions.get(entry.id());
        if (plan != null && version != null && version == entry.version()) {
            return plan;
        }
        Instant last;
        if (plan != null) {
            last = plan.next().map(n -> n.minusMillis(1)).orElse(now); // a new version continues where the old one was
        } else {
            try {
                last = lastTick.latest(entry.id()).orElse(now);
            } catch (Exception e) {
                LOG.warn("Schedule of {}: cannot read its last tick ({}); waiting", entry.id(), e.toString());
                return null;
            }
        }
        SchedulePlan fresh = new SchedulePlan(new ScheduleRules(schedule), started, last);
        plans.put(entry.id(), fresh);
        versions.put(entry.id(), entry.version());
        LOG.info("Scheduling {} v{} ({}), next tick {}", entry.id(), entry.version(),
                schedule.cron() != null ? "cron '" + schedule.cron() + "' in " + schedule.zone() : "every " + schedule.intervalMs() + " ms",
                fresh.next().orElse(null));
        return fresh;
    }

    private void fire(WorkflowCatalog.Entry entry, Instant tick, Instant now) {
        String key = EventKey.of(entry.id(), tick.toEpochMilli()).toString();
        ObjectNode data = Json.MAPPER.createObjectNode().put("scheduledTime", tick.toString()).put("tick", tick.toEpochMilli());
        EventEnvelope event = new EventEnvelope(key, entry.id(), entry.version(), tick.toEpochMilli(), data, "schedule",
                now.toEpochMilli());
        producer.send(new ProducerRecord<>(Topics.BY_KEY, key.getBytes(StandardCharsets.UTF_8), Json.bytes(event)), (md, e) -> {
            if (e != null) {
                LOG.warn("Schedule tick {} not published ({}); other replicas fire it too", key, e.toString());
            }
        });
        fired.incrementAndGet();
        LOG.debug("Fired {}", key);
    }

    List<String> scheduled() {
        return List.copyOf(plans.keySet());
    }

    @Override
    public void close() {
        running = false;
        thread.interrupt();
        try {
            thread.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
