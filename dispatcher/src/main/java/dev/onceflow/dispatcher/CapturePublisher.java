package dev.onceflow.dispatcher;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Publishes one batch of the row-change capture's records (events for {@code onceflow.dispatch.bykey}
 * and dead letters), in the batch's order, and returns only once Kafka acknowledged every one, so
 * that the batch may be marked processed.
 *
 * <p><b>Resending keeps per-row order.</b> After a failure it resends <em>everything from the first
 * record Kafka did not acknowledge</em>, in the batch's order (the idempotent producer has already
 * retried each record for {@code delivery.timeout.ms}). Resending only the failed records, as before
 * ADR 0020, could put a row's later change ahead of its earlier one: changes A then B of one row, A
 * failed and B acknowledged elsewhere in the round, and A was sent again after B. Resent records
 * that had been acknowledged are copies with the same event key, absorbed by the dispatcher's
 * dedupe (which reads the {@code onceflow.event.key} header) and by the engine's unique event key.
 *
 * <p>What a resend cannot undo is a later record of one partition acknowledged while an earlier
 * record of the <em>same</em> partition failed: the idempotent producer gives up on a batch only
 * past its delivery timeout and then sends the partition's next batches under a new epoch. Only a
 * publish of the whole batch in one Kafka transaction, aborted and resent as a whole (ADR 0020,
 * "the re-key hop goes"), closes that case.
 *
 * <p>Gives up only when the source closes ({@code running} false): the batch is then not marked
 * processed and is replayed by the next leader. Used by the capture's one thread: not thread-safe.
 */
final class CapturePublisher {

    private static final Logger LOG = LoggerFactory.getLogger(CapturePublisher.class);
    static final long FIRST_BACKOFF_MS = 200;
    static final long MAX_BACKOFF_MS = 5_000;

    /** Waits between resends; {@code Thread::sleep} in production. */
    @FunctionalInterface
    interface Backoff {
        void sleep(long ms) throws InterruptedException;
    }

    private final Producer<byte[], byte[]> producer;
    private final BooleanSupplier running;
    private final Backoff backoff;
    private Throwable lastFailure;

    CapturePublisher(Producer<byte[], byte[]> producer, BooleanSupplier running, Backoff backoff) {
        this.producer = producer;
        this.running = running;
        this.backoff = backoff;
    }

    /** Sends {@code batch} and waits until Kafka acknowledged all of it, resending from the first failure. */
    void publish(List<ProducerRecord<byte[], byte[]>> batch) throws InterruptedException {
        List<ProducerRecord<byte[], byte[]>> pending = batch;
        long waitMs = FIRST_BACKOFF_MS;
        while (!pending.isEmpty()) {
            int firstFailed = sendAll(pending);
            if (firstFailed < 0) {
                return;
            }
            if (!running.getAsBoolean()) {
                throw new InterruptedException("row-change capture closing before Kafka acknowledged " + (pending.size() - firstFailed)
                        + " events; they are replayed by the next capture");
            }
            LOG.warn("Kafka did not acknowledge row-change record {} of {} ({}); resending it and the {} after it, in order, in {} ms",
                    firstFailed + 1, pending.size(), lastFailure, pending.size() - firstFailed - 1, waitMs);
            backoff.sleep(waitMs);
            waitMs = Math.min(waitMs * 2, MAX_BACKOFF_MS);
            pending = List.copyOf(pending.subList(firstFailed, pending.size()));
        }
    }

    /** Sends every record and waits for every answer; the index of the first not acknowledged, or -1. */
    private int sendAll(List<ProducerRecord<byte[], byte[]>> records) throws InterruptedException {
        List<Future<?>> sent = new ArrayList<>();
        for (ProducerRecord<byte[], byte[]> r : records) {
            sent.add(producer.send(r));
        }
        int firstFailed = -1;
        for (int i = 0; i < sent.size(); i++) {
            try {
                sent.get(i).get(); // every answer awaited: nothing of this round is in flight when the resend starts
            } catch (ExecutionException e) {
                lastFailure = e.getCause();
                firstFailed = firstFailed < 0 ? i : firstFailed;
            }
        }
        return firstFailed;
    }
}
