package dev.onceflow.deploy;

import java.util.function.Consumer;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Waits at start for what a role needs (PostgreSQL, the Kafka broker), so that a fleet can start in
 * any order: an attempt that finds its dependency not up yet ({@link NotYet}) is retried with an
 * exponential backoff ({@value #FIRST_DELAY_MS} ms doubling to {@value #MAX_DELAY_MS} ms), one log
 * line per failed attempt naming what it waits for, where, why, and the next delay; the total wait
 * is bounded by {@code timeoutMs}. Any other exception (a wrong password, a failing migration) ends
 * the wait at once: waiting would not fix it.
 *
 * <p>The clock and the sleeper are injected so that the schedule is tested without sleeping.
 * Not thread-safe; one per start-up.
 */
final class StartupWait {

    private static final Logger LOG = LoggerFactory.getLogger(StartupWait.class);
    static final long FIRST_DELAY_MS = 500;
    static final long MAX_DELAY_MS = 15_000;

    /** Sleeps between attempts; {@link Thread#sleep(long)} outside tests. */
    interface Sleeper {
        void sleep(long millis) throws InterruptedException;
    }

    /** One try at reaching a dependency. */
    interface Attempt<T> {
        T run() throws NotYet;
    }

    /** The dependency is not there yet and may come: retry. The message says why, naming the address. */
    static final class NotYet extends Exception {
        NotYet(String reason, Throwable cause) {
            super(reason, cause);
        }
    }

    private final long timeoutMs;
    private final LongSupplier clock;
    private final Sleeper sleeper;
    private final Consumer<String> report;

    StartupWait(long timeoutMs) {
        this(timeoutMs, System::currentTimeMillis, Thread::sleep, LOG::warn);
    }

    StartupWait(long timeoutMs, LongSupplier clock, Sleeper sleeper, Consumer<String> report) {
        this.timeoutMs = timeoutMs;
        this.clock = clock;
        this.sleeper = sleeper;
        this.report = report;
    }

    /** The delay after failed attempt {@code attempt} (1-based): 0.5 s, 1 s, 2 s, 4 s, 8 s, then 15 s. */
    static long delay(int attempt) {
        long d = FIRST_DELAY_MS << Math.min(attempt - 1, 20);
        return Math.min(d, MAX_DELAY_MS);
    }

    /**
     * Runs {@code attempt} until it succeeds, waiting between attempts; throws {@link IllegalStateException}
     * naming {@code what} and {@code address} when the next attempt would start after the time limit.
     */
    <T> T await(String what, String address, Attempt<T> attempt) throws InterruptedException {
        long start = clock.getAsLong();
        for (int n = 1; ; n++) {
            try {
                T result = attempt.run();
                if (n > 1) {
                    LOG.info("{} at {} is up (after {} attempts, {} ms)", what, address, n, clock.getAsLong() - start);
                }
                return result;
            } catch (NotYet e) {
                long waited = clock.getAsLong() - start;
                long next = delay(n);
                if (waited + next > timeoutMs) {
                    throw new IllegalStateException("gave up waiting for " + what + " at " + address + " after "
                            + seconds(waited) + " (" + n + (n == 1 ? " attempt" : " attempts") + ", limit "
                            + seconds(timeoutMs) + ", --start-timeout): " + e.getMessage(), e);
                }
                report.accept("Waiting for " + what + " at " + address + ": " + e.getMessage() + " (attempt " + n
                        + ", next in " + seconds(next) + ", giving up after " + seconds(timeoutMs) + ")");
                sleeper.sleep(next);
            }
        }
    }

    private static String seconds(long millis) {
        return millis % 1000 == 0 ? millis / 1000 + " s" : String.format(java.util.Locale.ROOT, "%.1f s", millis / 1000.0);
    }
}
