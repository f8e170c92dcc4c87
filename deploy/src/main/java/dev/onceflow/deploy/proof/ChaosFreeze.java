package dev.onceflow.deploy.proof;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.apache.kafka.common.TopicPartition;

/**
 * A live zombie: SIGSTOP one process of a consumer group (an engine, or a dispatcher's Kafka
 * Streams) for longer than its session timeout, so the group evicts it and gives its partitions to
 * the others, then SIGCONT, so it wakes up believing it still owns them and carries on with its
 * batch — its late PostgreSQL and Kafka commits must change nothing (the chaos check's invariants
 * say whether they did).
 *
 * <p>Measured from the broker, every 500 ms, and noted in the fault's summary entry:
 * <ul>
 *   <li>{@code members_evicted_after_ms}: when the frozen process's members left the group (the
 *       members of the stable group before the freeze that are gone; a process is not told
 *       apart by its client id, which every engine process shares);</li>
 *   <li>{@code partitions}: the partitions they held; {@code partitions_with_records_waiting}:
 *       those where committed records arrived past the group's committed offset at the freeze;</li>
 *   <li>{@code processing_resumed_after_ms}: for those, when the group's committed offset moved
 *       again (someone processed their records), the latest over them, from SIGSTOP;
 *       {@code resumed_before_thaw}: whether that was before SIGCONT (the others took over) or
 *       only after it; {@code not_resumed}: partitions that did not move within 30 s of the thaw;</li>
 *   <li>{@code open_transactions}: transactions open for more than 3 s during the freeze — the
 *       frozen producer's, which {@code read_committed} readers of their partitions cannot get
 *       past — and for how long each stayed open ({@code open_s}, up to when it ended or the
 *       measuring did).</li>
 * </ul>
 * One call per fault, on the fault thread.
 */
final class ChaosFreeze {

    private static final long SAMPLE_MS = 500;
    private static final long AFTER_THAW_MS = 30_000;
    private static final long LONG_TRANSACTION_MS = 3_000;

    private final ChaosKafka kafka;
    private final String group;
    private final List<String> topics;

    ChaosFreeze(ChaosKafka kafka, String group, List<String> topics) {
        this.kafka = kafka;
        this.group = group;
        this.topics = topics;
    }

    /**
     * Freezes {@code p} for {@code frozenMs}, thaws it, and notes what the group did meanwhile in
     * {@code f}. First waits (up to 20 s) for the group to be stable with {@code expectedMembers}
     * members — every running process's consumers joined — so the frozen process's members are
     * known before it freezes.
     */
    void freeze(ChildProcess p, long frozenMs, int expectedMembers, Map<String, Object> f) throws Exception {
        Map<String, Set<TopicPartition>> before = awaitStable(expectedMembers, 20_000);
        Map<TopicPartition, Long> committedAtFreeze = safe(() -> kafka.committed(group), Map.of());
        long t0 = System.currentTimeMillis();
        p.freeze();
        long evictedAt = -1;
        Set<TopicPartition> held = new TreeSet<>(java.util.Comparator.comparing(TopicPartition::toString));
        Set<TopicPartition> waiting = new HashSet<>();
        Map<TopicPartition, Long> resumedAt = new HashMap<>();
        Map<String, ChaosKafka.OpenTransaction> transactions = new LinkedHashMap<>();
        Map<String, Long> transactionEnd = new HashMap<>();
        long thawAt = -1;
        int unanswered = 0;
        try {
            while (true) {
                long now = System.currentTimeMillis();
                if (thawAt < 0 && now - t0 >= frozenMs) {
                    p.thaw();
                    thawAt = System.currentTimeMillis();
                }
                if (thawAt >= 0 && (now - thawAt > AFTER_THAW_MS
                        || (resumedAt.keySet().containsAll(waiting) && transactionEnd.keySet().containsAll(transactions.keySet())))) {
                    break;
                }
                Thread.sleep(SAMPLE_MS);
                now = System.currentTimeMillis();
                if (evictedAt < 0 && before != null) {
                    Map<String, Set<TopicPartition>> members = safe(() -> kafka.members(group), null);
                    if (members == null) {
                        unanswered++;
                    } else if (!members.keySet().containsAll(before.keySet())) {
                        evictedAt = now;
                        before.forEach((member, parts) -> {
                            if (!members.containsKey(member)) {
                                held.addAll(parts);
                            }
                        });
                    }
                }
                if (evictedAt >= 0 && !held.isEmpty()) {
                    Map<TopicPartition, Long> committed = safe(() -> kafka.committed(group), Map.of());
                    Map<TopicPartition, Long> lso = safe(() -> kafka.endOffsets(held, true), Map.of());
                    for (TopicPartition tp : held) {
                        long atFreeze = committedAtFreeze.getOrDefault(tp, 0L);
                        // More than one offset past the committed one: a commit marker alone takes one.
                        if (lso.getOrDefault(tp, 0L) > atFreeze + 1) {
                            waiting.add(tp);
                        }
                        if (committed.getOrDefault(tp, atFreeze) > atFreeze) {
                            resumedAt.putIfAbsent(tp, now);
                        }
                    }
                }
                List<ChaosKafka.OpenTransaction> open = safe(() -> kafka.openTransactions(LONG_TRANSACTION_MS), null);
                if (open == null) {
                    unanswered++;
                } else {
                    Set<String> ids = new HashSet<>();
                    for (ChaosKafka.OpenTransaction t : open) {
                        ids.add(t.transactionalId());
                        if (thawAt < 0) {
                            transactions.putIfAbsent(t.transactionalId(), t);
                        }
                    }
                    for (String id : transactions.keySet()) {
                        if (!ids.contains(id)) {
                            transactionEnd.putIfAbsent(id, now);
                        }
                    }
                }
            }
        } finally {
            if (p.frozen()) {
                p.thaw();
                thawAt = System.currentTimeMillis();
            }
        }
        f.put("freeze_ms", thawAt - t0);
        f.put("group", group);
        f.put("group_stable_before_freeze", before != null);
        f.put("members_before_freeze", before == null ? null : before.size());
        f.put("all_members_joined_before_freeze", before != null && before.size() >= expectedMembers);
        f.put("members_evicted_after_ms", evictedAt < 0 ? null : evictedAt - t0);
        f.put("partitions", held.stream().map(TopicPartition::toString).toList());
        f.put("partitions_with_records_waiting", waiting.size());
        long resumed = waiting.stream().filter(resumedAt::containsKey).mapToLong(resumedAt::get).max().orElse(-1);
        f.put("processing_resumed_after_ms", resumed < 0 ? null : resumed - t0);
        f.put("resumed_before_thaw", resumed < 0 ? null : resumed < thawAt);
        List<String> notResumed = waiting.stream().filter(tp -> !resumedAt.containsKey(tp)).map(TopicPartition::toString).sorted().toList();
        if (!notResumed.isEmpty()) {
            f.put("not_resumed", notResumed);
        }
        List<Map<String, Object>> txs = new ArrayList<>();
        long end = System.currentTimeMillis();
        transactions.forEach((id, t) -> {
            Map<String, Object> m = t.toMap(transactionEnd.getOrDefault(id, end));
            m.put("ended", transactionEnd.containsKey(id));
            txs.add(m);
        });
        f.put("open_transactions", txs);
        if (unanswered > 0) {
            f.put("broker_unanswered_samples", unanswered);
        }
    }

    /**
     * The group's members before the freeze, once it is stable (null if it was not within
     * {@code ms}). A member of the frozen process that has not joined yet (a process just
     * restarted) is not among them: then nothing is seen leaving, and nothing is measured.
     */
    private Map<String, Set<TopicPartition>> awaitStable(int expectedMembers, long ms) throws InterruptedException {
        long deadline = System.currentTimeMillis() + ms;
        Map<String, Set<TopicPartition>> m = null;
        while (true) {
            m = safe(() -> kafka.stableMembers(group), null);
            boolean complete = m != null && m.size() >= expectedMembers;
            if (complete || (m != null && System.currentTimeMillis() >= deadline)) {
                Map<String, Set<TopicPartition>> mine = new HashMap<>();
                m.forEach((member, parts) -> mine.put(member,
                        parts.stream().filter(tp -> topics.contains(tp.topic())).collect(java.util.stream.Collectors.toSet())));
                return mine;
            }
            if (System.currentTimeMillis() >= deadline) {
                return null;
            }
            Thread.sleep(SAMPLE_MS);
        }
    }

    private interface Call<T> {
        T call() throws Exception;
    }

    /** The broker's answer, or {@code fallback} when it does not answer (it may be restarting). */
    private static <T> T safe(Call<T> call, T fallback) throws InterruptedException {
        try {
            return call.call();
        } catch (InterruptedException e) {
            throw e;
        } catch (Exception e) {
            return fallback;
        }
    }
}
