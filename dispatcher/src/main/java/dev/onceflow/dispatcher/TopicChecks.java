package dev.onceflow.dispatcher;

import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.common.Topics;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.streams.StreamsConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a dispatcher checks of its topics at start: that {@value Topics#BY_KEY} keeps records at
 * least as long as configured, and the largest record it can publish ({@link RecordSizeLimit}).
 * Stateless; the Admin client belongs to the caller.
 */
final class TopicChecks {

    private static final Logger log = LoggerFactory.getLogger(TopicChecks.class);
    private static final long TIMEOUT_S = 30;

    private TopicChecks() {
    }

    /** What to do with an existing topic's retention. */
    enum RetentionAction { KEEP, RAISE }

    /**
     * Raise a shorter retention, never lower one: a longer retention loses nothing, and an
     * operator who set it longer on purpose keeps it. -1 is Kafka's "forever".
     */
    static RetentionAction retentionAction(long currentMs, long wantedMs) {
        return currentMs < 0 || currentMs >= wantedMs ? RetentionAction.KEEP : RetentionAction.RAISE;
    }

    /**
     * Makes {@value Topics#BY_KEY} keep records at least {@code wantedMs}: a topic created earlier
     * with a shorter retention (one day before issue 9) is raised; when that is not allowed (no
     * ALTER_CONFIGS permission, a broker refusing), a WARN names the topic, its retention and the key.
     */
    static void ensureByKeyRetention(Admin admin, long wantedMs) {
        ConfigResource topic = new ConfigResource(ConfigResource.Type.TOPIC, Topics.BY_KEY);
        long current;
        try {
            current = Long.parseLong(describe(admin, topic).get(TopicConfig.RETENTION_MS_CONFIG).value());
        } catch (RuntimeException | ExecutionException | TimeoutException e) {
            log.warn("cannot read the retention of {} ({}); make sure it keeps records at least {} ms ({})", Topics.BY_KEY,
                    e.toString(), wantedMs, OnceflowConfig.BY_KEY_RETENTION_MS.name());
            return;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        }
        if (retentionAction(current, wantedMs) == RetentionAction.KEEP) {
            log.debug("{} keeps records {} ms (at least {} wanted)", Topics.BY_KEY, current, wantedMs);
            return;
        }
        AlterConfigOp raise = new AlterConfigOp(new ConfigEntry(TopicConfig.RETENTION_MS_CONFIG, String.valueOf(wantedMs)),
                AlterConfigOp.OpType.SET);
        try {
            admin.incrementalAlterConfigs(Map.of(topic, List.of(raise))).all().get(TIMEOUT_S, TimeUnit.SECONDS);
            log.warn("{} kept records only {} ms; raised to {} ms ({}), the longest dispatcher outage that loses no accepted "
                    + "API call, row change or tick", Topics.BY_KEY, current, wantedMs, OnceflowConfig.BY_KEY_RETENTION_MS.name());
        } catch (ExecutionException | TimeoutException | RuntimeException e) {
            log.warn("{} keeps records only {} ms, less than {}={} ms, and cannot be raised ({}): a dispatcher outage longer "
                    + "than {} ms loses accepted API calls and captured row changes; raise its retention.ms",
                    Topics.BY_KEY, current, OnceflowConfig.BY_KEY_RETENTION_MS.name(), wantedMs, e.toString(), current);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * The smallest of the producers' {@code max.request.size} (Kafka Streams' producer, from
     * {@code streams}; the sources' producer, from {@code producer}) and the {@code max.message.bytes}
     * of the topics an event or a dead letter is written to, read from the broker when it answers.
     */
    static RecordSizeLimit recordSizeLimit(Admin admin, Map<?, ?> streams, Map<?, ?> producer) {
        RecordSizeLimit limit = producerLimits(streams, producer);
        for (String name : List.of(Topics.BY_KEY, Topics.EVENTS, Topics.DLQ)) {
            try {
                ConfigEntry e = describe(admin, new ConfigResource(ConfigResource.Type.TOPIC, name))
                        .get(TopicConfig.MAX_MESSAGE_BYTES_CONFIG);
                if (e != null && e.value() != null) {
                    limit = limit.min(new RecordSizeLimit(Integer.parseInt(e.value()), "max.message.bytes of " + name));
                }
            } catch (RuntimeException | ExecutionException | TimeoutException e) {
                log.warn("cannot read max.message.bytes of {} ({}); checking record sizes against {} only", name, e.toString(),
                        limit);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        log.info("records the dispatcher publishes are limited to {} bytes ({})", limit.maxBytes(), limit.source());
        return limit;
    }

    /** The producers' part of {@link #recordSizeLimit}: no broker needed. */
    static RecordSizeLimit producerLimits(Map<?, ?> streams, Map<?, ?> producer) {
        Map<Object, Object> streamsProducer = new HashMap<>(streams);
        String prefixed = StreamsConfig.producerPrefix(ProducerConfig.MAX_REQUEST_SIZE_CONFIG);
        if (streams.containsKey(prefixed)) {
            streamsProducer.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, streams.get(prefixed));
        }
        return RecordSizeLimit.ofProducer(streamsProducer, ProducerConfig.MAX_REQUEST_SIZE_CONFIG, "the Kafka Streams producer")
                .min(RecordSizeLimit.ofProducer(producer, ProducerConfig.MAX_REQUEST_SIZE_CONFIG, "the sources' producer"));
    }

    private static Map<String, ConfigEntry> describe(Admin admin, ConfigResource resource)
            throws ExecutionException, InterruptedException, TimeoutException {
        Config config = admin.describeConfigs(List.of(resource)).all().get(TIMEOUT_S, TimeUnit.SECONDS).get(resource);
        Map<String, ConfigEntry> byName = new HashMap<>();
        Collection<ConfigEntry> entries = config.entries();
        entries.forEach(e -> byName.put(e.name(), e));
        return byName;
    }
}
