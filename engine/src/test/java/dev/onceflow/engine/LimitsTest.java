package dev.onceflow.engine;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The rate limit's arithmetic (ADR 0022), without a database: {@link Limits#reserve}. */
class LimitsTest {

    @Test
    void afterAQuietSpellABurstStartsAtOnceAndTheRestOnePerInterval() {
        long[] tat = {0};
        long now = 10_000_000;
        List<Long> starts = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            starts.add(Limits.reserve(tat, now, 4, 3));
        }
        assertThat(starts).containsExactly(now, now, now, now + 250_000, now + 500_000, now + 750_000);
        assertThat(tat[0]).isEqualTo(now + 6 * 250_000);
    }

    @Test
    void aBucketRefillsWithTime() {
        long[] tat = {0};
        for (int i = 0; i < 3; i++) {
            Limits.reserve(tat, 0, 1, 3); // the burst spent at 0
        }
        assertThat(Limits.reserve(tat, 0, 1, 3)).isEqualTo(1_000_000);
        assertThat(Limits.reserve(tat, 10_000_000, 1, 3)).as("ten quiet seconds: full again").isEqualTo(10_000_000);
        assertThat(Limits.reserve(tat, 10_000_000, 1, 3)).isEqualTo(10_000_000);
        assertThat(Limits.reserve(tat, 10_000_000, 1, 3)).isEqualTo(10_000_000);
        assertThat(Limits.reserve(tat, 10_000_000, 1, 3)).isEqualTo(11_000_000);
    }

    /** The bound the ADR promises, for random arrivals: no one-second window holds more than R + B starts. */
    @Test
    void noSecondEverHoldsMoreThanRatePlusBurstStartsAndStartsNeverGoBackwards() {
        Random random = new Random(22);
        for (int run = 0; run < 200; run++) {
            double rate = 1 + random.nextInt(50);
            int burst = 1 + random.nextInt(20);
            long[] tat = {0};
            long now = 0;
            List<Long> starts = new ArrayList<>();
            for (int i = 0; i < 500; i++) {
                now += random.nextInt(3) == 0 ? random.nextInt(2_000_000) : random.nextInt(20_000);
                long start = Limits.reserve(tat, now, rate, burst);
                assertThat(start).isGreaterThanOrEqualTo(now);
                if (!starts.isEmpty()) {
                    assertThat(start).isGreaterThanOrEqualTo(starts.get(starts.size() - 1));
                }
                starts.add(start);
            }
            for (int i = 0; i < starts.size(); i++) {
                int inWindow = 0;
                for (int j = i; j < starts.size() && starts.get(j) < starts.get(i) + 1_000_000; j++) {
                    inWindow++;
                }
                assertThat(inWindow).as("rate %s burst %s, from start %s", rate, burst, i).isLessThanOrEqualTo((int) rate + burst);
            }
        }
    }
}
