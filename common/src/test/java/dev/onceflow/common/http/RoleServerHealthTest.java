package dev.onceflow.common.http;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.junit.jupiter.api.Test;

/** The broker half of readiness: the oldest consumer heartbeat against the session timeout. */
class RoleServerHealthTest {

    private static Metric value(double v) {
        return new Metric() {
            @Override
            public MetricName metricName() {
                return null;
            }

            @Override
            public Object metricValue() {
                return v;
            }
        };
    }

    private static MetricName name(String name, String client) {
        return new MetricName(name, "consumer-coordinator-metrics", "", Map.of("client-id", client));
    }

    @Test
    void theOldestHeartbeatOfAllConsumersCounts() {
        Map<MetricName, Metric> metrics = new LinkedHashMap<>();
        metrics.put(name("last-heartbeat-seconds-ago", "a"), value(1));
        metrics.put(name("last-heartbeat-seconds-ago", "b"), value(12));
        metrics.put(name("last-rebalance-seconds-ago", "a"), value(500));
        assertThat(RoleServer.heartbeatAgeSeconds(metrics)).isEqualTo(12);
        assertThat(RoleServer.heartbeatAgeSeconds(Map.of())).isNaN();
    }

    @Test
    void theBrokerIsUpWhileTheOldestHeartbeatIsYoungerThanTheSessionTimeout() {
        Map<String, Object> detail = new LinkedHashMap<>();
        assertThat(RoleServer.brokerUp(2.4, 10_000, detail)).isTrue();
        assertThat(detail).containsEntry("broker", "UP").containsEntry("lastHeartbeatSecondsAgo", 2L);

        assertThat(RoleServer.brokerUp(10.0, 10_000, detail)).isFalse();
        assertThat(detail).containsEntry("broker", "DOWN").containsEntry("lastHeartbeatSecondsAgo", 10L);

        Map<String, Object> none = new LinkedHashMap<>();
        assertThat(RoleServer.brokerUp(Double.NaN, 10_000, none)).as("no consumer in a group yet").isFalse();
        assertThat(none).containsEntry("broker", "DOWN").doesNotContainKey("lastHeartbeatSecondsAgo");
    }
}
