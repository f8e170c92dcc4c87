package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ArgsTest {

    private static Map<String, String> sets(String... argv) {
        Args args = Args.parse("engine", List.of(argv), Set.of("config", "set"), Set.of());
        return Args.keyValues("set", args.all("set"));
    }

    @Test
    void aCommaInsideAValueStaysInTheValue() {
        assertThat(sets("--set", "kafka.bootstrap.servers=a:1,b:2")).containsExactly(Map.entry("kafka.bootstrap.servers", "a:1,b:2"));
        assertThat(sets("--set=kafka.bootstrap.servers=a:1,b:2,c:3,engine.workers=4"))
                .containsExactly(Map.entry("kafka.bootstrap.servers", "a:1,b:2,c:3"), Map.entry("engine.workers", "4"));
    }

    @Test
    void severalPairsInOneOptionOrRepeatedOptions() {
        assertThat(sets("--set", "engine.workers=2, db.user=u")).containsExactly(Map.entry("engine.workers", "2"),
                Map.entry("db.user", "u"));
        assertThat(sets("--set", "engine.workers=2", "--set", "kafka.bootstrap.servers=a:1,b:2", "--set", "engine.workers=5"))
                .containsExactly(Map.entry("engine.workers", "5"), Map.entry("kafka.bootstrap.servers", "a:1,b:2"));
        assertThat(sets()).isEmpty();
    }

    @Test
    void aPairWithoutAKeyIsAUsageError() {
        assertThatThrownBy(() -> sets("--set", "a:1,b:2")).isInstanceOf(Args.UsageException.class)
                .hasMessageContaining("--set expects key=value").hasMessageContaining("'a:1,b:2'");
        assertThatThrownBy(() -> sets("--set", "=x")).isInstanceOf(Args.UsageException.class);
    }
}
