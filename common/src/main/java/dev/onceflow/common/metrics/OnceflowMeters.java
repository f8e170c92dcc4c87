package dev.onceflow.common.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmInfoMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.FileDescriptorMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The metrics of one process: a Prometheus registry with the JVM and process meters bound, on
 * which the roles running in the process (an engine, a dispatcher, or both in {@code dev})
 * register theirs, and {@link #scrape()}, the text an HTTP server serves at
 * {@link dev.onceflow.common.HttpPaths#METRICS}. Names and labels: {@link MeterNames}.
 *
 * <p>Counters and histograms are plain Micrometer meters: registering the same name and labels
 * twice returns the same meter, so two engines sharing one instance add up. Gauges whose label
 * sets come and go (consumer lag per partition, a replication slot) are {@linkplain #gauges
 * families} read from their sources at each scrape; a label set no source reports any more is
 * removed, so a revoked partition does not linger with its last value.
 *
 * <p>Thread-safe. Owned by whoever created it, who {@linkplain #close() closes} it.
 */
public final class OnceflowMeters implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(OnceflowMeters.class);

    /** One registration with this instance, undone by {@link #close()}. */
    public interface Registration extends AutoCloseable {
        @Override
        void close();
    }

    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final JvmGcMetrics gc = new JvmGcMetrics();
    private final Map<String, GaugeFamily> families = new ConcurrentHashMap<>();

    public OnceflowMeters() {
        new ClassLoaderMetrics().bindTo(registry);
        new JvmMemoryMetrics().bindTo(registry);
        gc.bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new JvmInfoMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
        new UptimeMetrics().bindTo(registry);
        new FileDescriptorMetrics().bindTo(registry);
    }

    public MeterRegistry registry() {
        return registry;
    }

    /** The counter {@code name} with these tags (key, value, key, value, ...), registered on first use. */
    public Counter counter(String name, String description, String... tags) {
        return Counter.builder(name).description(description).tags(tags).register(registry);
    }

    /**
     * The histogram {@code name} (in seconds) with exactly these bucket bounds, registered on first
     * use. Fixed buckets keep the series few and the same in every process, so they add up.
     */
    public Timer histogram(String name, String description, List<Duration> buckets, String... tags) {
        return Timer.builder(name).description(description).tags(tags)
                .serviceLevelObjectives(buckets.toArray(new Duration[0])).register(registry);
    }

    /**
     * Adds a source to the gauge family {@code name}: at each {@link #scrape()}, the family shows
     * one gauge per label set (values for {@code labels}, in order) that any of its sources reports
     * then, the largest value where several report the same one (two engines of one process that
     * both briefly own a partition). A source that fails is skipped for that scrape, logged.
     */
    public Registration gauges(String name, String description, List<String> labels,
                               Supplier<? extends Map<List<String>, ? extends Number>> source) {
        GaugeFamily family = families.computeIfAbsent(name, n -> new GaugeFamily(n, description, labels));
        if (!family.labels.equals(labels)) {
            throw new IllegalArgumentException("gauge family " + name + " has labels " + family.labels + ", not " + labels);
        }
        family.sources.add(source);
        return () -> family.sources.remove(source);
    }

    /** The Prometheus text exposition (format 0.0.4) of every meter, the gauge families read afresh. */
    public synchronized String scrape() {
        for (GaugeFamily family : families.values()) {
            family.refresh();
        }
        return registry.scrape();
    }

    /** Unbinds the JVM meters and closes the registry. */
    @Override
    public void close() {
        gc.close();
        registry.close();
    }

    /** One gauge's value, strongly held by the registry while the label set is shown. */
    private static final class Value {
        volatile double value;
    }

    /** The gauges of one name; refreshed under the {@link #scrape()} lock. */
    private final class GaugeFamily {
        final String name;
        final String description;
        final List<String> labels;
        final List<Supplier<? extends Map<List<String>, ? extends Number>>> sources = new CopyOnWriteArrayList<>();
        final Map<List<String>, Value> values = new HashMap<>();
        final Map<List<String>, Meter> meters = new HashMap<>();

        GaugeFamily(String name, String description, List<String> labels) {
            this.name = name;
            this.description = description;
            this.labels = List.copyOf(labels);
        }

        void refresh() {
            Map<List<String>, Double> now = new HashMap<>();
            for (Supplier<? extends Map<List<String>, ? extends Number>> source : sources) {
                try {
                    source.get().forEach((k, v) -> now.merge(k, v.doubleValue(), Math::max));
                } catch (RuntimeException e) {
                    LOG.debug("A source of {} failed; it is left out of this scrape: {}", name, e.toString());
                }
            }
            for (List<String> gone : new ArrayList<>(values.keySet())) {
                if (!now.containsKey(gone)) {
                    values.remove(gone);
                    registry.remove(meters.remove(gone));
                }
            }
            now.forEach((labelValues, v) -> values.computeIfAbsent(labelValues, this::register).value = v);
        }

        private Value register(List<String> labelValues) {
            if (labelValues.size() != labels.size()) {
                throw new IllegalArgumentException(name + ": label values " + labelValues + " do not match labels " + labels);
            }
            Tags tags = Tags.empty();
            for (int i = 0; i < labels.size(); i++) {
                tags = tags.and(labels.get(i), Objects.requireNonNullElse(labelValues.get(i), ""));
            }
            Value holder = new Value();
            meters.put(labelValues, Gauge.builder(name, holder, h -> h.value).description(description).tags(tags)
                    .strongReference(true).register(registry));
            return holder;
        }
    }
}
