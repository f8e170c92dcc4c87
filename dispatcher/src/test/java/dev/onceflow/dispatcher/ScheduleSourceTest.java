package dev.onceflow.dispatcher;

import static org.assertj.core.api.Assertions.assertThat;

import dev.onceflow.common.workflow.Trigger;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Optional;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The schedule source's passes driven by hand (its thread is not started), with a producer that answers on demand. */
@Timeout(10)
class ScheduleSourceTest {

    private static final Instant T0 = Instant.parse("2026-01-10T01:00:00Z");
    /** The first hourly tick after T0. */
    private static final Instant TICK = T0.plusSeconds(3600);

    private final MockProducer<byte[], byte[]> producer = new MockProducer<>(false, null, new ByteArraySerializer(),
            new ByteArraySerializer());
    private final MapCatalog catalog = new MapCatalog().with("beat", 1, true,
            new Trigger.Schedule("0 0 * * * *", null, "UTC", "skip", null, null, null));
    private final Clock clock = Clock.fixed(T0, ZoneOffset.UTC);

    @Test
    void tickKafkaDidNotAcknowledgeIsSentAgainAndCountsOnlyOnceAcknowledged() {
        ScheduleSource source = new ScheduleSource(catalog, id -> Optional.of(T0), producer, clock);
        source.tick(TICK.plusMillis(100)); // the hourly tick is due

        assertThat(keys()).containsExactly("beat@" + TICK.toEpochMilli());
        producer.errorNext(new TimeoutException("Expiring 1 record(s) for onceflow.dispatch.bykey-0: 600000 ms has passed"));
        assertThat(source.fired()).isZero();
        assertThat(source.unacknowledged()).isEqualTo(1);

        // The next pass after the backoff sends the same tick again (and nothing new is due yet).
        source.tick(TICK.plusMillis(100).plus(ScheduleSource.RESEND_BACKOFF_MAX));
        assertThat(keys()).containsExactly("beat@" + TICK.toEpochMilli(), "beat@" + TICK.toEpochMilli());
        assertThat(producer.history().get(1).value()).isEqualTo(producer.history().get(0).value());
        producer.completeNext();

        assertThat(source.fired()).isEqualTo(1);
        assertThat(source.unacknowledged()).isZero();
    }

    @Test
    void acknowledgedTickIsNotSentAgain() {
        ScheduleSource source = new ScheduleSource(catalog, id -> Optional.of(T0), producer, clock);
        source.tick(TICK.plusMillis(100));
        producer.completeNext();
        source.tick(TICK.plusMillis(100).plus(ScheduleSource.RESEND_BACKOFF_MAX));

        assertThat(keys()).hasSize(1);
        assertThat(source.fired()).isEqualTo(1);
    }

    private java.util.List<String> keys() {
        return producer.history().stream().map(ProducerRecord::key).map(k -> new String(k, StandardCharsets.UTF_8)).toList();
    }
}
