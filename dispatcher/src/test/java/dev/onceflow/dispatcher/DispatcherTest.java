package dev.onceflow.dispatcher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.onceflow.common.OnceflowConfig;
import java.time.Duration;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.streams.StreamsConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(10)
class DispatcherTest {

    @Test
    void streamsRunExactlyOnceWithConfiguredSettingsAndPassThrough() {
        OnceflowConfig config = OnceflowConfig.of(Map.of(
                "kafka.bootstrap.servers", "broker:9092",
                "dispatcher.application.id", "my-dispatcher",
                "dispatcher.threads", "4",
                "dispatcher.state.dir", "/var/lib/onceflow",
                "kafka.streams.commit.interval.ms", "250",
                "kafka.streams.max.poll.records", "1000"));
        try (Dispatcher dispatcher = new Dispatcher(config, new MapCatalog())) {
            Properties p = dispatcher.streamsProperties();
            assertThat(p).containsEntry(StreamsConfig.APPLICATION_ID_CONFIG, "my-dispatcher")
                    .containsEntry(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "broker:9092")
                    .containsEntry(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2)
                    .containsEntry(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 4)
                    .containsEntry(StreamsConfig.STATE_DIR_CONFIG, "/var/lib/onceflow")
                    .containsEntry(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, "250")
                    .containsEntry("max.poll.records", "1000");
        }
    }

    @Test
    void emptyStateDirMeansOwnTemporaryDirectory() {
        try (Dispatcher a = new Dispatcher(OnceflowConfig.defaults(), new MapCatalog());
             Dispatcher b = new Dispatcher(OnceflowConfig.defaults(), new MapCatalog())) {
            Object dirA = a.streamsProperties().get(StreamsConfig.STATE_DIR_CONFIG);
            assertThat(dirA).isNotNull().isNotEqualTo(b.streamsProperties().get(StreamsConfig.STATE_DIR_CONFIG));
            assertThat(a.streamsProperties().get(StreamsConfig.STATE_DIR_CONFIG)).isEqualTo(dirA);
            assertThat(a.streamsProperties()).containsEntry(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100)
                    .containsEntry("consumer.session.timeout.ms", 10_000);
        }
    }

    @Test
    void lifecycleIsGuarded() {
        Dispatcher dispatcher = new Dispatcher(OnceflowConfig.defaults(), new MapCatalog());
        assertThat(dispatcher.isRunning()).isFalse();
        assertThatThrownBy(() -> dispatcher.awaitRunning(Duration.ofMillis(1))).isInstanceOf(IllegalStateException.class);
        dispatcher.close();
        dispatcher.close();
        assertThat(dispatcher.state()).isEqualTo(Dispatcher.State.CLOSED);
        assertThatThrownBy(dispatcher::start).isInstanceOf(IllegalStateException.class).hasMessageContaining("CLOSED");
    }
}
