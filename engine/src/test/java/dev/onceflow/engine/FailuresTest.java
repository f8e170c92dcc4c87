package dev.onceflow.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.onceflow.engine.Failures.Recovery;
import java.sql.SQLException;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.errors.WakeupException;
import org.junit.jupiter.api.Test;

class FailuresTest {

    @Test
    void databaseOutagesAndConflictsAreTransient() {
        for (String state : new String[] {"08006", "08001", "57P01", "57014", "53300", "40001", "40P01", "55P03", "25006"}) {
            assertThat(Failures.classify(new SQLException("x", state))).as(state).isEqualTo(Recovery.TRANSIENT);
        }
    }

    @Test
    void valuesPostgresRefusesArePoison() {
        for (String state : new String[] {"22P05", "22021", "23505", "42601", "XX000"}) {
            assertThat(Failures.classify(new SQLException("x", state))).as(state).isEqualTo(Recovery.POISON);
        }
        assertThat(Failures.classify(new SQLException("no state"))).isEqualTo(Recovery.POISON);
    }

    @Test
    void aTransientCauseAnywhereInTheChainWins() {
        SQLException batch = new SQLException("batch", "22P05");
        batch.setNextException(new SQLException("gone", "08006"));
        assertThat(Failures.classify(batch)).isEqualTo(Recovery.TRANSIENT);
        assertThat(Failures.classify(new IllegalStateException("wrapped", new SQLException("x", "40001"))))
                .isEqualTo(Recovery.TRANSIENT);
    }

    @Test
    void kafkaErrorsAreTransientFencingRejoinsWakeupStops() {
        assertThat(Failures.classify(new TimeoutException("t"))).isEqualTo(Recovery.TRANSIENT);
        assertThat(Failures.classify(new KafkaException("abortable"))).isEqualTo(Recovery.TRANSIENT);
        assertThat(Failures.classify(new ProducerFencedException("f"))).isEqualTo(Recovery.REJOIN);
        assertThat(Failures.classify(new KafkaException("wrapped", new ProducerFencedException("f")))).isEqualTo(Recovery.REJOIN);
        assertThat(Failures.classify(new WakeupException())).isEqualTo(Recovery.STOP);
    }

    @Test
    void bugsAndJavaErrorsArePoisonForTheRecord() {
        assertThat(Failures.classify(new NullPointerException())).isEqualTo(Recovery.POISON);
        assertThat(Failures.classify(new StackOverflowError())).isEqualTo(Recovery.POISON);
        assertThat(Failures.classify(new OutOfMemoryError("Java heap space"))).isEqualTo(Recovery.POISON);
        assertThat(Failures.classify(new AssertionError("pgjdbc assert"))).isEqualTo(Recovery.POISON);
    }

    @Test
    void aRecordIsExhaustedAtItsLastAttemptAndCountsPerPosition() {
        PoisonAttempts attempts = new PoisonAttempts(3);
        ConsumerRecord<byte[], byte[]> a = new ConsumerRecord<>("t", 0, 5, null, null);
        ConsumerRecord<byte[], byte[]> b = new ConsumerRecord<>("t", 1, 5, null, null);
        assertThat(attempts.failedAndExhausted(a)).isFalse();
        assertThat(attempts.failedAndExhausted(b)).isFalse();
        assertThat(attempts.failedAndExhausted(a)).isFalse();
        assertThat(attempts.failedAndExhausted(a)).isTrue();
        assertThat(attempts.attempts(a)).as("forgotten once dead-lettered").isZero();
        assertThat(attempts.attempts(b)).isEqualTo(1);
        assertThat(new PoisonAttempts(1).failedAndExhausted(a)).as("one attempt: dead-letter at once").isTrue();
    }
}
