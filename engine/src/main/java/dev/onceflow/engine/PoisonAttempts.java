package dev.onceflow.engine;

import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * How many times each record failed with a {@link Failures.Recovery#POISON} failure on this
 * worker. A record is dead-lettered at its {@code maxAttempts}-th failure; until then its whole
 * batch is rolled back and delivered again after a back-off, since even an unexpected error may
 * pass on a second try. Bounded: the oldest positions are forgotten first (a forgotten record
 * only starts counting again). The count lives in memory: a record whose partition moves to
 * another worker gets at most {@code maxAttempts} more tries there. Not thread-safe: one per worker.
 */
final class PoisonAttempts {

    private static final int REMEMBERED = 1_024;

    private final int maxAttempts;
    private final Map<String, Integer> failures = new LinkedHashMap<>(16, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Integer> eldest) {
            return size() > REMEMBERED;
        }
    };

    PoisonAttempts(int maxAttempts) {
        if (maxAttempts < 1) {
            throw new IllegalArgumentException("maxAttempts must be at least 1, got " + maxAttempts);
        }
        this.maxAttempts = maxAttempts;
    }

    /** Counts one more failure of the record; returns true when it has used up its attempts. */
    boolean failedAndExhausted(ConsumerRecord<?, ?> record) {
        int n = failures.merge(position(record), 1, Integer::sum);
        if (n >= maxAttempts) {
            failures.remove(position(record));
            return true;
        }
        return false;
    }

    int attempts(ConsumerRecord<?, ?> record) {
        return failures.getOrDefault(position(record), 0);
    }

    int maxAttempts() {
        return maxAttempts;
    }

    private static String position(ConsumerRecord<?, ?> record) {
        return record.topic() + "-" + record.partition() + "@" + record.offset();
    }
}
