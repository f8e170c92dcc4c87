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
                "engine.workers", "5", "kafka.producer.linger.ms", "7"));
        Map<String, String> env = config.environment();
        assertThat(env).containsEntry("ONCEFLOW_KAFKA_BOOTSTRAP_SERVERS", "k:1").containsEntry("ONCEFLOW_DISPATCHER_TABLE_SLOT", "s1")
                .containsEntry("ONCEFLOW_KAFKA_PRODUCER_LINGER_MS", "7")
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
    void dbSchemaIsEmptyByDefaultAndMustBeAPlainSchemaName() {
        assertThat(OnceflowConfig.defaults().schema()).as("today's behaviour: the connection's default search_path").isEmpty();
        assertThat(OnceflowConfig.of(Map.of("db.schema", "onceflow")).schema()).isEqualTo("onceflow");
        assertThat(OnceflowConfig.of(Map.of("db.schema", " onceflow ")).schema()).isEqualTo("onceflow");
        for (String bad : new String[] {"Onceflow", "once-flow", "1flow", "pg_onceflow", "a,b", "x".repeat(64)}) {
            assertThatThrownBy(() -> OnceflowConfig.of(Map.of("db.schema", bad))).as(bad)
                    .hasMessageContaining("configuration key 'db.schema'").hasMessageContaining("not a schema name");
        }
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

    @Test
    void passThroughKeysComeFromTheEnvironmentToo(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("c.properties");
        Files.writeString(file, "kafka.producer.linger.ms=1\nkafka.consumer.fetch.min.bytes=1\n");
        OnceflowConfig c = OnceflowConfig.load(file, Map.of("ONCEFLOW_KAFKA_PRODUCER_LINGER_MS", "5",
                "ONCEFLOW_KAFKA_STREAMS_COMMIT_INTERVAL_MS", "250", "ONCEFLOW_KAFKA_ADMIN_REQUEST_TIMEOUT_MS", "9000",
                "ONCEFLOW_KAFKA_CONSUMER_MAX_POLL_INTERVAL_MS", "60000"), Map.of("kafka.consumer.fetch.min.bytes", "2"));
        assertThat(c.clientSettings("kafka.producer.")).containsExactly(Map.entry("linger.ms", "5")); // env over file
        assertThat(c.clientSettings("kafka.streams.")).containsExactly(Map.entry("commit.interval.ms", "250"));
        assertThat(c.clientSettings("kafka.admin.")).containsExactly(Map.entry("request.timeout.ms", "9000"));
        assertThat(c.clientSettings("kafka.consumer.")).containsEntry("fetch.min.bytes", "2") // flag over file
                .containsEntry("max.poll.interval.ms", "60000");
    }

    @Test
    void anUnknownOnceflowEnvironmentVariableIsReportedAndOthersAreNot() {
        Map<String, String> env = Map.of("ONCEFLOW_ENGINE_WROKERS", "2", "ONCEFLOW_ENGINE_WORKERS", "2", "ONCEFLOW_CONFIG", "/x",
                "ONCEFLOW_KAFKA_PRODUCER_LINGER_MS", "5", "ONCEFLOW_KAFKA_PRODUCER_", "5", "PATH", "/bin", "ONCEFLOWX", "1");
        assertThat(OnceflowConfig.unknownEnvironment(env)).containsExactly("ONCEFLOW_ENGINE_WROKERS", "ONCEFLOW_KAFKA_PRODUCER_");
        // still only a warning: the configuration loads
        assertThat(OnceflowConfig.load(null, Map.of("ONCEFLOW_ENGINE_WROKERS", "2"), Map.of()).getInt(OnceflowConfig.ENGINE_WORKERS))
                .isEqualTo(3);
    }

    @Test
    void environmentNamesOfPassThroughKeysMapToLowerCaseDottedKeys() {
        assertThat(OnceflowConfig.passThroughKey("ONCEFLOW_KAFKA_PRODUCER_LINGER_MS")).isEqualTo("kafka.producer.linger.ms");
        assertThat(OnceflowConfig.passThroughKey("ONCEFLOW_KAFKA_STREAMS_MAIN_CONSUMER_FETCH_MAX_WAIT_MS"))
                .isEqualTo("kafka.streams.main.consumer.fetch.max.wait.ms");
        assertThat(OnceflowConfig.passThroughKey("ONCEFLOW_KAFKA_BOOTSTRAP_SERVERS")).isNull();
    }

    @Test
    void aPassThroughKeyTheEnvironmentCannotSpellIsAnErrorNotADrop() {
        OnceflowConfig c = OnceflowConfig.of(Map.of("kafka.producer.some_setting", "1"));
        assertThatThrownBy(c::environment).hasMessageContaining("kafka.producer.some_setting");
    }

    @Test
    void settingsTheGuaranteeRestsOnAreRefusedNamingTheKeyAndWhy() {
        for (String key : new String[] {"kafka.consumer.isolation.level", "kafka.consumer.enable.auto.commit",
                "kafka.producer.transactional.id", "kafka.producer.enable.idempotence", "kafka.producer.acks",
                "kafka.streams.processing.guarantee", "kafka.streams.producer.acks", "kafka.streams.consumer.isolation.level",
                "kafka.streams.main.consumer.isolation.level", "kafka.streams.producer.transactional.id",
                "kafka.streams.producer.enable.idempotence"}) {
            assertThatThrownBy(() -> OnceflowConfig.of(Map.of(key, "x"))).as(key)
                    .hasMessageContaining("configuration key '" + key + "' cannot be set: ");
        }
        assertThatThrownBy(() -> OnceflowConfig.of(Map.of("kafka.consumer.isolation.level", "read_uncommitted")))
                .hasMessageContaining("read_committed");
        assertThatThrownBy(() -> OnceflowConfig.load(null, Map.of("ONCEFLOW_KAFKA_PRODUCER_ACKS", "1"), Map.of()))
                .hasMessageContaining("'kafka.producer.acks'").hasMessageContaining("acks=all");
        // tunable settings next to them still pass
        assertThat(OnceflowConfig.of(Map.of("kafka.producer.batch.size", "10000", "kafka.producer.linger.ms", "5",
                "kafka.streams.commit.interval.ms", "50")).clientSettings("kafka.producer.")).hasSize(2);
        assertThatThrownBy(() -> OnceflowConfig.of(Map.of("kafka.producer.transaction.timeout.ms", "60000")))
                .hasMessageContaining("engine.transaction.timeout.ms");
    }

    @Test
    void numbersOutOfRangeOrNotNumbersAreRefusedFromEverySource(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("c.properties");
        Files.writeString(file, "engine.sql.timeout.ms=soon\n");
        assertThatThrownBy(() -> OnceflowConfig.load(file, Map.of(), Map.of())).hasMessageContaining("engine.sql.timeout.ms")
                .hasMessageContaining("whole number").hasMessageContaining("'soon'");
        assertThatThrownBy(() -> OnceflowConfig.load(null, Map.of("ONCEFLOW_TOPICS_PARTITIONS", "100000"), Map.of()))
                .hasMessageContaining("topics.partitions").hasMessageContaining("between 1 and 10000");
        assertThatThrownBy(() -> OnceflowConfig.load(null, Map.of(), Map.of("engine.workers", "1.5")))
                .hasMessageContaining("engine.workers").hasMessageContaining("whole number");
        assertThatThrownBy(() -> OnceflowConfig.of(Map.of("dispatcher.dedupe.retention.ms", "99999999999999999999")))
                .hasMessageContaining("dispatcher.dedupe.retention.ms");
        assertThatThrownBy(() -> OnceflowConfig.of(Map.of("db.url", " "))).hasMessageContaining("db.url").hasMessageContaining("empty");
    }

    @Test
    void theDedupeHorizonMayNotBeShorterThanTheHistory() {
        OnceflowConfig defaults = OnceflowConfig.defaults();
        assertThat(defaults.getLong(OnceflowConfig.RETENTION_EXECUTIONS_MS)).isEqualTo(7 * 86_400_000L);
        assertThat(defaults.getLong(OnceflowConfig.RETENTION_KEYS_MS)).isEqualTo(30 * 86_400_000L);
        assertThatThrownBy(() -> OnceflowConfig.of(Map.of("retention.executions.ms", "10000", "retention.keys.ms", "9999")))
                .hasMessageContaining("'retention.keys.ms' (9999) must be at least 'retention.executions.ms' (10000)");
        // a history longer than the default horizon needs a horizon raised with it
        assertThatThrownBy(() -> OnceflowConfig.load(null, Map.of("ONCEFLOW_RETENTION_EXECUTIONS_MS", String.valueOf(60 * 86_400_000L)),
                Map.of())).hasMessageContaining("retention.keys.ms");
        assertThat(OnceflowConfig.of(Map.of("retention.executions.ms", "10000", "retention.keys.ms", "10000"))
                .getLong(OnceflowConfig.RETENTION_KEYS_MS)).isEqualTo(10_000);
    }
}
