package dev.onceflow.dispatcher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Future;
import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(10)
class CapturePublisherTest {

    /** Acknowledges every record except those named in {@code failOnce}, each refused on its first send only. */
    private static class Flaky extends MockProducer<byte[], byte[]> {
        final Set<String> failOnce = new HashSet<>();
        final List<String> acknowledged = new ArrayList<>();

        Flaky() {
            super(true, null, new ByteArraySerializer(), new ByteArraySerializer());
        }

        @Override
        public synchronized Future<RecordMetadata> send(ProducerRecord<byte[], byte[]> record, Callback callback) {
            String value = new String(record.value(), StandardCharsets.UTF_8);
            if (failOnce.remove(value)) {
                return CompletableFuture.failedFuture(new TimeoutException("expired before the broker answered: " + value));
            }
            acknowledged.add(value);
            return super.send(record, callback);
        }
    }

    private final Flaky producer = new Flaky();
    private final List<Long> waits = new ArrayList<>();

    @Test
    void aFailedRecordIsResentWithEverythingAfterItInBatchOrder() throws Exception {
        producer.failOnce.add("row1-update");
        new CapturePublisher(producer, () -> true, waits::add).publish(batch("row1-insert", "row1-update", "row2-insert", "row1-delete"));

        // Before ADR 0020 only the failed record was resent, landing after row1-delete. Now the rest of
        // the batch follows it again, so the last copy of each row's changes is in commit order; the
        // earlier copy of row1-delete has the same event key and is absorbed by the dedupe.
        assertThat(producer.acknowledged)
                .containsExactly("row1-insert", "row2-insert", "row1-delete", "row1-update", "row2-insert", "row1-delete");
        assertThat(waits).containsExactly(CapturePublisher.FIRST_BACKOFF_MS);
    }

    @Test
    void aBatchAcknowledgedAtOnceIsSentOnce() throws Exception {
        new CapturePublisher(producer, () -> true, waits::add).publish(batch("a", "b", "c"));

        assertThat(producer.acknowledged).containsExactly("a", "b", "c");
        assertThat(waits).isEmpty();
    }

    @Test
    void resendsBackOffExponentiallyUntilAcknowledged() throws Exception {
        Flaky stubborn = new Flaky() {
            int refusals = 3;

            @Override
            public synchronized Future<RecordMetadata> send(ProducerRecord<byte[], byte[]> record, Callback callback) {
                if (refusals-- > 0) {
                    return CompletableFuture.failedFuture(new TimeoutException("broker away"));
                }
                return super.send(record, callback);
            }
        };
        new CapturePublisher(stubborn, () -> true, waits::add).publish(batch("a"));

        assertThat(stubborn.acknowledged).containsExactly("a");
        assertThat(waits).containsExactly(200L, 400L, 800L);
    }

    @Test
    void aClosingCaptureGivesUpSoThatTheBatchIsReplayedByTheNextLeader() {
        producer.failOnce.add("b");
        CapturePublisher closing = new CapturePublisher(producer, () -> false, waits::add);

        assertThatThrownBy(() -> closing.publish(batch("a", "b", "c"))).isInstanceOf(InterruptedException.class)
                .hasMessageContaining("2 events");
        assertThat(waits).isEmpty();
    }

    private static List<ProducerRecord<byte[], byte[]>> batch(String... values) {
        List<ProducerRecord<byte[], byte[]>> out = new ArrayList<>();
        for (String v : values) {
            out.add(new ProducerRecord<>("onceflow.dispatch.bykey", v.getBytes(StandardCharsets.UTF_8), v.getBytes(StandardCharsets.UTF_8)));
        }
        return out;
    }
}
