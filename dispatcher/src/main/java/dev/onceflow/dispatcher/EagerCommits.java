package dev.onceflow.dispatcher;

import java.util.concurrent.atomic.AtomicLong;

/**
 * When a processor asks Kafka Streams to commit at once instead of at the next commit interval
 * (ADR 0018): at most once per {@code minGapMs} for all the tasks of one processor, whichever
 * thread runs them. Quiet, every record passes on within its own short transaction; busy, the
 * extra transactions are bounded (1000 / minGapMs a second), so the batches the commit interval
 * gathers stay large. A record between two allowed requests is committed by the next commit of
 * its thread anyway (the next allowed request or the interval). Thread-safe.
 */
final class EagerCommits {

    private final long minGapMs;
    private final AtomicLong last = new AtomicLong(Long.MIN_VALUE / 2);

    /** @param minGapMs the least time between two requests; 0 or less: never request (interval only) */
    EagerCommits(long minGapMs) {
        this.minGapMs = minGapMs;
    }

    /** Whether a record processed at {@code nowMs} should request a commit now. */
    boolean request(long nowMs) {
        if (minGapMs <= 0) {
            return false;
        }
        long prev = last.get();
        return nowMs - prev >= minGapMs && last.compareAndSet(prev, nowMs);
    }
}
