package dev.onceflow.engine;

import dev.onceflow.common.Topics;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.apache.kafka.clients.admin.AbortTransactionSpec;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.DescribeProducersResult.PartitionProducerState;
import org.apache.kafka.clients.admin.ProducerState;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Watches for work that stopped without an error: a partition of {@value Topics#EVENTS} or
 * {@value Topics#TASKS} whose last stable offset or whose committed offset has not moved for
 * {@code engine.stall.report.ms} while records wait (a hanging transaction, a worker stuck in
 * {@code fetchCommittedOffsets}), and executions that have stayed non-terminal longer than
 * {@code engine.stuck.execution.report.ms}. Both are reported ({@link #problems()}, which the
 * status line prints, and a WARN). A transaction seen open on Onceflow's topics or on
 * {@code __consumer_offsets} for {@code engine.hanging.transaction.abort.ms} — many times any
 * Onceflow producer's transaction timeout, so the coordinator has lost it — is aborted with the
 * Admin API (KIP-664), which releases the readers; -1 only reports it.
 *
 * <p>Runs on its own daemon thread; every failure (broker or database down) is logged and the
 * next check tries again. {@link #problems()} may be called from any thread.
 */
final class StallWatch implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(StallWatch.class);
    private static final List<String> READ = List.of(Topics.EVENTS, Topics.TASKS);
    private static final List<String> WRITTEN = List.of(Topics.EVENTS, Topics.TASKS, Topics.OUTCOMES, "__consumer_offsets");

    private final EngineSettings settings;
    private final DataSource dataSource;
    private final Clock clock;
    private final StallCheck check;
    private final ScheduledExecutorService timer;
    private volatile List<String> problems = List.of();
    /** Queued executions per workflow, and the longest lane's queue (key ""), at the last check; empty before the first. */
    private volatile Map<String, Long> queued = Map.of();

    /** Executions queued in their lanes per workflow, and under "" the most queued in one lane (ADR 0021). */
    Map<String, Long> queuedCounts() {
        return queued;
    }

    /** Executions counted stuck by the last check that reached PostgreSQL; -1 before the first. */
    private volatile long stuck = -1;
    private Admin admin;

    StallWatch(EngineSettings settings, DataSource dataSource, Clock clock) {
        this.settings = settings;
        this.dataSource = dataSource;
        this.clock = clock;
        this.check = new StallCheck(settings.stallReportMs());
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "onceflow-stall-watch");
            t.setDaemon(true);
            return t;
        });
    }

    void start() {
        long every = Math.max(1_000, Math.min(10_000, settings.stallReportMs() / 3));
        // The first check at once: onceflow_executions_stuck is known (0 or more) from the start.
        timer.scheduleWithFixedDelay(this::checkSafely, 0, every, TimeUnit.MILLISECONDS);
    }

    /** Executions not finished for longer than engine.stuck.execution.report.ms at the last check; -1 before the first. */
    long stuckCount() {
        return stuck;
    }

    /** What a person should look at now; empty when nothing is stalled or stuck. */
    List<String> problems() {
        return problems;
    }

    private void checkSafely() {
        try {
            problems = checkOnce();
        } catch (Throwable e) {
            LOG.debug("Stall check failed (next check tries again): {}", e.toString());
        }
    }

    List<String> checkOnce() throws Exception {
        long now = clock.millis();
        List<String> found = new ArrayList<>();
        Admin a = admin();
        for (StallCheck.Stall stall : check.offsets(offsets(a), now)) {
            String text = stall.describe(now);
            found.add(text);
            LOG.warn("Stalled partition {}", text);
        }
        if (settings.hangingTransactionAbortMs() >= 0) {
            abortHanging(a, now);
        }
        stuckExecutions().ifPresent(s -> {
            found.add(s);
            LOG.warn("{}", s);
        });
        queued = queued();
        return List.copyOf(found);
    }

    private Map<TopicPartition, StallCheck.Offsets> offsets(Admin a) throws Exception {
        Set<TopicPartition> parts = new HashSet<>();
        a.describeTopics(READ).allTopicNames().get(30, TimeUnit.SECONDS).forEach((topic, d) ->
                d.partitions().forEach(p -> parts.add(new TopicPartition(topic, p.partition()))));
        Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
        parts.forEach(p -> latest.put(p, OffsetSpec.latest()));
        var end = a.listOffsets(latest, new ListOffsetsOptions(IsolationLevel.READ_UNCOMMITTED)).all().get(30, TimeUnit.SECONDS);
        var stable = a.listOffsets(latest, new ListOffsetsOptions(IsolationLevel.READ_COMMITTED)).all().get(30, TimeUnit.SECONDS);
        Map<TopicPartition, OffsetAndMetadata> committed = a.listConsumerGroupOffsets(settings.groupId())
                .partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS);
        Map<TopicPartition, StallCheck.Offsets> snapshot = new HashMap<>();
        for (TopicPartition p : parts) {
            OffsetAndMetadata c = committed.get(p);
            snapshot.put(p, new StallCheck.Offsets(end.get(p).offset(), stable.get(p).offset(), c == null ? -1 : c.offset()));
        }
        return snapshot;
    }

    private void abortHanging(Admin a, long now) throws Exception {
        Set<TopicPartition> parts = new HashSet<>();
        a.describeTopics(WRITTEN).allTopicNames().get(30, TimeUnit.SECONDS).forEach((topic, d) ->
                d.partitions().forEach(p -> parts.add(new TopicPartition(topic, p.partition()))));
        Map<TopicPartition, PartitionProducerState> states = a.describeProducers(parts).all().get(30, TimeUnit.SECONDS);
        Set<StallCheck.OpenTransaction> open = new HashSet<>();
        states.forEach((tp, state) -> {
            for (ProducerState p : state.activeProducers()) {
                if (p.currentTransactionStartOffset().isPresent()) {
                    // A producer that never completed a transaction on this partition has no
                    // coordinator epoch there; Kafka's own kafka-transactions.sh abort uses 0 then.
                    open.add(new StallCheck.OpenTransaction(tp, p.producerId(), p.producerEpoch(),
                            p.coordinatorEpoch().orElse(0), p.currentTransactionStartOffset().getAsLong()));
                }
            }
        });
        for (StallCheck.OpenTransaction t : check.transactions(open, now, settings.hangingTransactionAbortMs())) {
            LOG.warn("Aborting a hanging transaction on {}: producer {} epoch {} has held it open since offset {} for more "
                    + "than {} ms (engine.hanging.transaction.abort.ms); read_committed readers of the partition wait on it",
                    t.partition(), t.producerId(), t.epoch(), t.startOffset(), settings.hangingTransactionAbortMs());
            try {
                a.abortTransaction(new AbortTransactionSpec(t.partition(), t.producerId(), (short) t.epoch(),
                        t.coordinatorEpoch())).all().get(30, TimeUnit.SECONDS);
                check.forget(t);
            } catch (Exception e) {
                LOG.warn("Could not abort the hanging transaction on {} (another engine may have): {}", t.partition(),
                        e.toString());
            }
        }
    }

    /** Queued executions by workflow and the longest lane: through the partial index of unfinished lanes (V7). */
    private Map<String, Long> queued() throws Exception {
        Map<String, Long> counts = new HashMap<>();
        long longest = 0;
        try (Connection c = dataSource.getConnection();
             PreparedStatement ps = c.prepareStatement("SELECT workflow_id, ordering_key, count(*) FROM executions "
                     + "WHERE finished_at IS NULL AND ordering_key IS NOT NULL AND status = 'queued' GROUP BY 1, 2");
             ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                counts.merge(rs.getString(1), rs.getLong(3), Long::sum);
                longest = Math.max(longest, rs.getLong(3));
            }
        }
        counts.put("", longest);
        return Map.copyOf(counts);
    }

    private java.util.Optional<String> stuckExecutions() throws Exception {
        try (Connection c = dataSource.getConnection();
             PreparedStatement ps = c.prepareStatement("SELECT count(*), min(created_at), (array_agg(event_key ORDER BY "
                     + "created_at))[1] FROM executions e WHERE finished_at IS NULL AND created_at < now() - ? * interval '1 ms' "
                     // waiting on a timer that is not yet overdue (a delay, a backoff, a call's lease) is not stuck
                     + "AND NOT EXISTS (SELECT 1 FROM timers t WHERE t.execution_id = e.id AND t.fired_at IS NULL "
                     + "AND t.kind <> 'start' AND t.due_at > now() - interval '1 minute') "
                     // queued behind a running execution of its lane (ADR 0021): that one is the one to look at
                     + "AND NOT (e.status = 'queued' AND EXISTS (SELECT 1 FROM executions r WHERE r.ordering_key = e.ordering_key "
                     + "AND r.finished_at IS NULL AND r.status = 'running')) "
                     // nor behind the running ones of its workflow's concurrency.total (ADR 0022)
                     + "AND NOT (e.status = 'queued' AND e.total IS NOT NULL AND EXISTS (SELECT 1 FROM executions r "
                     + "WHERE r.workflow_id = e.workflow_id AND r.total IS NOT NULL AND r.finished_at IS NULL AND r.status = 'running')) "
                     // nor one still in its debounce window or before its rate limit's turn
                     + "AND NOT (e.status = 'queued' AND e.not_before > now())")) {
            ps.setLong(1, settings.stuckExecutionReportMs());
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                long n = rs.getLong(1);
                stuck = n;
                if (n == 0) {
                    return java.util.Optional.empty();
                }
                return java.util.Optional.of(n + " executions have not finished for more than "
                        + settings.stuckExecutionReportMs() / 1000 + " s (engine.stuck.execution.report.ms); oldest "
                        + rs.getString(3) + " since " + rs.getTimestamp(2).toInstant()
                        + "; list them with: SELECT event_key, workflow_id, created_at FROM executions "
                        + "WHERE finished_at IS NULL ORDER BY created_at (executions waiting on a timer that is not overdue, or queued behind a running one of their lane or their workflow's total, are not counted)");
            }
        }
    }

    private Admin admin() {
        if (admin == null) {
            Properties p = new Properties();
            p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, settings.bootstrapServers());
            p.put(AdminClientConfig.CLIENT_ID_CONFIG, "onceflow-stall-watch");
            p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
            p.putAll(settings.adminOverrides());
            admin = Admin.create(p);
        }
        return admin;
    }

    @Override
    public void close() {
        timer.shutdownNow();
        try {
            timer.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (admin != null) {
            admin.close(java.time.Duration.ofSeconds(5));
        }
    }
}
