package dev.onceflow.common.tracing;

import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.api.trace.TracerProvider;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.autoconfigure.AutoConfiguredOpenTelemetrySdk;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A role's traces (ADR 0019): off unless the standard OpenTelemetry settings ask for them
 * ({@code OTEL_TRACES_EXPORTER} other than {@code none}, or {@code OTEL_EXPORTER_OTLP_ENDPOINT},
 * or {@code OTEL_EXPORTER_OTLP_TRACES_ENDPOINT}; never with {@code OTEL_SDK_DISABLED=true}).
 * On: the SDK's autoconfigure module reads every other {@code OTEL_*} setting (OTLP exporter over
 * HTTP/protobuf by default, batch span processor, sampler, resource), with the role's name as the
 * default {@code service.name}, no metrics or logs exporters, and span ids Onceflow chooses
 * ({@link DeterministicIds}). Off: {@link #on()} is false and {@link #tracer()} is the no-op tracer.
 * Thread-safe; owned by the role that created it, which {@link #close()}s it (flushing spans).
 */
public final class Tracing implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Tracing.class);

    /** Instrumentation scope of Onceflow's spans. */
    public static final String SCOPE = "dev.onceflow";
    public static final String ENGINE_SERVICE = "onceflow-engine";
    public static final String DISPATCHER_SERVICE = "onceflow-dispatcher";

    /** No traces. */
    public static final Tracing OFF = new Tracing(null, null, TracerProvider.noop().get(SCOPE));

    /** The SDK this instance built and closes; null when off or given. */
    private final OpenTelemetrySdk sdk;
    private final SdkTracerProvider given;
    private final Tracer tracer;

    private Tracing(OpenTelemetrySdk sdk, SdkTracerProvider given, Tracer tracer) {
        this.sdk = sdk;
        this.given = given;
        this.tracer = tracer;
    }

    /** Traces as the process's environment variables and {@code otel.*} system properties say. */
    public static Tracing fromEnvironment(String serviceName) {
        return from(environment(), serviceName);
    }

    /**
     * Traces as {@code settings} say: OpenTelemetry's keys, as environment variables
     * ({@code OTEL_EXPORTER_OTLP_ENDPOINT}) or properties ({@code otel.exporter.otlp.endpoint}), so
     * that a test need not change its process's environment. The process's own environment and
     * system properties still take precedence, as the autoconfigure module defines.
     */
    public static Tracing from(Map<String, String> settings, String serviceName) {
        Map<String, String> props = normalise(settings);
        if (!requested(props)) {
            return OFF;
        }
        Map<String, String> defaults = new HashMap<>();
        defaults.put("otel.service.name", serviceName);
        defaults.put("otel.traces.exporter", "otlp");
        // The JDK HttpClient sender speaks OTLP over HTTP; the autoconfigure default would be gRPC.
        defaults.put("otel.exporter.otlp.protocol", "http/protobuf");
        defaults.put("otel.metrics.exporter", "none");
        defaults.put("otel.logs.exporter", "none");
        try {
            OpenTelemetrySdk sdk = AutoConfiguredOpenTelemetrySdk.builder()
                    .addPropertiesSupplier(() -> defaults)
                    .addPropertiesSupplier(() -> props)
                    .addTracerProviderCustomizer((builder, config) -> builder.setIdGenerator(DeterministicIds.INSTANCE))
                    .disableShutdownHook() // the role closes it, after its last batch
                    .build()
                    .getOpenTelemetrySdk();
            LOG.info("Traces on for {}: exporter {}, endpoint {}", serviceName,
                    props.getOrDefault("otel.traces.exporter", "otlp"),
                    props.getOrDefault("otel.exporter.otlp.traces.endpoint", props.getOrDefault("otel.exporter.otlp.endpoint", "(default)")));
            return new Tracing(sdk, null, sdk.getTracer(SCOPE));
        } catch (RuntimeException e) {
            // A bad OTEL_* value names itself in the message; traces must never stop a role.
            LOG.warn("Traces requested but not set up ({}); running without traces", e.getMessage());
            return OFF;
        }
    }

    /**
     * Traces into {@code provider}, which the caller built (for tests: an in-memory exporter) and
     * owns; its id generator must be {@link DeterministicIds#INSTANCE}.
     */
    public static Tracing of(SdkTracerProvider provider) {
        return new Tracing(null, provider, provider.get(SCOPE));
    }

    /** Whether these settings ask for traces (ADR 0019). */
    public static boolean requested(Map<String, String> settings) {
        Map<String, String> props = normalise(settings);
        if ("true".equalsIgnoreCase(props.getOrDefault("otel.sdk.disabled", "").trim())) {
            return false;
        }
        String exporter = props.getOrDefault("otel.traces.exporter", "").trim();
        if (!exporter.isEmpty()) {
            return !exporter.equalsIgnoreCase("none");
        }
        return !props.getOrDefault("otel.exporter.otlp.endpoint", "").isBlank()
                || !props.getOrDefault("otel.exporter.otlp.traces.endpoint", "").isBlank();
    }

    /** Whether the process's environment asks for traces. */
    public static boolean requestedByEnvironment() {
        return requested(environment());
    }

    public boolean on() {
        return sdk != null || given != null;
    }

    public Tracer tracer() {
        return tracer;
    }

    /** Exports what is buffered, within a few seconds (a role's last spans are not lost on a clean stop). */
    @Override
    public void close() {
        if (sdk != null) {
            sdk.shutdown().join(10, TimeUnit.SECONDS);
        }
    }

    /** The {@code OTEL_*} environment variables and {@code otel.*} system properties (these win), as properties. */
    static Map<String, String> environment() {
        Map<String, String> all = new HashMap<>(normalise(System.getenv()));
        System.getProperties().forEach((k, v) -> {
            if (k instanceof String key && v instanceof String value) {
                all.putAll(normalise(Map.of(key, value)));
            }
        });
        return all;
    }

    /** {@code OTEL_EXPORTER_OTLP_ENDPOINT} → {@code otel.exporter.otlp.endpoint}; keys not OpenTelemetry's are dropped. */
    static Map<String, String> normalise(Map<String, String> settings) {
        Map<String, String> props = new HashMap<>();
        settings.forEach((k, v) -> {
            String key = k.toLowerCase(Locale.ROOT).replace('_', '.');
            if (key.startsWith("otel.") && v != null) {
                props.put(key, v);
            }
        });
        return props;
    }
}
