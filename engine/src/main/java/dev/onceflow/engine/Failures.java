package dev.onceflow.engine;

import java.sql.SQLException;
import java.util.Set;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.InterruptException;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.WakeupException;

/**
 * The one place that decides what a failure in the engine's loop needs, by its type and the
 * types on its cause chain (as Kafka Streams' {@code StreamThread.runLoop} and Debezium's
 * {@code ErrorHandler} do). Every catch in {@link EngineLoop} and {@link BatchPipeline} asks this
 * class instead of deciding on its own. Stateless and thread-safe.
 *
 * <ul>
 *   <li>{@link Recovery#STOP}: the worker is being stopped (wakeup, interrupt).</li>
 *   <li>{@link Recovery#REJOIN}: this producer was fenced or is not authorised: close the clients
 *       and rejoin the group, which restarts from the committed offsets.</li>
 *   <li>{@link Recovery#TRANSIENT}: the infrastructure, not the record: broker or PostgreSQL
 *       unreachable, a serialization failure, a deadlock, a lock or statement timeout of the
 *       bookkeeping. Roll back, abort, deliver the batch again after a back-off, as often as it
 *       takes. Never dead-lettered: the record is fine.</li>
 *   <li>{@link Recovery#POISON}: anything else (a value PostgreSQL refuses, a bug, a Java
 *       {@code Error} such as a stack overflow in one record's expression): permanent for the
 *       record that caused it. Isolate that record, retry it a bounded number of times, then
 *       dead-letter it with the reason and move on.</li>
 * </ul>
 */
final class Failures {

    enum Recovery { STOP, REJOIN, TRANSIENT, POISON }

    /**
     * SQLSTATEs that say the database or the moment was the problem, not the record: connection
     * exceptions (08), insufficient resources (53), operator intervention (57: shutdown, crash,
     * query cancelled, idle-session timeout), serialization failure and deadlock (40001, 40P01),
     * lock not available (55P03), system errors (58), and the read-only state of a standby that
     * a failover left us on (25006).
     */
    private static final Set<String> TRANSIENT_CLASSES = Set.of("08", "53", "57", "58");
    private static final Set<String> TRANSIENT_STATES = Set.of("40001", "40P01", "55P03", "25006");

    private Failures() {
    }

    static Recovery classify(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof WakeupException || t instanceof InterruptException || t instanceof InterruptedException) {
                return Recovery.STOP;
            }
            if (t instanceof ProducerFencedException || t instanceof InvalidProducerEpochException
                    || t instanceof AuthorizationException) {
                return Recovery.REJOIN;
            }
        }
        for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof SQLException sql && isTransient(sql)) {
                return Recovery.TRANSIENT;
            }
            // Every Kafka error reaching the loop comes from polling, producing or committing the
            // batch's transaction, never from one record's content: abort and deliver again.
            if (t instanceof KafkaException) {
                return Recovery.TRANSIENT;
            }
        }
        return Recovery.POISON;
    }

    static boolean isTransient(SQLException e) {
        for (SQLException s = e; s != null; s = s.getNextException()) {
            String state = s.getSQLState();
            if (state != null && (TRANSIENT_STATES.contains(state)
                    || (state.length() == 5 && TRANSIENT_CLASSES.contains(state.substring(0, 2))))) {
                return true;
            }
        }
        return false;
    }

    /** The failure and its root cause, for a log line or a dead-letter header. */
    static String describe(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String text = root == e ? e.toString() : e + " caused by " + root;
        return text.length() > 2_000 ? text.substring(0, 2_000) + "…" : text;
    }
}
