package dev.onceflow.common;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OnceflowConfigTest {

    @Test
    void environmentLoadsBackAsTheSameConfiguration() {
        OnceflowConfig config = OnceflowConfig.of(Map.of("kafka.bootstrap.servers", "k:1", "dispatcher.table.slot", "s1",
                "engine.workers", "5"));
        Map<String, String> env = config.environment();
        assertThat(env).containsEntry("ONCEFLOW_KAFKA_BOOTSTRAP_SERVERS", "k:1").containsEntry("ONCEFLOW_DISPATCHER_TABLE_SLOT", "s1")
                .doesNotContainKey("ONCEFLOW_DB_PASSWORD"); // empty values are left out
        assertThat(OnceflowConfig.load(null, env, Map.of()).asMap()).isEqualTo(config.asMap());
    }

    @Test
    void everyKeyHasADefaultAndADoc() {
        OnceflowConfig c = OnceflowConfig.defaults();
        assertThat(c.getInt(OnceflowConfig.ENGINE_WORKERS)).isEqualTo(3);
        assertThat(c.getInt(OnceflowConfig.PARTITIONS)).isEqualTo(6);
        for (OnceflowConfig.Key key : OnceflowConfig.KEYS) {
            assertThat(key.doc()).as(key.name()).isNotBlank();
        }
    }

    @Test
    void fileThenEnvironmentThenOverridesWin(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("onceflow.properties");
        Files.writeString(file, "engine.workers=5\ntopics.partitions=12\ndb.user=fromfile\n");
        OnceflowConfig c = OnceflowConfig.load(file, Map.of("ONCEFLOW_ENGINE_WORKERS", "7", "ONCEFLOW_DB_USER", "fromenv"),
                Map.of("db.user", "fromflag"));
        assertThat(c.getInt(OnceflowConfig.PARTITIONS)).isEqualTo(12);
        assertThat(c.getInt(OnceflowConfig.ENGINE_WORKERS)).isEqualTo(7);
        assertThat(c.get(OnceflowConfig.DB_USER)).isEqualTo("fromflag");
    }

    @Test
    void theConfigFileCanComeFromTheEnvironment(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("c.properties");
        Files.writeString(file, "engine.workers=9\n");
        assertThat(OnceflowConfig.load(null, Map.of("ONCEFLOW_CONFIG", file.toString()), Map.of())
                .getInt(OnceflowConfig.ENGINE_WORKERS)).isEqualTo(9);
    }

    @Test
    void environmentNamesAreUpperCaseWithUnderscores() {
        assertThat(OnceflowConfig.KAFKA_BOOTSTRAP.envName()).isEqualTo("ONCEFLOW_KAFKA_BOOTSTRAP_SERVERS");
    }

    @Test
    void invalidValuesNameTheKey() {
        assertThatThrownBy(() -> OnceflowConfig.of(Map.of("engine.workers", "0"))).hasMessageContaining("engine.workers")
                .hasMessageContaining("between");
        assertThatThrownBy(() -> OnceflowConfig.of(Map.of("topics.partitions", "many"))).hasMessageContaining("topics.partitions")
                .hasMessageContaining("whole number");
        assertThatThrownBy(() -> OnceflowConfig.of(Map.of("engine.wrokers", "2"))).hasMessageContaining("unknown configuration key 'engine.wrokers'");
    }

    @Test
    void clientSettingsPassThroughByPrefix() {
        OnceflowConfig c = OnceflowConfig.of(Map.of("kafka.producer.linger.ms", "5", "kafka.consumer.fetch.min.bytes", "1"));
        assertThat(c.clientSettings("kafka.producer.")).containsExactly(Map.entry("linger.ms", "5"));
        assertThat(c.clientSettings("kafka.consumer.")).containsOnlyKeys("fetch.min.bytes");
    }

    @Test
    void passwordsAreMaskedInToString() {
        assertThat(OnceflowConfig.of(Map.of("db.password", "s3cret")).toString()).doesNotContain("s3cret").contains("db.password=****");
    }
}
