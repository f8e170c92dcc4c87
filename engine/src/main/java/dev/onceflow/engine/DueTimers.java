package dev.onceflow.engine;

import dev.onceflow.common.Json;
import dev.onceflow.common.TaskEnvelope;
import dev.onceflow.common.Topics;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;

/**
 * The timer step (ADR 0013): fires the due timers (delays, retry backoffs, http leases, starts of
 * queued executions) of the task partitions a worker owns. Their tasks are produced in a Kafka
 * transaction first, keyed by each task's partition key, then the timers are marked fired in
 * PostgreSQL. A crash in between fires them again, which is harmless: each task runs under its own
 * processed key. The other order could lose a timer. A worker that lost a partition and has not
 * noticed yet may fire its timers too; the same argument holds. Stateless.
 */
final class DueTimers {

    /** Timers fired per round; more wait for the next round. */
    static final int PER_ROUND = 500;

    private DueTimers() {
    }

    /** The partitions of {@value Topics#TASKS} among these, whose timers a worker fires. */
    static Set<Integer> taskPartitions(Collection<TopicPartition> assignment) {
        Set<Integer> partitions = new HashSet<>();
        for (TopicPartition tp : assignment) {
            if (tp.topic().equals(Topics.TASKS)) {
                partitions.add(tp.partition());
            }
        }
        return partitions;
    }

    /** Fires up to {@link #PER_ROUND} due timers of these task partitions; returns how many. */
    static int fire(ExecutionStore store, TwoCommits commits, Set<Integer> partitions) throws SQLException, TwoCommits.Failed {
        if (partitions.isEmpty()) {
            return 0;
        }
        List<ExecutionStore.DueTimer> due = store.dueTimers(partitions, PER_ROUND);
        if (due.isEmpty()) {
            store.rollbackQuietly();
            return 0;
        }
        List<ProducerRecord<byte[], byte[]>> out = new ArrayList<>();
        for (ExecutionStore.DueTimer timer : due) {
            for (TaskEnvelope task : timer.tasks()) {
                out.add(new ProducerRecord<>(Topics.TASKS, Batch.key(task.partitionKey()), Json.bytes(task)));
            }
        }
        // The first commit only ends the read, so nothing is held while producing; the marks follow the tasks.
        commits.commit(store, out, Map.of(), TwoCommits.BetweenCommits.NONE, s -> s.markFired(due));
        return due.size();
    }
}
