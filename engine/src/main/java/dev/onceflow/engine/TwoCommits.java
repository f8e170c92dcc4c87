package dev.onceflow.engine;

import java.sql.SQLException;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The engine's commit protocol (design, step 3; ADR 0001), written once for every caller: a
 * poll batch, the outcomes of {@code http} calls, due timers.
 * <ol>
 *   <li>PostgreSQL commit: the durable proof of what ran (processed keys, outcomes, timers);</li>
 *   <li>one Kafka transaction: the follow-up records and, for a poll batch, its offsets sent with
 *       {@code consumer.groupMetadata()}, so a worker that lost those partitions is fenced here;</li>
 *   <li>the marks that may only follow the Kafka commit ({@link Marks}: timers whose tasks are now
 *       out), in a PostgreSQL transaction of their own.</li>
 * </ol>
 * What a failure means depends on where it happened, and {@link Failed#stage} says it:
 * {@link Stage#NOTHING_COMMITTED}: the work is rolled back and may be tried again as it was;
 * {@link Stage#DATABASE_COMMITTED}: PostgreSQL holds the outcome, the Kafka transaction was
 * aborted, and the work must come back through its record's redelivery or its timer, whose
 * processed key re-emits the follow-ups. A failure of the marks loses nothing (their timers fire
 * again and the processed keys absorb the second delivery), so it is logged and not thrown.
 * Every failure leaves PostgreSQL rolled back and no Kafka transaction open.
 *
 * <p>One per set of Kafka clients of a worker, used by its thread only; not thread-safe.
 */
final class TwoCommits {

    private static final Logger LOG = LoggerFactory.getLogger(TwoCommits.class);

    /** What was durable when a commit failed. */
    enum Stage { NOTHING_COMMITTED, DATABASE_COMMITTED }

    /** Called between the two commits (traces of what committed, the tests' crash seam). */
    interface BetweenCommits {
        void run() throws Exception;

        BetweenCommits NONE = () -> { };
    }

    /** PostgreSQL writes that may only follow the Kafka commit. */
    interface Marks {
        void mark(ExecutionStore store) throws SQLException;

        Marks NONE = store -> { };
    }

    /** A commit that failed, what was durable then, and the recovery its cause needs ({@link Failures#classify}). */
    static final class Failed extends Exception {
        final Stage stage;
        final Failures.Recovery recovery;

        Failed(Stage stage, Throwable cause, Failures.Recovery recovery) {
            super(stage + ": " + Failures.describe(cause), cause, false, false);
            this.stage = stage;
            this.recovery = recovery;
        }
    }

    private final Producer<byte[], byte[]> producer;
    private final Supplier<ConsumerGroupMetadata> group;
    private boolean transactionOpen;

    TwoCommits(Producer<byte[], byte[]> producer, Supplier<ConsumerGroupMetadata> group) {
        this.producer = producer;
        this.group = group;
    }

    /**
     * Commits {@code store}'s open transaction, then produces {@code records} (and sends
     * {@code offsets}, when any) in one Kafka transaction, then applies {@code marks}.
     *
     * @throws Failed with PostgreSQL rolled back and the Kafka transaction aborted; a failed abort
     *         leaves the producer unusable and is {@link Failures.Recovery#REJOIN}: close the clients
     */
    void commit(ExecutionStore store, List<ProducerRecord<byte[], byte[]>> records,
                Map<TopicPartition, OffsetAndMetadata> offsets, BetweenCommits between, Marks marks) throws Failed {
        Stage stage = Stage.NOTHING_COMMITTED;
        try {
            store.commit();
            stage = Stage.DATABASE_COMMITTED;
            between.run();
            producer.beginTransaction();
            transactionOpen = true;
            for (ProducerRecord<byte[], byte[]> record : records) {
                producer.send(record);
            }
            if (!offsets.isEmpty()) {
                // Offsets carry the group generation: a worker that lost these partitions is fenced here.
                producer.sendOffsetsToTransaction(offsets, group.get());
            }
            producer.commitTransaction();
            transactionOpen = false;
        } catch (Throwable e) {
            store.rollbackQuietly();
            try {
                abort();
            } catch (RuntimeException abortFailed) {
                abortFailed.addSuppressed(e);
                throw new Failed(stage, abortFailed, Failures.Recovery.REJOIN);
            }
            throw new Failed(stage, e, Failures.classify(e));
        }
        mark(store, marks);
    }

    private void mark(ExecutionStore store, Marks marks) throws Failed {
        try {
            marks.mark(store);
            store.commit();
        } catch (Throwable e) {
            store.rollbackQuietly();
            Failures.Recovery recovery = Failures.classify(e);
            if (recovery == Failures.Recovery.STOP) {
                throw new Failed(Stage.DATABASE_COMMITTED, e, recovery);
            }
            // Both commits stand; the timers not marked fire again, and their tasks' processed keys absorb them.
            LOG.warn("Marking timers fired after a Kafka commit failed ({}); they fire again, harmlessly", Failures.describe(e));
        }
    }

    /**
     * Aborts the open Kafka transaction, if any. If the abort itself fails the producer is
     * unusable: the exception goes to the caller, who closes the clients.
     */
    void abort() {
        if (transactionOpen) {
            transactionOpen = false;
            producer.abortTransaction();
        }
    }
}
