package dev.onceflow.engine;

import dev.onceflow.common.TaskEnvelope;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * One node run to advance in a batch: the task, the consumer record it came from (null when it
 * was reached inline from another node of the batch) and the partition its execution's key maps
 * to (the partition of the record that started the chain), which owns its timers.
 */
record Step(TaskEnvelope task, ConsumerRecord<byte[], byte[]> record, int partition) {

    String key() {
        return task.processedKey();
    }

    /** A follow-up reached inline: same partition, no record of its own. */
    Step then(TaskEnvelope next) {
        return new Step(next, null, partition);
    }
}
