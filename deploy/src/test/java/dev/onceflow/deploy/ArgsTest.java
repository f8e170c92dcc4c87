package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ArgsTest {

    private static Map<String, String> sets(String... argv) {
        Args args = Args.parse(RoleCommand.ENGINE, List.of(argv));
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

    @Test
    void everyCommandAnswersHelpWithItsOptionsAndUsage() {
        for (String command : List.of("dev", "engine", "dispatcher", "workflow", "publish", "chaos", "bench", "config", "executions")) {
            java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
            int code = Onceflow.run(List.of(command, "--help"), new java.io.PrintStream(out, true), new java.io.PrintStream(
                    new java.io.ByteArrayOutputStream(), true));
            assertThat(code).as(command).isZero();
            assertThat(out.toString()).as(command).startsWith("Usage: onceflow " + command).contains("--help");
        }
    }

    @Test
    void anUnknownOptionIsAUsageErrorNamingItAndTheLastOfARepeatedOptionWins() {
        assertThatThrownBy(() -> Args.parse(dev.onceflow.deploy.proof.BenchCommand.SPEC, List.of("--executions", "5", "--nope")))
                .isInstanceOf(Args.UsageException.class).hasMessageContaining("'--nope'");
        assertThatThrownBy(() -> Args.parse(dev.onceflow.deploy.proof.ChaosCommand.SPEC, List.of("--seed", "1", "x")))
                .as("no command of these takes words").isInstanceOf(Args.UsageException.class).hasMessageContaining("'x'");
        Args args = Args.parse(dev.onceflow.deploy.proof.ChaosCommand.SPEC, List.of("--seed", "-5", "--seed=7", "--unsafe"));
        assertThat(args.get("seed", null)).isEqualTo("7");
        assertThat(args.flag("unsafe")).isTrue();
    }
}
