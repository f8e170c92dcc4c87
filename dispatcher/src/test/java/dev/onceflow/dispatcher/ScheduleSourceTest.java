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

    @Test
    void aLimitedScheduleFiresItsFirstTicksOnlyOnEveryReplica() {
        // every second from T0+1s, at most 3 runs: two sources (replicas) that start at different times fire the same 3 keys
        MapCatalog limited = new MapCatalog().with("thrice", 1, true,
                new Trigger.Schedule(null, 1000L, "UTC", "fire-all", null, T0.plusSeconds(1), null, 3));
        MockProducer<byte[], byte[]> other = new MockProducer<>(true, null, new ByteArraySerializer(), new ByteArraySerializer());
        ScheduleSource early = new ScheduleSource(limited, id -> Optional.empty(), producer, Clock.fixed(T0, ZoneOffset.UTC));
        ScheduleSource late = new ScheduleSource(limited, id -> Optional.of(T0.plusSeconds(2)), other,
                Clock.fixed(T0.plusMillis(2_500), ZoneOffset.UTC));
        for (int ms = 0; ms <= 10_000; ms += 250) {
            early.tick(T0.plusMillis(ms));
            if (ms >= 2_500) {
                late.tick(T0.plusMillis(ms));
            }
        }
        java.util.List<String> expected = java.util.List.of("thrice@" + T0.plusSeconds(1).toEpochMilli(),
                "thrice@" + T0.plusSeconds(2).toEpochMilli(), "thrice@" + T0.plusSeconds(3).toEpochMilli());
        assertThat(keys()).containsExactlyElementsOf(expected);
        // the late replica knew the tick T0+2s had fired: it fires T0+3s (a copy the event key absorbs), and never a fourth
        assertThat(other.history().stream().map(r -> new String(r.key(), StandardCharsets.UTF_8)).toList())
                .containsExactly(expected.get(2));
    }

    private java.util.List<String> keys() {
        return producer.history().stream().map(ProducerRecord::key).map(k -> new String(k, StandardCharsets.UTF_8)).toList();
    }
}
