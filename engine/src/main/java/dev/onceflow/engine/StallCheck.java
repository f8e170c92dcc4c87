package dev.onceflow.engine;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.common.TopicPartition;

/**
 * The pure logic of {@link StallWatch}: from successive snapshots of a partition's offsets, which
 * partitions stopped moving while records wait; from successive snapshots of producers' open
 * transactions, which transactions have been open long enough to be called hanging. Time comes
 * from the caller. Not thread-safe: owned by one {@link StallWatch}.
 */
final class StallCheck {

    /**
     * One partition of a topic the engines read, at one moment.
     *
     * @param end            log-end offset (high watermark)
     * @param stable         last stable offset: what a {@code read_committed} reader may read up to
     * @param committed      the engine group's committed offset, -1 when none
     */
    record Offsets(long end, long stable, long committed) {
        long waiting() {
            return Math.max(0, end - Math.max(committed, 0));
        }

        /**
         * Whether records wait: some are held behind an open transaction, or more than one is
         * readable past the committed offset. One is not enough: after a transaction the last
         * offset is its commit marker, which a consumer that read everything has not committed
         * past, so a quiet partition rests at {@code committed = stable - 1}.
         */
        boolean recordsWait() {
            return stable < end || stable - Math.max(committed, 0) > 1;
        }
    }

    /** A partition whose committed offset and last stable offset have not moved while records wait. */
    record Stall(TopicPartition partition, Offsets offsets, long sinceMs) {
        String describe(long nowMs) {
            String why = offsets.stable() < offsets.end()
                    ? "its last stable offset " + offsets.stable() + " is held below the end " + offsets.end()
                    + " by an open transaction"
                    : "the engine group's committed offset " + offsets.committed() + " is not moving (end " + offsets.end() + ")";
            return partition + ": no progress for " + (nowMs - sinceMs) / 1000 + " s while " + offsets.waiting()
                    + " records wait; " + why;
        }
    }

    /** An open transaction of one producer on one partition. */
    record OpenTransaction(TopicPartition partition, long producerId, int epoch, int coordinatorEpoch, long startOffset) {
    }

    private record Seen(Offsets offsets, long sinceMs) {
    }

    private final long stallAfterMs;
    private final Map<TopicPartition, Seen> partitions = new HashMap<>();
    private final Map<OpenTransaction, Long> transactions = new HashMap<>();

    StallCheck(long stallAfterMs) {
        this.stallAfterMs = stallAfterMs;
    }

    /** Takes a snapshot; returns the partitions stalled for at least {@code stallAfterMs}. */
    List<Stall> offsets(Map<TopicPartition, Offsets> snapshot, long nowMs) {
        List<Stall> stalled = new ArrayList<>();
        partitions.keySet().retainAll(snapshot.keySet());
        for (Map.Entry<TopicPartition, Offsets> e : snapshot.entrySet()) {
            Offsets now = e.getValue();
            Seen before = partitions.get(e.getKey());
            // Progress is a move of what readers may read or of what the engines committed; a
            // partition with nothing waiting is idle, not stalled.
            boolean moved = before == null || before.offsets().stable() != now.stable()
                    || before.offsets().committed() != now.committed() || !now.recordsWait();
            Seen seen = moved ? new Seen(now, nowMs) : new Seen(now, before.sinceMs());
            partitions.put(e.getKey(), seen);
            if (!moved && nowMs - seen.sinceMs() >= stallAfterMs) {
                stalled.add(new Stall(e.getKey(), now, seen.sinceMs()));
            }
        }
        return stalled;
    }

    /**
     * Takes a snapshot of the open transactions; returns those seen open, with the same start
     * offset, for at least {@code hangingAfterMs}. A transaction that the coordinator aborts or
     * commits in time disappears from the snapshots and is forgotten.
     */
    List<OpenTransaction> transactions(Set<OpenTransaction> open, long nowMs, long hangingAfterMs) {
        transactions.keySet().retainAll(new HashSet<>(open));
        List<OpenTransaction> hanging = new ArrayList<>();
        for (OpenTransaction t : open) {
            long since = transactions.computeIfAbsent(t, k -> nowMs);
            if (nowMs - since >= hangingAfterMs) {
                hanging.add(t);
            }
        }
        return hanging;
    }

    void forget(OpenTransaction t) {
        transactions.remove(t);
    }
}
