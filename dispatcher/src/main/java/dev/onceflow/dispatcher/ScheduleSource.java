package dev.onceflow.dispatcher;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.common.ByKeyRecord;
import dev.onceflow.common.EventEnvelope;
import dev.onceflow.common.EventKey;
import dev.onceflow.common.Json;
import dev.onceflow.common.OrderKey;
import dev.onceflow.common.Topics;
import dev.onceflow.common.workflow.ScheduleRules;
import dev.onceflow.common.workflow.Trigger;
import java.time.Clock;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.producer.Producer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Fires the ticks of every enabled {@code schedule} workflow. Runs in every dispatcher replica:
 * each replica fires every tick with the event key {@code workflowId@fireTimeMillis}, so replicas
 * agree on the key; the dedupe store drops most copies and the engine's unique event key the
 * rest. No tick is lost when a replica dies, because the others fire it too. Events go to
 * {@value Topics#BY_KEY}, the dispatcher's own re-keyed topic, so they pass the dedupe filter. A
 * workflow whose {@code order} is {@code key} (not the default for schedules) gives its ticks the
 * ordering key {@code workflowId} (ADR 0020): they share one partition.
 *
 * <p><b>A tick counts as fired only once Kafka acknowledged it.</b> The plan decides once which
 * ticks are due; a tick whose send fails (the broker unreachable past {@code delivery.timeout.ms},
 * a leader change the producer gave up on) is kept and sent again, with the same event key and
 * content, at the next pass after a backoff, until it is acknowledged or the source closes. A
 * duplicate send is harmless (same key: dedupe and the unique event key absorb it). A crash
 * forgets the unacknowledged ticks of this replica; they are derived again from what is durable:
 * the other replicas fire the same ticks, and a restarted replica reads the latest tick that has
 * an execution from PostgreSQL and treats later ones as misfires (its {@code misfire} policy).
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
    private final DispatcherMetrics metrics;
    private final OrderKeys orderKeys;
    private final Instant started;
    private final Map<String, SchedulePlan> plans = new HashMap<>();
    private final Map<String, Integer> versions = new HashMap<>();
    /** Ticks Kafka acknowledged. */
    private final AtomicLong fired = new AtomicLong();
    /** Ticks Kafka refused or did not acknowledge in time, resent by the loop thread; added by producer callbacks. */
    private final java.util.concurrent.ConcurrentLinkedQueue<Tick> unacknowledged = new java.util.concurrent.ConcurrentLinkedQueue<>();
    /** Ticks sent and not yet answered. */
    private final AtomicLong inFlight = new AtomicLong();

    /**
     * One tick's event, kept so that a resend is identical ({@link ByKeyRecord#of}: keyed by its
     * ordering key, else its event key); {@code attempts} and {@code retryAt} pace resends.
     */
    private record Tick(String workflow, EventEnvelope event, int attempts, Instant retryAt) {
        Tick failedAt(Instant now) {
            long backoffMs = Math.min(RESEND_BACKOFF_MAX.toMillis(), RESEND_BACKOFF.toMillis() << Math.min(attempts, 10));
            return new Tick(workflow, event, attempts + 1, now.plusMillis(backoffMs));
        }

        String key() {
            return event.eventKey();
        }
    }

    static final java.time.Duration RESEND_BACKOFF = java.time.Duration.ofMillis(200);
    static final java.time.Duration RESEND_BACKOFF_MAX = java.time.Duration.ofSeconds(30);
    private final Thread thread;
    private volatile boolean running = true;

    ScheduleSource(WorkflowCatalog catalog, LastTick lastTick, Producer<byte[], byte[]> producer, Clock clock) {
        this(catalog, lastTick, producer, clock, new DispatcherMetrics());
    }

    ScheduleSource(WorkflowCatalog catalog, LastTick lastTick, Producer<byte[], byte[]> producer, Clock clock,
                   DispatcherMetrics metrics) {
        this(catalog, lastTick, producer, clock, metrics, new OrderKeys(true, metrics));
    }

    ScheduleSource(WorkflowCatalog catalog, LastTick lastTick, Producer<byte[], byte[]> producer, Clock clock,
                   DispatcherMetrics metrics, OrderKeys orderKeys) {
        this.orderKeys = orderKeys;
        this.catalog = catalog;
        this.metrics = metrics;
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

    /** Ticks Kafka acknowledged (before dedupe). */
    long fired() {
        return fired.get();
    }

    /** Ticks sent or waiting to be sent again, not yet acknowledged. */
    long unacknowledged() {
        return inFlight.get() + unacknowledged.size();
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
        resendUnacknowledged(now);
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
            long missed = plan.takeMissed();
            if (missed > 0) {
                metrics.countTicksMissed(entry.id(), missed);
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
        metrics.countTicksFired(entry.id(), 0); // both counters present from the first plan, at 0
        metrics.countTicksMissed(entry.id(), 0);
        versions.put(entry.id(), entry.version());
        LOG.info("Scheduling {} v{} ({}), next tick {}", entry.id(), entry.version(),
                schedule.cron() != null ? "cron '" + schedule.cron() + "' in " + schedule.zone() : "every " + schedule.intervalMs() + " ms",
                fresh.next().orElse(null));
        return fresh;
    }

    private void fire(WorkflowCatalog.Entry entry, Instant tick, Instant now) {
        String key = EventKey.of(entry.id(), tick.toEpochMilli()).toString();
        ObjectNode data = Json.MAPPER.createObjectNode().put("scheduledTime", tick.toString()).put("tick", tick.toEpochMilli());
        EventEnvelope event = orderKeys.apply(new EventEnvelope(key, entry.id(), entry.version(), tick.toEpochMilli(), data,
                "schedule", now.toEpochMilli()), entry, () -> OrderKey.schedule(entry.id(), entry.ordered()));
        send(new Tick(entry.id(), event, 0, now));
        LOG.debug("Fired {}", key);
    }

    /** Sends the ticks whose resend is due; the others wait for their backoff. */
    private void resendUnacknowledged(Instant now) {
        List<Tick> later = new java.util.ArrayList<>();
        for (Tick t = unacknowledged.poll(); t != null; t = unacknowledged.poll()) {
            if (t.retryAt().isAfter(now)) {
                later.add(t);
            } else {
                send(t);
            }
        }
        unacknowledged.addAll(later);
    }

    /** Counts the tick fired on acknowledgement only; a failed one is queued to be sent again. */
    private void send(Tick tick) {
        inFlight.incrementAndGet();
        try {
            producer.send(ByKeyRecord.of(tick.event()), (md, e) -> acknowledged(tick, e));
        } catch (RuntimeException e) {
            acknowledged(tick, e); // a send refused at once (closing producer, buffer full) is a failed send too
        }
    }

    private void acknowledged(Tick tick, Exception e) {
        inFlight.decrementAndGet();
        if (e == null) {
            fired.incrementAndGet();
            metrics.countTicksFired(tick.workflow(), 1);
            return;
        }
        Tick again = tick.failedAt(clock.instant());
        LOG.warn("Schedule tick {} not acknowledged by Kafka (attempt {}: {}); sending it again in {} ms", tick.key(),
                again.attempts(), e.toString(), java.time.Duration.between(clock.instant(), again.retryAt()).toMillis());
        unacknowledged.add(again);
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
        long left = unacknowledged();
        if (left > 0) {
            LOG.warn("Schedule source closed with {} ticks not acknowledged by Kafka; the other replicas fire them, and a "
                    + "restart treats them as misfires", left);
        }
    }
}
