package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class StartupWaitTest {

    /** A clock that moves only when the wait sleeps, and a record of every sleep and every log line. */
    private final long[] now = {0};
    private final List<Long> sleeps = new ArrayList<>();
    private final List<String> lines = new ArrayList<>();

    private StartupWait waitFor(long timeoutMs) {
        return new StartupWait(timeoutMs, () -> now[0], ms -> {
            sleeps.add(ms);
            now[0] += ms;
        }, lines::add);
    }

    private static StartupWait.Attempt<String> upAfter(int failures, AtomicInteger calls) {
        return () -> {
            if (calls.incrementAndGet() <= failures) {
                throw new StartupWait.NotYet("Connection to localhost:5432 refused", null);
            }
            return "up";
        };
    }

    @Test
    void backoffDoublesFromHalfASecondToFifteenSeconds() {
        assertThat(List.of(1, 2, 3, 4, 5, 6, 7, 40).stream().map(StartupWait::delay).toList())
                .containsExactly(500L, 1_000L, 2_000L, 4_000L, 8_000L, 15_000L, 15_000L, 15_000L);
    }

    @Test
    void retriesUntilTheDependencyIsUpLoggingOneLinePerAttemptWithTheNextDelay() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        assertThat(waitFor(300_000).await("PostgreSQL", "jdbc:postgresql://db:5432/postgres", upAfter(3, calls))).isEqualTo("up");
        assertThat(calls).hasValue(4);
        assertThat(sleeps).containsExactly(500L, 1_000L, 2_000L);
        assertThat(lines).hasSize(3);
        assertThat(lines.get(0)).isEqualTo("Waiting for PostgreSQL at jdbc:postgresql://db:5432/postgres: Connection to localhost:5432"
                + " refused (attempt 1, next in 0.5 s, giving up after 300 s)");
        assertThat(lines.get(2)).contains("attempt 3, next in 2 s");
    }

    @Test
    void givesUpWhenTheNextAttemptWouldStartAfterTheLimitNamingWhatAndWhere() {
        AtomicInteger calls = new AtomicInteger();
        // 0.5 + 1 + 2 + 4 = 7.5 s of waiting fit in 10 s; the next delay (8 s) would not.
        assertThatThrownBy(() -> waitFor(10_000).await("Kafka", "kafka-0:9092", upAfter(100, calls)))
                .isInstanceOf(IllegalStateException.class)
                .hasMessage("gave up waiting for Kafka at kafka-0:9092 after 7.5 s (5 attempts, limit 10 s, --start-timeout):"
                        + " Connection to localhost:5432 refused");
        assertThat(calls).hasValue(5);
        assertThat(sleeps).containsExactly(500L, 1_000L, 2_000L, 4_000L);
    }

    @Test
    void aZeroLimitTriesOnceWithoutWaiting() {
        AtomicInteger calls = new AtomicInteger();
        assertThatThrownBy(() -> waitFor(0).await("Kafka", "localhost:9092", upAfter(1, calls)))
                .hasMessageContaining("after 0 s (1 attempt, limit 0 s");
        assertThat(sleeps).isEmpty();
        assertThat(lines).isEmpty();
    }

    @Test
    void aFailureThatWaitingCannotFixEndsTheWaitAtOnce() {
        assertThatThrownBy(() -> waitFor(300_000).await("PostgreSQL", "db", () -> {
            throw new IllegalStateException("password authentication failed for user \"postgres\"");
        })).hasMessageContaining("password authentication failed");
        assertThat(sleeps).isEmpty();
    }
}
