package dev.onceflow.dispatcher;

import dev.onceflow.common.ByKeyRecord;
import dev.onceflow.common.DeadLetter;
import dev.onceflow.common.Topics;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Drops an event whose event key was accepted within the retention, else remembers the key and
 * forwards the event to {@code onceflow.events} unchanged: keyed, like its by-key record, by its
 * ordering key (else its event key), so one key's events keep their order (ADR 0020). The event key
 * is the record's {@value Topics#H_EVENT_KEY} header, or its record key when it has none
 * ({@link ByKeyRecord#eventKey}: records written before ADR 0020). A cheap first filter only: the engine's unique
 * {@code event_key} is the guarantee.
 *
 * <p>Time is wall-clock time ({@link ProcessorContext#currentSystemTimeMs()}), not record time:
 * a publisher retrying a day later sends a record with a later timestamp but the same key, and
 * what matters is how long ago this dispatcher saw that key. A wall-clock punctuator removes
 * expired keys, scanning at most {@link #MAX_SCAN} entries per run and resuming where it stopped,
 * so one run never stalls the stream thread; the lookup checks the age itself, so an entry not
 * yet removed never blocks an event after the retention.
 *
 * <p>One instance per task, used by one stream thread: not thread-safe.
 */
final class DedupeByKey implements Processor<byte[], byte[], byte[], byte[]> {

    private final EagerCommits eagerCommits;

    private static final Logger log = LoggerFactory.getLogger(DedupeByKey.class);

    /** Store entries examined per expiry run. */
    static final int MAX_SCAN = 100_000;

    /** DLQ error class of a record without a key. */
    static final String MISSING_KEY = "MISSING_KEY";

    private final long retentionMs;
    private final RecordSizeLimit limit;
    private final DispatcherMetrics metrics;
    /** Where it sits: its store, the sinks it forwards to, and the topic its records come from. */
    private final Place place;

    /**
     * Where an instance sits (ADR 0028): after {@code onceflow.dispatch.bykey}'s source (the
     * sources that publish there: schedules, the API, row changes), or right after {@code validate}
     * in the trigger sub-topology (records of {@code kafka} triggers), each with its own store and
     * sinks, so the two sub-topologies stay apart.
     */
    record Place(String store, String eventsSink, String dlqSink, String from) {
        static final Place BY_KEY = new Place(TriggerTopology.DEDUPE_STORE, TriggerTopology.EVENTS_SINK,
                TriggerTopology.DEDUPE_DLQ_SINK, Topics.BY_KEY);
        static final Place AFTER_VALIDATE = new Place(TriggerTopology.TRIGGER_DEDUPE_STORE, TriggerTopology.TRIGGER_EVENTS_SINK,
                TriggerTopology.DLQ_SINK, "validate");
    }
    private ProcessorContext<byte[], byte[]> context;
    private KeyValueStore<String, Long> seen;
    /** Where the next expiry run starts; null: from the first key. */
    private String expiryCursor;

    DedupeByKey(long retentionMs, RecordSizeLimit limit, DispatcherMetrics metrics) {
        this(retentionMs, limit, metrics, new EagerCommits(0));
    }

    DedupeByKey(long retentionMs, RecordSizeLimit limit, DispatcherMetrics metrics, EagerCommits eagerCommits) {
        this(retentionMs, limit, metrics, eagerCommits, Place.BY_KEY);
    }

    DedupeByKey(long retentionMs, RecordSizeLimit limit, DispatcherMetrics metrics, EagerCommits eagerCommits, Place place) {
        this.place = place;
        this.eagerCommits = eagerCommits;
        this.retentionMs = retentionMs;
        this.limit = limit;
        this.metrics = metrics;
    }

    @Override
    public void init(ProcessorContext<byte[], byte[]> context) {
        this.context = context;
        this.seen = context.getStateStore(place.store());
        context.schedule(TriggerTopology.EXPIRY_INTERVAL, PunctuationType.WALL_CLOCK_TIME, this::expire);
    }

    @Override
    public void process(Record<byte[], byte[]> record) {
        if (record.key() == null) {
            // Only the dispatcher writes this topic, always with a key; a foreign writer's record is
            // not an event, but it is kept where an operator can see it, never silently dropped.
            deadLetter(record, "a record without a key on " + place.from()
                    + " is not an event: only the dispatcher (its topology and its sources) may write to that topic");
            return;
        }
        // The record key is the ordering key (ADR 0020); the identity is the event key in the header, or
        // the record key itself for records written before (no header).
        String eventKey = ByKeyRecord.eventKey(record.key(), record.headers());
        long now = context.currentSystemTimeMs();
        Long firstSeen = seen.get(eventKey);
        if (firstSeen != null && now - firstSeen < retentionMs) {
            metrics.countDeduplicated();
            log.debug("event {} dropped: already accepted {} ms ago", eventKey, now - firstSeen);
            return;
        }
        seen.put(eventKey, now);
        context.forward(record, place.eventsSink());
        metrics.countAccepted();
        // Commit at once rather than at the next commit interval, when quiet (ADR 0018).
        if (eagerCommits.request(now)) {
            context.commit();
        }
    }

    private void deadLetter(Record<byte[], byte[]> record, String message) {
        DeadLetter reason = context.recordMetadata()
                .map(m -> new DeadLetter(MISSING_KEY, message, m.topic(), m.partition(), m.offset()))
                .orElse(new DeadLetter(MISSING_KEY, message, place.from(), -1, -1));
        context.forward(DeadLetters.fitted(record, reason, limit), place.dlqSink());
        metrics.countDlq(MISSING_KEY);
        log.warn("record without key at {}-{}-{} dead-lettered to {}; only the dispatcher may write to {}",
                reason.sourceTopic(), reason.sourcePartition(), reason.sourceOffset(), Topics.DLQ, place.from());
    }

    /** Deletes entries older than the retention, at most {@link #MAX_SCAN} examined per call. */
    void expire(long now) {
        List<String> expired = new ArrayList<>();
        String next = null;
        int scanned = 0;
        // Collect, then delete: no writes while the iterator is open.
        try (KeyValueIterator<String, Long> it = seen.range(expiryCursor, null)) {
            while (it.hasNext()) {
                KeyValue<String, Long> entry = it.next();
                if (scanned == MAX_SCAN) {
                    next = entry.key;
                    break;
                }
                scanned++;
                if (entry.value == null || now - entry.value >= retentionMs) {
                    expired.add(entry.key);
                }
            }
        }
        expired.forEach(seen::delete);
        expiryCursor = next;
        if (!expired.isEmpty()) {
            log.debug("dedupe expiry removed {} of {} keys examined; {}", expired.size(), scanned,
                    next == null ? "pass complete" : "resuming next run");
        }
    }
}
