package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Where the operator commands send their requests: flag over environment over the CLI file over the default. */
class CliTargetTest {

    @TempDir
    Path dir;

    private Map<String, String> env(String... pairs) {
        Map<String, String> env = new HashMap<>();
        env.put(CliTarget.FILE_ENV, dir.resolve("cli.properties").toString());
        for (int i = 0; i < pairs.length; i += 2) {
            env.put(pairs[i], pairs[i + 1]);
        }
        return env;
    }

    @Test
    void aFlagBeatsTheEnvironmentWhichBeatsTheFileWhichBeatsTheDefault() throws Exception {
        assertThat(CliTarget.resolve(null, null, null, env())).isEqualTo(new CliTarget("http://localhost:8080", null));

        CliTarget.write(dir.resolve("cli.properties"), "http://localhost:20001", "file-token");
        assertThat(CliTarget.resolve(null, null, null, env())).isEqualTo(new CliTarget("http://localhost:20001", "file-token"));

        Map<String, String> env = env("ONCEFLOW_URL", "http://env:1/", "ONCEFLOW_API_TOKEN", "env-token");
        assertThat(CliTarget.resolve(null, null, null, env)).isEqualTo(new CliTarget("http://env:1", "env-token"));
        assertThat(CliTarget.resolve("https://flag:2", "flag-token", null, env)).isEqualTo(new CliTarget("https://flag:2", "flag-token"));
        assertThat(CliTarget.resolve(null, null, "MY_TOKEN", env("MY_TOKEN", "named")).token()).as("--token-env NAME").isEqualTo("named");
        assertThat(CliTarget.resolve(null, null, "MY_TOKEN", env()).token()).as("unset NAME falls back to the file").isEqualTo("file-token");
    }

    @Test
    void theFileIsOwnerOnlyAndFoundThroughXdgOrHome() throws Exception {
        Path file = dir.resolve("sub/cli.properties");
        CliTarget.write(file, "http://localhost:1", "t");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-------");
        assertThat(CliTarget.file(Map.of("XDG_CONFIG_HOME", "/x"))).isEqualTo(Path.of("/x/onceflow/cli.properties"));
        assertThat(CliTarget.file(Map.of())).isEqualTo(Path.of(System.getProperty("user.home"), ".config/onceflow/cli.properties"));
        assertThat(CliTarget.file(Map.of("ONCEFLOW_CLI_CONFIG", "/y/c.properties", "XDG_CONFIG_HOME", "/x")))
                .isEqualTo(Path.of("/y/c.properties"));
    }

    @Test
    void devRemovesTheFileOnlyWhileItHoldsItsOwnValues() throws Exception {
        Path file = dir.resolve("cli.properties");
        CliTarget.write(file, "http://localhost:1", "a");
        CliTarget.write(file, "http://localhost:2", "b"); // a second dev started since
        assertThat(CliTarget.removeIfOwn(file, "http://localhost:1", "a")).isFalse();
        assertThat(file).exists();
        assertThat(CliTarget.removeIfOwn(file, "http://localhost:2", "b")).isTrue();
        assertThat(file).doesNotExist();
    }

    @Test
    void aUrlWithoutASchemeIsAUsageErrorSayingWhatToGive() {
        assertThatThrownBy(() -> CliTarget.checkedUrl("localhost:8080")).isInstanceOf(CliTarget.BadTarget.class)
                .hasMessageStartingWith("--url needs a scheme, e.g. http://localhost:8080");
        assertThatThrownBy(() -> CliTarget.checkedUrl("ftp://h:1")).hasMessageContaining("needs a scheme");
        assertThat(CliTarget.checkedUrl("http://h:1//")).isEqualTo("http://h:1");

        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = AdminCli.run(List.of("fleet", "--url", "localhost:8080", "--token", "t"), new PrintStream(new ByteArrayOutputStream()),
                new PrintStream(err, true, StandardCharsets.UTF_8), env());
        assertThat(code).isEqualTo(AdminCli.USAGE);
        assertThat(err.toString(StandardCharsets.UTF_8)).contains("--url needs a scheme, e.g. http://localhost:8080");
    }

    @Test
    void anUnreachableServerIsExitFiveNamingTheUrlWithinSeconds() throws Exception {
        int port;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            port = s.getLocalPort();
        }
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        long start = System.nanoTime();
        int code = AdminCli.run(List.of("fleet", "--url", "http://127.0.0.1:" + port, "--token", "t"),
                new PrintStream(new ByteArrayOutputStream()), new PrintStream(err, true, StandardCharsets.UTF_8), env());
        assertThat(code).isEqualTo(AdminCli.UNAVAILABLE);
        assertThat(err.toString(StandardCharsets.UTF_8))
                .contains("cannot reach the Onceflow API at http://127.0.0.1:" + port + " (connection refused)");
        assertThat(java.time.Duration.ofNanos(System.nanoTime() - start)).isLessThan(java.time.Duration.ofSeconds(5));
    }
}
