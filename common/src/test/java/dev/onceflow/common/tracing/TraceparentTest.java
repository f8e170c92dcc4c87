package dev.onceflow.common.tracing;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.junit.jupiter.api.Test;

class TraceparentTest {

    static final String VALID = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    @Test
    void aValidHeaderIsReadAndWrittenBackUnchanged() {
        Traceparent t = Traceparent.parse(VALID).orElseThrow();
        assertThat(t.traceId()).isEqualTo("0af7651916cd43dd8448eb211c80319c");
        assertThat(t.spanId()).isEqualTo("b7ad6b7169203331");
        assertThat(t.sampled()).isTrue();
        assertThat(t.header()).isEqualTo(VALID);
        assertThat(Traceparent.parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00").orElseThrow().sampled()).isFalse();
    }

    @Test
    void invalidHeadersAreIgnoredNotFatal() {
        assertThat(Traceparent.parse((String) null)).isEmpty();
        assertThat(Traceparent.parse("garbage")).isEmpty();
        assertThat(Traceparent.parse("00-00000000000000000000000000000000-b7ad6b7169203331-01")).as("zero trace id").isEmpty();
        assertThat(Traceparent.parse("00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01")).as("zero span id").isEmpty();
        assertThat(Traceparent.parse("ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")).as("version ff").isEmpty();
        assertThat(Traceparent.parse("00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01")).as("upper case").isEmpty();
        assertThat(Traceparent.parse(VALID + "-extra")).as("version 00 has nothing after the flags").isEmpty();
        assertThat(Traceparent.parse("01" + VALID.substring(2) + "-future")).as("a later version, read by its prefix").isPresent();
    }

    @Test
    void derivedIdsAreStablePerKeyAndDistinctAcrossKeysAndKinds() {
        assertThat(Traceparent.executionSpanId("wf@1#a")).isEqualTo(Traceparent.executionSpanId("wf@1#a"))
                .isNotEqualTo(Traceparent.executionSpanId("wf@1#b")).hasSize(16);
        assertThat(Traceparent.nodeSpanId("wf@1#a")).isNotEqualTo(Traceparent.executionSpanId("wf@1#a"));
        assertThat(Traceparent.nodeSpanId("wf@1#a/n")).isNotEqualTo(Traceparent.nodeSpanId("wf@1#a/n#2"));
        assertThat(Traceparent.traceId("wf@1#a")).hasSize(32);
        Traceparent ofEvent = Traceparent.ofEvent("wf@1#a");
        assertThat(ofEvent.spanId()).isEqualTo(Traceparent.executionSpanId("wf@1#a"));
        assertThat(Traceparent.parse(ofEvent.header())).contains(ofEvent);
    }

    @Test
    void tracesAreOnOnlyWhenTheStandardSettingsAskForThem() {
        assertThat(Tracing.requested(Map.of())).isFalse();
        assertThat(Tracing.requested(Map.of("PATH", "/bin", "ONCEFLOW_URL", "x"))).isFalse();
        assertThat(Tracing.requested(Map.of("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"))).isTrue();
        assertThat(Tracing.requested(Map.of("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://collector:4318/v1/traces"))).isTrue();
        assertThat(Tracing.requested(Map.of("otel.traces.exporter", "otlp"))).isTrue();
        assertThat(Tracing.requested(Map.of("OTEL_TRACES_EXPORTER", "none", "OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"))).isFalse();
        assertThat(Tracing.requested(Map.of("OTEL_SDK_DISABLED", "true", "OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"))).isFalse();
        assertThat(Tracing.from(Map.of(), "onceflow-engine")).isSameAs(Tracing.OFF);
        assertThat(Tracing.OFF.on()).isFalse();
        assertThat(Tracing.OFF.tracer().spanBuilder("x").startSpan().getSpanContext().isValid()).as("a no-op tracer").isFalse();
    }

    @Test
    void deterministicIdsGiveTheAskedIdsOnceThenRandomOnes() {
        DeterministicIds ids = DeterministicIds.INSTANCE;
        String[] got = DeterministicIds.starting("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331",
                () -> new String[] {ids.generateSpanId(), ids.generateTraceId(), ids.generateSpanId()});
        assertThat(got[0]).isEqualTo("b7ad6b7169203331");
        assertThat(got[1]).isEqualTo("0af7651916cd43dd8448eb211c80319c");
        assertThat(got[2]).isNotEqualTo("b7ad6b7169203331").hasSize(16);
        assertThat(ids.generateSpanId()).isNotEqualTo("b7ad6b7169203331");
    }
}
