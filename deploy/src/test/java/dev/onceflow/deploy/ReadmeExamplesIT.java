package dev.onceflow.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every command of README.md's {@code sh} blocks, run with bash in order, as a reader would: the
 * {@code onceflow} launcher of {@code bin/} on the PATH, against a real {@code onceflow dev} that the
 * README's own {@code onceflow dev} line starts (a child process of the built jar, stopped at the
 * end), and with the CLI file in a temporary directory, so nothing touches the real home. Each must
 * exit 0 (or the status its {@code # exits N} comment gives) and show the key words of the output
 * block printed after it ({@link ReadmeExamples}). A command this test does not run must be listed
 * in {@link #NOT_RUN} with the reason: a new README command cannot go untested unnoticed. The first
 * command runs without its {@code mvn package} (failsafe runs after it); when it serves (no
 * {@code --exit}), it is the walkthrough's {@code dev}, as the README tells a reader, and its demo's
 * verdict, printed while the walkthrough runs, must be OK. A first command with {@code --exit} runs
 * beside the walkthrough instead.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class ReadmeExamplesIT {

    /** Commands shown in the README that this test does not run, and why. */
    static final Map<String, String> NOT_RUN = Map.of(
            "mvn -B verify", "it is the test suite this test runs in",
            "docker build -t onceflow:local .", "no Docker on the build machine; DeployFilesTest checks the Dockerfile",
            "docker run --rm onceflow:local config", "no Docker on the build machine; DeployFilesTest checks the image's entrypoint");

    /** Stripped from the first command: failsafe runs after {@code package}, so the jar is built. */
    static final String BUILD_PREFIX = "mvn -B -q -DskipTests package && ";

    /** Tools whose commands the test can never run here: one of them not in {@link #NOT_RUN} fails the test. */
    private static final List<String> UNRUNNABLE_TOOLS = List.of("mvn", "docker", "kubectl", "helm");

    /** Commands that only read state: run again until their output shows, as a reader looks again a moment later. */
    private static final List<String> READS = List.of("onceflow executions show", "onceflow executions list",
            "onceflow workflow list", "onceflow dlq list", "onceflow fleet");

    private static final Duration COMMAND_TIMEOUT = Duration.ofSeconds(180);
    private static final Duration READ_PATIENCE = Duration.ofSeconds(30);
    private static final Duration DEV_READY_TIMEOUT = Duration.ofSeconds(120);
    private static final Duration DEMO_VERDICT_TIMEOUT = Duration.ofSeconds(180);

    private static final String DEV_READY = "ready: CLI file written";

    static final Path REPO = Path.of("..").toAbsolutePath().normalize();

    @Test
    void everyReadmeCommandRunsAsShown(@TempDir Path tmp) throws Exception {
        List<ReadmeExamples.Command> commands = ReadmeExamples.commands(Files.readString(REPO.resolve("README.md")));
        assertThat(commands).as("commands in README.md's sh blocks").isNotEmpty();
        assertThat(unlisted(commands)).as("README commands this test cannot run: list each in NOT_RUN with the reason")
                .isEmpty();
        assertThat(staleNotRun(commands)).as("NOT_RUN entries the README no longer shows").isEmpty();

        // The reader's working directory: the clone (every top-level entry linked), so that files the
        // README writes (my-first.json, out.json) land here and not in the checkout.
        Path work = Files.createDirectory(tmp.resolve("clone"));
        try (Stream<Path> top = Files.list(REPO)) {
            for (Path entry : top.toList()) {
                Files.createSymbolicLink(work.resolve(entry.getFileName()), entry);
            }
        }
        Path cliFile = tmp.resolve("config").resolve("onceflow").resolve("cli.properties");
        Map<String, String> env = readerEnvironment(work, tmp, cliFile);

        StringBuilder printed = new StringBuilder();
        List<String> failures = new ArrayList<>();
        List<String> log = new ArrayList<>();
        Process dev = null;
        boolean servingDemo = false;
        CompletableFuture<Result> demoRun = null;
        ReadmeExamples.Command demoCommand = null;
        try {
            for (ReadmeExamples.Command c : commands) {
                String text = c.command();
                if (NOT_RUN.containsKey(text)) {
                    log.add("not run   README:" + c.line() + " " + text + " (" + NOT_RUN.get(text) + ")");
                    continue;
                }
                if (text.startsWith(BUILD_PREFIX) && isServingDev(text.substring(BUILD_PREFIX.length()))) {
                    // The first command serves after its demo: the walkthrough's commands reach it, as the README says.
                    String serving = text.substring(BUILD_PREFIX.length());
                    dev = startDev(serving, work, env, tmp.resolve("dev.log"));
                    String ready = awaitDevReady(dev, cliFile, tmp.resolve("dev.log"));
                    log.add("started   README:" + c.line() + " " + serving + " (without its build; " + ready + ")");
                    if (!ready.equals(DEV_READY)) {
                        failures.add("README:" + c.line() + " " + serving + ": " + ready);
                    }
                    servingDemo = !serving.contains("--no-demo");
                    continue;
                }
                if (text.startsWith(BUILD_PREFIX)) {
                    // The demo run needs nothing from the walkthrough and the walkthrough nothing from it
                    // (its own embedded broker and PostgreSQL on free ports): it runs beside it, checked at the end.
                    // Its own CLI file: a dev that writes one must not point the walkthrough's commands at itself.
                    String demo = text.substring(BUILD_PREFIX.length());
                    Map<String, String> demoEnv = new java.util.HashMap<>(env);
                    demoEnv.put("ONCEFLOW_CLI_CONFIG", tmp.resolve("demo-cli.properties").toString());
                    demoRun = CompletableFuture.supplyAsync(() -> {
                        try {
                            return runOnce(demo, c, work, demoEnv);
                        } catch (Exception e) {
                            return new Result(-1, e.toString(), 0, "could not run: " + e);
                        }
                    });
                    demoCommand = c;
                    continue;
                }
                if (isServingDev(text)) {
                    dev = startDev(text, work, env, tmp.resolve("dev.log"));
                    String ready = awaitDevReady(dev, cliFile, tmp.resolve("dev.log"));
                    log.add("started   README:" + c.line() + " " + text + " (" + ready + ")");
                    if (!ready.equals(DEV_READY)) {
                        failures.add("README:" + c.line() + " " + text + ": " + ready);
                    }
                    continue;
                }
                Optional<String> filled = ReadmeExamples.fillKeys(text, printed.toString());
                if (filled.isEmpty()) {
                    failures.add("README:" + c.line() + " " + c.firstLine() + ": no event key printed before it for its placeholder");
                    continue;
                }
                Result r = runAsReader(filled.get(), c, work, env);
                printed.append(r.output());
                log.add("ran       README:" + c.line() + " " + c.firstLine() + " → exit " + r.exit() + " in " + r.millis() + " ms");
                if (r.problem() != null) {
                    failures.add("README:" + c.line() + " " + c.firstLine() + ": " + r.problem() + "\n--- output:\n" + tail(r.output()));
                }
            }
            if (servingDemo && dev != null) {
                // The serving dev's demo ran beside the walkthrough: its verdict must be OK.
                String verdict = awaitVerdict(dev, tmp.resolve("dev.log"));
                log.add("verdict   " + verdict);
                if (!verdict.contains("OK:")) {
                    failures.add("the first command's demo: " + verdict);
                }
            }
            if (demoRun != null) {
                Result r = demoRun.get(COMMAND_TIMEOUT.toSeconds() + 30, TimeUnit.SECONDS);
                log.add("ran       README:" + demoCommand.line() + " " + demoCommand.firstLine() + " (without its build, beside the rest)"
                        + " → exit " + r.exit() + " in " + r.millis() + " ms");
                if (r.problem() != null) {
                    failures.add("README:" + demoCommand.line() + " " + demoCommand.firstLine() + ": " + r.problem()
                            + "\n--- output:\n" + tail(r.output()));
                }
            }
        } finally {
            if (dev != null) {
                stop(dev);
            }
        }
        System.out.println(String.join("\n", log));
        assertThat(failures).as(String.join("\n", log)).isEmpty();
    }

    /** Commands of tools this test cannot run that NOT_RUN does not list. */
    static List<String> unlisted(List<ReadmeExamples.Command> commands) {
        List<String> out = new ArrayList<>();
        for (ReadmeExamples.Command c : commands) {
            String text = c.command().startsWith(BUILD_PREFIX) ? c.command().substring(BUILD_PREFIX.length()) : c.command();
            String tool = text.strip().split("\\s+")[0];
            if (UNRUNNABLE_TOOLS.contains(tool) && !NOT_RUN.containsKey(c.command())) {
                out.add("README:" + c.line() + " " + c.firstLine());
            }
        }
        return out;
    }

    /** NOT_RUN entries that are no command of the README any more. */
    static List<String> staleNotRun(List<ReadmeExamples.Command> commands) {
        List<String> shown = commands.stream().map(ReadmeExamples.Command::command).toList();
        return NOT_RUN.keySet().stream().filter(k -> !shown.contains(k)).sorted().toList();
    }

    /** {@code onceflow dev} (or the jar's) that serves until stopped (not {@code --exit}): the server of the walkthrough. */
    static boolean isServingDev(String command) {
        return command.matches("(onceflow|java -jar deploy/target/onceflow\\.jar) dev(\\s.*)?") && !command.contains("--exit");
    }

    /** The demo's verdict line from a serving dev's output, once printed, or why there is none. */
    private static String awaitVerdict(Process dev, Path log) throws Exception {
        long deadline = System.nanoTime() + DEMO_VERDICT_TIMEOUT.toNanos();
        while (System.nanoTime() < deadline) {
            String printed = Files.exists(log) ? Files.readString(log, StandardCharsets.UTF_8) : "";
            Optional<String> verdict = printed.lines().filter(l -> l.strip().startsWith("verdict ")).findFirst();
            if (verdict.isPresent()) {
                return verdict.get().strip();
            }
            if (!dev.isAlive()) {
                return "dev exited with " + dev.exitValue() + " before its verdict:\n" + tail(printed);
            }
            dev.waitFor(500, TimeUnit.MILLISECONDS);
        }
        return "no verdict within " + DEMO_VERDICT_TIMEOUT.toSeconds() + " s:\n" + tail(Files.readString(log));
    }

    /** The environment of a reader in a fresh shell: no Onceflow variables, the launcher on the PATH. */
    private static Map<String, String> readerEnvironment(Path work, Path tmp, Path cliFile) {
        Map<String, String> env = new java.util.HashMap<>(System.getenv());
        env.keySet().removeIf(k -> k.startsWith("ONCEFLOW_") || k.startsWith("OTEL_"));
        env.put("PATH", work.resolve("bin") + java.io.File.pathSeparator + env.getOrDefault("PATH", "/usr/bin:/bin"));
        env.put("ONCEFLOW_CLI_CONFIG", cliFile.toString());
        env.put("XDG_CONFIG_HOME", tmp.resolve("config").toString());
        return env;
    }

    private static ProcessBuilder bash(String command, Path work, Map<String, String> env) {
        ProcessBuilder pb = new ProcessBuilder("bash", "-o", "pipefail", "-c", command).directory(work.toFile());
        pb.environment().clear();
        pb.environment().putAll(env);
        return pb;
    }

    private static Process startDev(String command, Path work, Map<String, String> env, Path log) throws IOException {
        // exec: the java process replaces bash, so stopping it is Ctrl-C's SIGTERM to dev itself
        return bash("exec " + command, work, env).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    /**
     * Waits until dev serves: its CLI file names a URL and a token (what the commands read), or, for a
     * dev that writes none, it printed "Press Ctrl-C". Returns "ready (…)" or the reason it is not.
     */
    private static String awaitDevReady(Process dev, Path cliFile, Path log) throws Exception {
        long deadline = System.nanoTime() + DEV_READY_TIMEOUT.toNanos();
        while (System.nanoTime() < deadline) {
            if (Files.exists(cliFile)) {
                Properties p = new Properties();
                try (var in = Files.newBufferedReader(cliFile)) {
                    p.load(in);
                }
                if (p.getProperty("url") != null && p.getProperty("token") != null) {
                    return DEV_READY;
                }
            }
            String printed = Files.exists(log) ? Files.readString(log, StandardCharsets.UTF_8) : "";
            if (printed.contains("Press Ctrl-C")) {
                return "serving, but it wrote no CLI file " + cliFile + ": the commands cannot find it";
            }
            if (!dev.isAlive()) {
                return "dev exited with " + dev.exitValue() + " before serving:\n" + tail(printed);
            }
            dev.waitFor(250, TimeUnit.MILLISECONDS);
        }
        return "dev not serving within " + DEV_READY_TIMEOUT.toSeconds() + " s:\n" + tail(Files.readString(log));
    }

    private static void stop(Process dev) throws InterruptedException {
        dev.descendants().forEach(ProcessHandle::destroy);
        dev.destroy();
        if (!dev.waitFor(90, TimeUnit.SECONDS)) {
            dev.descendants().forEach(ProcessHandle::destroyForcibly);
            dev.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
    }

    /** One command's run: its exit, output, and what is wrong with it (null when nothing). */
    private record Result(int exit, String output, long millis, String problem) {
    }

    /** Runs a command; one that only reads state is run again until it shows what the README shows. */
    private static Result runAsReader(String command, ReadmeExamples.Command c, Path work, Map<String, String> env)
            throws Exception {
        Result first = runOnce(command, c, work, env);
        if (first.problem() == null || READS.stream().noneMatch(command::startsWith)) {
            return first;
        }
        // A reader looking again a moment later: the state is another process's. The last run is the answer.
        AtomicReference<Result> last = new AtomicReference<>(first);
        try {
            Awaitility.await().atMost(READ_PATIENCE).pollDelay(Duration.ofSeconds(1)).pollInterval(Duration.ofSeconds(1))
                    .until(() -> {
                        last.set(runOnce(command, c, work, env));
                        return last.get().problem() == null;
                    });
        } catch (ConditionTimeoutException e) {
            // the last run's problem says what the README shows and the command did not
        }
        return last.get();
    }

    private static Result runOnce(String command, ReadmeExamples.Command c, Path work, Map<String, String> env)
            throws Exception {
        long start = System.nanoTime();
        Process p = bash(command, work, env).redirectErrorStream(true).start();
        p.getOutputStream().close();
        byte[] out;
        try (var in = p.getInputStream()) {
            // read while it runs, so a chatty command cannot fill the pipe and stall
            var reader = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                try {
                    return in.readAllBytes();
                } catch (IOException e) {
                    return ("(output unreadable: " + e + ")").getBytes(StandardCharsets.UTF_8);
                }
            });
            if (!p.waitFor(COMMAND_TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                return new Result(-1, new String(reader.get(10, TimeUnit.SECONDS), StandardCharsets.UTF_8),
                        (System.nanoTime() - start) / 1_000_000, "did not finish within " + COMMAND_TIMEOUT.toSeconds() + " s");
            }
            out = reader.get(10, TimeUnit.SECONDS);
        }
        String output = new String(out, StandardCharsets.UTF_8);
        long millis = (System.nanoTime() - start) / 1_000_000;
        if (p.exitValue() != c.exitStatus()) {
            return new Result(p.exitValue(), output, millis, "exit " + p.exitValue() + ", the README says " + c.exitStatus());
        }
        if (c.output().isPresent()) {
            List<String> missing = ReadmeExamples.missingOutput(c.output().get(), output);
            if (!missing.isEmpty()) {
                return new Result(p.exitValue(), output, millis, "output lacks what the README shows: " + missing);
            }
        }
        return new Result(p.exitValue(), output, millis, null);
    }

    private static String tail(String s) {
        List<String> lines = s.lines().filter(l -> !l.contains(" INFO ")).toList();
        return String.join("\n", lines.subList(Math.max(0, lines.size() - 25), lines.size()));
    }
}
