package dev.onceflow.common.workflow;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

class RetryPolicyTest {

    private static RetryPolicy policy(long backoffMs, long maxBackoffMs, double jitter) {
        return new RetryPolicy(null, backoffMs, maxBackoffMs, jitter, null);
    }

    private static RetryPolicy on(String... classes) {
        return new RetryPolicy(null, null, null, null, List.of(classes));
    }

    @Test
    void defaultsAreThreeAttemptsOneSecondDoublingToAMinuteWithJitterOnTransientErrors() {
        RetryPolicy p = RetryPolicy.defaults();
        assertThat(p.attempts()).isEqualTo(3);
        assertThat(p.backoffMs()).isEqualTo(1_000L);
        assertThat(p.maxBackoffMs()).isEqualTo(60_000L);
        assertThat(p.jitter()).isEqualTo(0.2);
        assertThat(p.on()).containsExactly("timeout", "connection", "5xx", "429");
    }

    @Test
    void backoffDoublesPerAttemptUpToTheCap() {
        RetryPolicy p = policy(1_000, 60_000, 0);
        assertThat(List.of(1, 2, 3, 4, 5, 6, 7, 8).stream().map(a -> p.backoffMs(a, 0.7)).toList())
                .containsExactly(1_000L, 2_000L, 4_000L, 8_000L, 16_000L, 32_000L, 60_000L, 60_000L);
        assertThat(p.backoffMs(100, 0.5)).as("no overflow at the largest attempt").isEqualTo(60_000L);
        assertThat(p.backoffMs(Integer.MAX_VALUE, 0.5)).isEqualTo(60_000L);
        assertThat(policy(Long.MAX_VALUE / 2, Long.MAX_VALUE, 0).backoffMs(3, 0.5)).isEqualTo(Long.MAX_VALUE);
        assertThat(policy(0, 60_000, 0.5).backoffMs(10, 1)).as("a zero backoff stays zero").isZero();
        assertThat(policy(0, 0, 0).backoffMs(100, 1)).isZero();
    }

    @Test
    void jitterSpreadsTheCappedWaitEvenlyAroundIt() {
        RetryPolicy p = policy(1_000, 60_000, 0.2);
        assertThat(p.backoffMs(1, 0.0)).isEqualTo(800L);
        assertThat(p.backoffMs(1, 0.5)).isEqualTo(1_000L);
        assertThat(p.backoffMs(1, 1.0)).isEqualTo(1_200L);
        assertThat(p.backoffMs(3, 0.25)).isEqualTo(3_600L);
        assertThat(p.backoffMs(10, 1.0)).as("jitter applies after the cap").isEqualTo(72_000L);
        assertThat(policy(1_000, 60_000, 1.0).backoffMs(1, 0.0)).as("never below 0").isZero();
        assertThat(policy(1_000, 60_000, 1.0).backoffMs(1, 1.0)).isEqualTo(2_000L);
    }

    @Test
    void backoffRefusesAnAttemptBelowOneAndARandomOutsideZeroToOne() {
        RetryPolicy p = RetryPolicy.defaults();
        assertThatThrownBy(() -> p.backoffMs(0, 0.5)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("attempt");
        assertThatThrownBy(() -> p.backoffMs(1, 1.5)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("random01");
        assertThatThrownBy(() -> p.backoffMs(1, Double.NaN)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void theDefaultsRetryTimeoutsConnectionsServerErrorsAndTooManyRequests() {
        RetryPolicy p = RetryPolicy.defaults();
        assertThat(p.retries("timeout")).isTrue();
        assertThat(p.retries("connection")).isTrue();
        assertThat(p.retries("500")).isTrue();
        assertThat(p.retries("503")).isTrue();
        assertThat(p.retries("5xx")).isTrue();
        assertThat(p.retries("429")).isTrue();
        assertThat(p.retries("404")).isFalse();
        assertThat(p.retries("400")).isFalse();
        assertThat(p.retries("40001")).isFalse();
        assertThat(p.retries("expression")).isFalse();
        assertThat(p.retries(null)).isFalse();
    }

    @Test
    void clientErrorsSqlStatesAndClassesAndAny() {
        assertThat(on("4xx").retries("404")).isTrue();
        assertThat(on("4xx").retries("429")).isTrue();
        assertThat(on("4xx").retries("503")).isFalse();
        assertThat(on("429").retries("404")).isFalse();
        assertThat(on("40001").retries("40001")).isTrue();
        assertThat(on("40001").retries("40P01")).isFalse();
        assertThat(on("40").retries("40P01")).as("a SQLSTATE class covers its states").isTrue();
        assertThat(on("08").retries("08006")).isTrue();
        assertThat(on("08").retries("08")).isTrue();
        assertThat(on("40").retries("400")).as("an HTTP status is not a SQLSTATE").isFalse();
        assertThat(on("5xx").retries("50000")).as("a SQLSTATE is not an HTTP status").isFalse();
        assertThat(on("any").retries("expression")).isTrue();
        assertThat(on("any").retries(null)).isTrue();
        assertThat(on("timeout").retries("connection")).isFalse();
    }
}
