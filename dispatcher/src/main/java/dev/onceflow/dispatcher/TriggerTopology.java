package dev.onceflow.dispatcher;

import dev.onceflow.common.Topics;
import java.time.Duration;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.StoreBuilder;
import org.apache.kafka.streams.state.Stores;

/**
 * The dispatcher topology: trigger records in, keyed events out. Every source, processor, store
 * and sink is named here.
 *
 * <pre>
 *  onceflow.triggers ──► validate ──► onceflow.dispatch.bykey ──► dedupe ──► onceflow.events
 *   (any key)              │            (key = ordering key,        │ store onceflow-dedupe
 *                          │             header = event key)        │ (by event key)
 *                          └─► onceflow.dlq (original key/value + error headers) ◄──┘ (a record without key)
 * </pre>
 *
 * <p><b>Partitioning (ADR 0020).</b> Trigger records arrive with any key, so copies of one event may
 * sit on different partitions. {@code validate} re-keys by the event's ordering key (the trigger's
 * {@code orderKey} pointer, else the source record's key; the event key for {@code order: none}
 * and where nothing is derivable), puts the event key in header {@value Topics#H_EVENT_KEY}
 * ({@link dev.onceflow.common.ByKeyRecord}) and writes to {@value Topics#BY_KEY} with the
 * producer's default partitioner. Records of one source partition with one ordering key therefore
 * pass one {@code validate} task, one by-key partition, one {@code dedupe} task and one events
 * partition, in order. Copies of one event agree on the ordering key wherever it comes from what
 * the event key comes from, so they still meet at one dedupe store; where they do not, they meet at
 * the engine's unique event key. {@value Topics#EVENTS} is keyed the same way, which is what the
 * engine relies on (one key's events, and all records of one execution, on one partition).
 *
 * <p><b>Exactly-once.</b> Run with {@code processing.guarantee=exactly_once_v2}: the by-key
 * write, the dedupe store's changelog, the event and the DLQ record of one input commit
 * atomically with the input offset. The dedupe is still only a cheap first filter (it forgets
 * after the retention, and a publisher may send after that); the engine's unique
 * {@code event_key} is the guarantee.
 *
 * <p><b>Traces.</b> {@code validate} copies a trigger record's W3C {@code traceparent} header
 * onto its event (or derives one from the event key when traces are on, {@link EventTraces}), and
 * {@code dedupe} forwards the event with its headers, so the engine continues the trigger's trace
 * (ADR 0019).
 *
 * <p><b>Errors.</b> No record can stop the topology. A record that can never be processed
 * (malformed, unknown or disabled workflow, a workflow that records on this topic may not start,
 * an event too large to publish, or any unexpected exception while validating or keying it; see
 * {@link ValidateTrigger}) goes to {@value Topics#DLQ} with the reason headers, and so does a
 * record without a key on the by-key topic. System errors (the catalog failing, Kafka errors)
 * are thrown so that Streams aborts the transaction and replaces the thread; they are never
 * dead-lettered. Sizes are checked in {@code validate} against {@link RecordSizeLimit}: an event
 * is copied unchanged from the by-key topic to the events topic, so one check covers both.
 */
public final class TriggerTopology {

    public static final String TRIGGERS_SOURCE = "triggers";
    public static final String VALIDATE = "validate";
    /** The dedupe right after {@code validate}: records of {@code kafka} triggers go to the events topic in one hop (ADR 0028). */
    public static final String TRIGGER_DEDUPE = "trigger-dedupe";
    public static final String TRIGGER_EVENTS_SINK = "trigger-events-sink";
    /** The event keys {@link #TRIGGER_DEDUPE} accepted: the store of the trigger sub-topology, apart from {@link #DEDUPE_STORE}. */
    public static final String TRIGGER_DEDUPE_STORE = "onceflow-trigger-dedupe";
    public static final String DLQ_SINK = "dlq-sink";
    /** The dedupe's own DLQ sink: one sink shared with validate would merge the two sub-topologies. */
    public static final String DEDUPE_DLQ_SINK = "dedupe-dlq-sink";
    public static final String BY_KEY_SOURCE = "bykey";
    public static final String DEDUPE = "dedupe";
    public static final String EVENTS_SINK = "events-sink";
    /** Event key → wall-clock time (epoch ms) it was first accepted. */
    public static final String DEDUPE_STORE = "onceflow-dedupe";

    /** How often expired dedupe entries are removed. */
    static final Duration EXPIRY_INTERVAL = Duration.ofMinutes(1);

    private TriggerTopology() {
    }

    /** Source of the topics named by {@code kafka} workflows. */
    public static final String USER_SOURCE = "user-topics";
    /** Any topic but onceflow.*, onceflow-* (Streams' internal topics of the default application id) and __*. */
    public static final java.util.regex.Pattern USER_TOPICS = java.util.regex.Pattern.compile("(?!onceflow[.-]|__|_schemas)[A-Za-z0-9._-]+");

    /** Builds the topology with Kafka's default record size limit (1 MiB). */
    public static Topology build(WorkflowCatalog catalog, long dedupeRetentionMs, DispatcherMetrics metrics) {
        return build(catalog, dedupeRetentionMs, RecordSizeLimit.KAFKA_DEFAULT, metrics);
    }

    /**
     * Builds the topology reading {@value Topics#TRIGGERS}.
     *
     * @param dedupeRetentionMs how long an accepted event key is remembered to drop repeats
     * @param limit             the largest record the dispatcher can publish (events and dead letters)
     * @param metrics           counters updated by the topology's processors
     */
    static Topology build(WorkflowCatalog catalog, long dedupeRetentionMs, RecordSizeLimit limit, DispatcherMetrics metrics) {
        return build(catalog, dedupeRetentionMs, limit, metrics, 0, Long.MAX_VALUE);
    }

    /**
     * @param eagerCommitGapMs least time between two commits a processor requests ({@code dispatcher.commit.eager.gap.ms}, ADR 0018); 0: none
     * @param eagerCommitMaxRate above this many records a second, a processor requests none ({@code dispatcher.commit.eager.max.rate})
     */
    static Topology build(WorkflowCatalog catalog, long dedupeRetentionMs, RecordSizeLimit limit, DispatcherMetrics metrics,
                          long eagerCommitGapMs, long eagerCommitMaxRate) {
        return build(catalog, dedupeRetentionMs, limit, metrics, eagerCommitGapMs, eagerCommitMaxRate, new OrderKeys(true, metrics));
    }

    /** @param orderKeys whether {@code validate} gives events of ordered workflows an ordering key ({@code dispatcher.order.keys}) */
    static Topology build(WorkflowCatalog catalog, long dedupeRetentionMs, RecordSizeLimit limit, DispatcherMetrics metrics,
                          long eagerCommitGapMs, long eagerCommitMaxRate, OrderKeys orderKeys) {
        EagerCommits validateCommits = new EagerCommits(eagerCommitGapMs, eagerCommitMaxRate);
        EagerCommits dedupeCommits = new EagerCommits(eagerCommitGapMs, eagerCommitMaxRate);
        if (dedupeRetentionMs <= 0) {
            throw new IllegalArgumentException("dedupe retention must be positive, got " + dedupeRetentionMs + " ms");
        }
        ByteArrayDeserializer bytesIn = new ByteArrayDeserializer();
        ByteArraySerializer bytesOut = new ByteArraySerializer();
        StoreBuilder<KeyValueStore<String, Long>> dedupeStore = Stores.keyValueStoreBuilder(
                Stores.persistentKeyValueStore(DEDUPE_STORE), Serdes.String(), Serdes.Long());

        Topology topology = new Topology();
        topology.addSource(TRIGGERS_SOURCE, bytesIn, bytesIn, Topics.TRIGGERS);
        // Every other topic that is not Onceflow's, Kafka's or this application's own: records of
        // topics that an enabled `kafka` workflow names are routed, the rest skipped. A pattern, so
        // topics of newly deployed workflows are picked up at the next metadata refresh, no restart.
        topology.addSource(USER_SOURCE, bytesIn, bytesIn, USER_TOPICS);
        topology.addProcessor(VALIDATE, () -> new ValidateTrigger(catalog, limit, metrics, validateCommits, orderKeys), TRIGGERS_SOURCE, USER_SOURCE);
        // Validated events of kafka triggers are deduplicated in the same sub-topology, by the event
        // keys its task has seen, and go straight to the events topic keyed by their ordering key:
        // one Streams commit between a trigger and its event instead of two (ADR 0028). Copies of
        // one event on two trigger partitions both pass here; the engine's unique event_key, the
        // guarantee, absorbs the second.
        StoreBuilder<KeyValueStore<String, Long>> triggerDedupeStore = Stores.keyValueStoreBuilder(
                Stores.persistentKeyValueStore(TRIGGER_DEDUPE_STORE), Serdes.String(), Serdes.Long());
        topology.addProcessor(TRIGGER_DEDUPE, () -> new DedupeByKey(dedupeRetentionMs, limit, metrics, new EagerCommits(0),
                DedupeByKey.Place.AFTER_VALIDATE), VALIDATE);
        topology.addStateStore(triggerDedupeStore, TRIGGER_DEDUPE);
        // No partitioner: the producer's default (murmur2 of the UTF-8 key) is what the engine uses too.
        topology.addSink(TRIGGER_EVENTS_SINK, Topics.EVENTS, bytesOut, bytesOut, TRIGGER_DEDUPE);
        topology.addSink(DLQ_SINK, Topics.DLQ, bytesOut, bytesOut, VALIDATE, TRIGGER_DEDUPE);

        topology.addSource(BY_KEY_SOURCE, bytesIn, bytesIn, Topics.BY_KEY);
        topology.addProcessor(DEDUPE, () -> new DedupeByKey(dedupeRetentionMs, limit, metrics, dedupeCommits), BY_KEY_SOURCE);
        topology.addStateStore(dedupeStore, DEDUPE);
        topology.addSink(EVENTS_SINK, Topics.EVENTS, bytesOut, bytesOut, DEDUPE);
        topology.addSink(DEDUPE_DLQ_SINK, Topics.DLQ, bytesOut, bytesOut, DEDUPE);
        return topology;
    }
}
