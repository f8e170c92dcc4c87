package dev.onceflow.deploy.proof;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.ListTransactionsOptions;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.TransactionListing;
import org.apache.kafka.clients.admin.TransactionState;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * What the broker says about the chaos run's consumer groups and partitions, through the Admin
 * API: a group's members and their partitions, its committed offsets, each partition's last
 * stable offset (LSO, what {@code read_committed} readers can reach) and high watermark, the
 * transactions left open, and — after the run — the partitions that did not drain
 * ({@link #drain}).
 *
 * <p>Every call is bounded (the Admin API's timeouts, 10 s per answer). Owned by one thread at a
 * time (the fault thread, then the summary); not thread-safe. Close it.
 */
final class ChaosKafka implements AutoCloseable {

    private static final long ANSWER_MS = 10_000;

    private final String bootstrap;
    private final Admin admin;

    ChaosKafka(String bootstrap) {
        this.bootstrap = bootstrap;
        this.admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
                AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 5000, AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 9000));
    }

    /** The group's members (member id → its partitions) when the group is stable; null while it rebalances, or unknown. */
    Map<String, Set<TopicPartition>> stableMembers(String group) throws Exception {
        ConsumerGroupDescription d = get(admin.describeConsumerGroups(List.of(group)).describedGroups().get(group));
        if (d.groupState() != GroupState.STABLE) {
            return null;
        }
        return members(d);
    }

    /** The group's members now (member id → its partitions), whatever its state. */
    Map<String, Set<TopicPartition>> members(String group) throws Exception {
        return members(get(admin.describeConsumerGroups(List.of(group)).describedGroups().get(group)));
    }

    private static Map<String, Set<TopicPartition>> members(ConsumerGroupDescription d) {
        Map<String, Set<TopicPartition>> m = new HashMap<>();
        for (MemberDescription member : d.members()) {
            m.put(member.consumerId(), Set.copyOf(member.assignment().topicPartitions()));
        }
        return m;
    }

    /** The group's committed offsets (partitions it never committed are absent). */
    Map<TopicPartition, Long> committed(String group) throws Exception {
        Map<TopicPartition, OffsetAndMetadata> offsets = get(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata());
        Map<TopicPartition, Long> out = new HashMap<>();
        offsets.forEach((tp, o) -> {
            if (o != null) {
                out.put(tp, o.offset());
            }
        });
        return out;
    }

    /** Every partition of the topics. */
    List<TopicPartition> partitions(Collection<String> topics) throws Exception {
        List<TopicPartition> out = new ArrayList<>();
        for (TopicDescription t : get(admin.describeTopics(topics).allTopicNames()).values()) {
            t.partitions().forEach(p -> out.add(new TopicPartition(t.name(), p.partition())));
        }
        return out;
    }

    /** Each partition's leader and in-sync replicas (broker ids), as the broker answering describes them. */
    record Replicas(int leader, Set<Integer> isr, int replicas) {
    }

    /** Every partition of the topics with its leader (-1 when it has none) and its in-sync replicas. */
    Map<TopicPartition, Replicas> replicas(Collection<String> topics) throws Exception {
        Map<TopicPartition, Replicas> out = new HashMap<>();
        for (TopicDescription t : get(admin.describeTopics(topics).allTopicNames()).values()) {
            t.partitions().forEach(p -> {
                Set<Integer> isr = new HashSet<>();
                p.isr().forEach(n -> isr.add(n.id()));
                out.put(new TopicPartition(t.name(), p.partition()), new Replicas(p.leader() == null || p.leader().isEmpty() ? -1
                        : p.leader().id(), isr, p.replicas().size()));
            });
        }
        return out;
    }

    /** Last stable offsets ({@code committedOnly}: what a read_committed reader reaches) or high watermarks. */
    Map<TopicPartition, Long> endOffsets(Collection<TopicPartition> partitions, boolean committedOnly) throws Exception {
        Map<TopicPartition, OffsetSpec> spec = new HashMap<>();
        partitions.forEach(tp -> spec.put(tp, OffsetSpec.latest()));
        Map<TopicPartition, Long> out = new HashMap<>();
        get(admin.listOffsets(spec, new ListOffsetsOptions(committedOnly ? IsolationLevel.READ_COMMITTED : IsolationLevel.READ_UNCOMMITTED))
                .all()).forEach((tp, info) -> out.put(tp, info.offset()));
        return out;
    }

    /** An open transaction: its producer, since when (epoch ms, -1 if unknown), its state and partitions. */
    record OpenTransaction(String transactionalId, long startMs, String state, List<String> partitions) {
        Map<String, Object> toMap(long now) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("transactional_id", transactionalId);
            m.put("state", state);
            m.put("open_s", startMs < 0 ? null : Math.round((now - startMs) / 100.0) / 10.0);
            m.put("partitions", partitions);
            return m;
        }
    }

    /** Transactions open for longer than {@code olderThanMs} (KIP-994's duration filter), with their partitions. */
    List<OpenTransaction> openTransactions(long olderThanMs) throws Exception {
        Collection<TransactionListing> listed = get(admin.listTransactions(new ListTransactionsOptions().filterOnDuration(olderThanMs)).all());
        List<String> ids = listed.stream().filter(t -> !isFinished(t.state())).map(TransactionListing::transactionalId).toList();
        if (ids.isEmpty()) {
            return List.of();
        }
        List<OpenTransaction> out = new ArrayList<>();
        for (Map.Entry<String, TransactionDescription> e : get(admin.describeTransactions(ids).all()).entrySet()) {
            TransactionDescription d = e.getValue();
            if (isFinished(d.state())) {
                continue;
            }
            out.add(new OpenTransaction(e.getKey(), d.transactionStartTimeMs().orElse(-1), d.state().toString(),
                    d.topicPartitions().stream().map(TopicPartition::toString).sorted().toList()));
        }
        return out;
    }

    private static boolean isFinished(TransactionState state) {
        return state == TransactionState.EMPTY || state == TransactionState.COMPLETE_COMMIT || state == TransactionState.COMPLETE_ABORT;
    }

    /**
     * Where the run did not drain, read after it went quiet: for each group and the topics it
     * reads, the partitions with committed records the group has not committed past; and, on
     * those topics and {@code alsoWatched}, the partitions whose last stable offset stays below
     * the high watermark for {@code settleMs} — an open transaction that {@code read_committed}
     * readers cannot get past (a hanging transaction, or a zombie's). {@code stalled} counts the
     * distinct partitions of both kinds; the transactions open longer than {@code settleMs} are
     * named with their partitions.
     *
     * <p>Records are counted, not guessed from offsets: a transaction's commit marker takes an
     * offset too, so a group that committed everything still sits one below the LSO.
     */
    Drain drain(Map<String, List<String>> topicsByGroup, List<String> alsoWatched, long settleMs) throws Exception {
        Set<String> allTopics = new HashSet<>(alsoWatched);
        topicsByGroup.values().forEach(allTopics::addAll);
        List<TopicPartition> all = partitions(allTopics);
        Map<TopicPartition, Long> lso = endOffsets(all, true);
        Map<TopicPartition, Long> hw = endOffsets(all, false);
        Map<String, Map<String, Object>> problems = new TreeMap<>();
        for (Map.Entry<String, List<String>> g : topicsByGroup.entrySet()) {
            List<TopicPartition> parts = all.stream().filter(tp -> g.getValue().contains(tp.topic())).toList();
            Map<TopicPartition, Long> committed = committed(g.getKey());
            Map<TopicPartition, Long> waiting = waitingRecords(parts, committed, lso);
            waiting.forEach((tp, n) -> {
                if (n > 0) {
                    Map<String, Object> p = problem(problems, tp, lso, hw);
                    p.put("group", g.getKey());
                    p.put("committed", committed.get(tp));
                    p.put("records_waiting", n);
                }
            });
        }
        List<TopicPartition> behind = all.stream().filter(tp -> hw.getOrDefault(tp, 0L) > lso.getOrDefault(tp, 0L)).toList();
        if (!behind.isEmpty()) {
            Thread.sleep(settleMs); // an open transaction that is merely slow ends within this; a hanging one does not
            Map<TopicPartition, Long> lsoLater = endOffsets(behind, true);
            for (TopicPartition tp : behind) {
                if (lsoLater.get(tp).equals(lso.get(tp))) {
                    problem(problems, tp, lso, hw).put("open_transaction", true);
                }
            }
        }
        List<Map<String, Object>> transactions = new ArrayList<>();
        long now = System.currentTimeMillis();
        for (OpenTransaction t : openTransactions(settleMs)) {
            transactions.add(t.toMap(now));
        }
        return new Drain(problems.size(), List.copyOf(problems.values()), transactions);
    }

    /** The sign of a load whose completion the broker ignored: its coordinator serves part of the log. */
    static final String IGNORED_LOAD_SIGN = "because context is in ACTIVE state";

    /**
     * The signatures, in the brokers' logs, of the Kafka 4.3.1 group coordinator load race (ADR 0009,
     * second addendum of session 5): after a restart a broker loads {@code __consumer_offsets} twice at once
     * (the stale leader epoch of its metadata log, then the bumped one) and the first load's completion
     * activates the second coordinator before its own load ran. Its first write then finds the state
     * "out of sync" (the coordinator reloads), or its load fails unnoticed: "Ignored load completion ...
     * ACTIVE". The latter may leave the coordinator with part of the log only: committed offsets gone
     * back and transactional offset commits pending for ever (a partition that never drains).
     */
    static final List<String> COORDINATOR_LOAD_RACE_SIGNS = List.of(
            IGNORED_LOAD_SIGN,
            "is out of sync with the underlying log");

    /**
     * The lines of the brokers' logs ({@code broker*.log} in {@code logs}) that show the group
     * coordinator load race: each as its log file and the line (at most 300 characters), at most
     * {@code max} of them; empty when there are none or no log could be read.
     */
    static List<Map<String, Object>> coordinatorLoadRaces(java.nio.file.Path logs, int max) {
        List<Map<String, Object>> out = new ArrayList<>();
        List<java.nio.file.Path> files;
        try (var s = java.nio.file.Files.list(logs)) {
            files = s.filter(f -> f.getFileName().toString().startsWith("broker") && f.getFileName().toString().endsWith(".log"))
                    .sorted().toList();
        } catch (java.io.IOException | java.io.UncheckedIOException e) {
            return out;
        }
        for (java.nio.file.Path f : files) {
            try (var lines = java.nio.file.Files.lines(f, java.nio.charset.StandardCharsets.ISO_8859_1)) {
                for (String line : (Iterable<String>) lines.filter(l -> l.contains("__consumer_offsets")
                        && COORDINATOR_LOAD_RACE_SIGNS.stream().anyMatch(l::contains))::iterator) {
                    if (out.size() >= max) {
                        return out;
                    }
                    Map<String, Object> m = new LinkedHashMap<>();
                    m.put("log", f.getFileName().toString());
                    m.put("line", line.length() > 300 ? line.substring(0, 300) : line);
                    out.add(m);
                }
            } catch (java.io.IOException | java.io.UncheckedIOException e) {
                // a log that cannot be read shows nothing (Latin-1 decodes any byte)
            }
        }
        return out;
    }

    /**
     * Watches a broker's log for up to {@code ms} for {@link #IGNORED_LOAD_SIGN} on a
     * {@code __consumer_offsets} partition; returns the line (at most 300 characters) or null.
     */
    static String awaitIgnoredLoad(java.nio.file.Path log, long ms) throws InterruptedException {
        long deadline = System.currentTimeMillis() + ms;
        while (true) {
            try (var lines = java.nio.file.Files.lines(log, java.nio.charset.StandardCharsets.ISO_8859_1)) {
                String line = lines.filter(l -> l.contains("__consumer_offsets") && l.contains(IGNORED_LOAD_SIGN)).findFirst().orElse(null);
                if (line != null) {
                    return line.length() > 300 ? line.substring(0, 300) : line;
                }
            } catch (java.io.IOException | java.io.UncheckedIOException e) {
                // not written yet
            }
            if (System.currentTimeMillis() >= deadline) {
                return null;
            }
            Thread.sleep(500);
        }
    }

    /** What {@link #drain} found. */
    record Drain(long stalled, List<Map<String, Object>> partitions, List<Map<String, Object>> openTransactions) {
    }

    private static Map<String, Object> problem(Map<String, Map<String, Object>> problems, TopicPartition tp,
                                               Map<TopicPartition, Long> lso, Map<TopicPartition, Long> hw) {
        return problems.computeIfAbsent(tp.toString(), k -> {
            Map<String, Object> p = new LinkedHashMap<>();
            p.put("partition", k);
            p.put("last_stable_offset", lso.get(tp));
            p.put("high_watermark", hw.get(tp));
            return p;
        });
    }

    /**
     * Per partition, the committed records ({@code read_committed}) at or past the group's
     * committed offset (from the log start where it never committed), read with a consumer of no
     * group, for at most 20 s.
     */
    private Map<TopicPartition, Long> waitingRecords(List<TopicPartition> parts, Map<TopicPartition, Long> committed,
                                                     Map<TopicPartition, Long> lso) {
        Map<TopicPartition, Long> waiting = new HashMap<>();
        Map<String, Object> p = new HashMap<>();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, "chaos-drain-check");
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            c.assign(parts);
            Map<TopicPartition, Long> start = c.beginningOffsets(parts, Duration.ofSeconds(10));
            Set<TopicPartition> open = new HashSet<>();
            for (TopicPartition tp : parts) {
                long from = Math.max(committed.getOrDefault(tp, start.get(tp)), start.get(tp));
                waiting.put(tp, 0L);
                if (from < lso.get(tp)) {
                    c.seek(tp, from);
                    open.add(tp);
                } else {
                    c.pause(List.of(tp));
                }
            }
            long deadline = System.currentTimeMillis() + 20_000;
            while (!open.isEmpty() && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(500))) {
                    TopicPartition tp = new TopicPartition(r.topic(), r.partition());
                    if (r.offset() < lso.get(tp)) {
                        waiting.merge(tp, 1L, Long::sum);
                    }
                }
                for (TopicPartition tp : List.copyOf(open)) {
                    if (c.position(tp) >= lso.get(tp)) {
                        open.remove(tp);
                        c.pause(List.of(tp));
                    }
                }
            }
        }
        return waiting;
    }

    private static <T> T get(org.apache.kafka.common.KafkaFuture<T> f) throws InterruptedException, ExecutionException, TimeoutException {
        return f.get(ANSWER_MS, TimeUnit.MILLISECONDS);
    }

    @Override
    public void close() {
        admin.close(Duration.ofSeconds(5));
    }
}
