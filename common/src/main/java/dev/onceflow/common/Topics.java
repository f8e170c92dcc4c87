package dev.onceflow.common;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.errors.TopicExistsException;

/**
 * Topic names and the header names. Events, tasks and the dispatcher's by-key topic must have the
 * same partition count: every record of one execution is keyed by its ordering key, else its
 * event key (ADR 0020), and so lands on one partition, handled by one consumer, in order.
 */
public final class Topics {

    public static final String TRIGGERS = "onceflow.triggers";
    /**
     * Dispatcher-internal: validated triggers re-keyed by ordering key (else event key), with the
     * event key in header {@value #H_EVENT_KEY}, so dedupe sees every copy of a key in order ({@link ByKeyRecord}).
     */
    public static final String BY_KEY = "onceflow.dispatch.bykey";
    public static final String EVENTS = "onceflow.events";
    public static final String TASKS = "onceflow.tasks";
    public static final String OUTCOMES = "onceflow.outcomes";
    public static final String DLQ = "onceflow.dlq";

    /** The event key of a {@value #BY_KEY} record, whose record key is the ordering key (ADR 0020). */
    public static final String H_EVENT_KEY = "onceflow.event.key";

    /**
     * Marks a record of {@value #TASKS} as an operator's command ({@link OperatorCommand}, ADR 0025);
     * its value is the command's kind.
     */
    public static final String H_COMMAND = "onceflow.command";

    public static final String H_ERROR_CLASS = "onceflow.error.class";
    public static final String H_ERROR_MESSAGE = "onceflow.error.message";
    public static final String H_SOURCE_TOPIC = "onceflow.source.topic";
    public static final String H_SOURCE_PARTITION = "onceflow.source.partition";
    public static final String H_SOURCE_OFFSET = "onceflow.source.offset";

    /**
     * Default retention of {@value #BY_KEY}: its records are accepted API calls, captured row
     * changes and schedule ticks not yet deduplicated, so it bounds the dispatcher outage that
     * loses none of them (configurable as {@code topics.dispatch.bykey.retention.ms}).
     */
    public static final long DEFAULT_BY_KEY_RETENTION_MS = TimeUnit.DAYS.toMillis(7);

    private Topics() {
    }

    /**
     * Creates every Onceflow topic that is missing, {@value #BY_KEY} with
     * {@link #DEFAULT_BY_KEY_RETENTION_MS}; existing topics are left as they are.
     */
    public static void ensure(Admin admin, int partitions, short replication) {
        ensure(admin, partitions, replication, DEFAULT_BY_KEY_RETENTION_MS);
    }

    /** Creates every Onceflow topic that is missing; existing topics are left as they are. */
    public static void ensure(Admin admin, int partitions, short replication, long byKeyRetentionMs) {
        List<NewTopic> wanted = wanted(partitions, replication, byKeyRetentionMs);
        try {
            Set<String> existing = admin.listTopics().names().get(30, TimeUnit.SECONDS);
            List<NewTopic> missing = wanted.stream().filter(t -> !existing.contains(t.name())).toList();
            if (missing.isEmpty()) {
                return;
            }
            try {
                admin.createTopics(missing).all().get(30, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof TopicExistsException)) {
                    throw e; // another role created them at the same moment: fine
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while creating topics", e);
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("cannot create Onceflow topics: " + e.getMessage(), e);
        }
    }

    /** The topics Onceflow creates when missing, with their settings. */
    static List<NewTopic> wanted(int partitions, short replication, long byKeyRetentionMs) {
        if (byKeyRetentionMs <= 0) {
            throw new IllegalArgumentException("retention of " + BY_KEY + " must be positive, got " + byKeyRetentionMs + " ms");
        }
        List<NewTopic> wanted = new ArrayList<>();
        for (String name : List.of(TRIGGERS, BY_KEY, EVENTS, TASKS, OUTCOMES, DLQ)) {
            NewTopic topic = new NewTopic(name, partitions, replication);
            if (name.equals(BY_KEY)) {
                topic.configs(Map.of("retention.ms", String.valueOf(byKeyRetentionMs)));
            }
            wanted.add(topic);
        }
        return wanted;
    }
}
