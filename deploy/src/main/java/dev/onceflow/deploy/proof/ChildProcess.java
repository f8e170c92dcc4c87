package dev.onceflow.deploy.proof;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A role of a chaos run as its own operating-system process, restartable with the same command.
 * {@link #kill9()} is SIGKILL: no shutdown hook, no leave-group, no abort — a crash.
 * {@link #freeze()} is SIGSTOP: the process keeps its sockets, sessions, locks and open
 * transactions but runs no code — no heartbeat, no commit — until {@link #thaw()} (SIGCONT), when
 * it carries on as a zombie that may have lost its partitions meanwhile. Output goes to a log file
 * per start. Methods are synchronized: driven by the chaos controller's fault thread, and
 * {@link #stop(int)} may also come from the JVM shutdown hook. Public where {@code RowChangeIT}
 * (dev.onceflow.deploy) kills a capture-leading dispatcher the same way.
 */
public final class ChildProcess {

    private final String name;
    private final List<String> command;
    private final Map<String, String> env;
    private final Path logDir;
    private Process process;
    private int starts;
    private boolean frozen;
    /** Started and not since killed or stopped on purpose: if it is not alive, it exited by itself. */
    private boolean wanted;

    public ChildProcess(String name, List<String> command, Map<String, String> env, Path logDir) {
        this.name = name;
        this.command = List.copyOf(command);
        this.env = Map.copyOf(env);
        this.logDir = logDir;
    }

    /** A JVM running {@code mainClass} on this JVM's class path. */
    public static List<String> java(String heap, String mainClass, List<String> args) {
        return java(heap, List.of(), mainClass, args);
    }

    /** As {@link #java(String, String, List)}, with extra JVM options (system properties) before the main class. */
    static List<String> java(String heap, List<String> jvmOptions, String mainClass, List<String> args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("-Xmx" + heap);
        cmd.add("-XX:+UseSerialGC");
        cmd.addAll(jvmOptions);
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(mainClass);
        cmd.addAll(args);
        return cmd;
    }

    public synchronized void start() throws IOException {
        if (process != null && process.isAlive()) {
            throw new IllegalStateException(name + " is already running");
        }
        starts++;
        ProcessBuilder pb = new ProcessBuilder(command);
        pb.environment().putAll(env);
        pb.redirectErrorStream(true);
        pb.redirectOutput(logDir.resolve(name + "-" + starts + ".log").toFile());
        process = pb.start();
        frozen = false;
        wanted = true;
    }

    /** Whether the process ended although nobody killed or stopped it (a crash, or an exit on an error at start). */
    synchronized boolean exitedByItself() {
        return wanted && process != null && !process.isAlive();
    }

    /** The exit code of the current start, or null while it runs (or before the first start). */
    synchronized Integer exitCode() {
        return process == null || process.isAlive() ? null : process.exitValue();
    }

    /** The log file of the current start (or of the next one, before the first start). */
    synchronized Path currentLog() {
        return logDir.resolve(name + "-" + Math.max(1, starts) + ".log");
    }

    /** The last line of the current start's log that is not a stack frame, or null. */
    synchronized String lastLogLine() {
        try {
            List<String> lines = java.nio.file.Files.readAllLines(logDir.resolve(name + "-" + starts + ".log"));
            for (int i = lines.size() - 1; i >= 0; i--) {
                String l = lines.get(i).strip();
                if (!l.isEmpty() && !l.startsWith("at ") && !l.startsWith("...")) {
                    return l.length() > 300 ? l.substring(0, 300) : l;
                }
            }
        } catch (IOException | java.io.UncheckedIOException e) {
            // no log to read
        }
        return null;
    }

    /** SIGSTOP: the process stops running, keeping its connections and state. */
    synchronized void freeze() throws IOException, InterruptedException {
        signal("STOP");
        frozen = true;
    }

    /** SIGCONT: a frozen process runs again from where it stopped. */
    synchronized void thaw() throws IOException, InterruptedException {
        if (frozen) {
            signal("CONT");
            frozen = false;
        }
    }

    synchronized boolean frozen() {
        return frozen;
    }

    /** Sends a signal with {@code kill}: Java can send SIGTERM and SIGKILL only. */
    private void signal(String name) throws IOException, InterruptedException {
        if (process == null || !process.isAlive()) {
            throw new IllegalStateException(this.name + " is not running");
        }
        Process kill = new ProcessBuilder("kill", "-" + name, Long.toString(process.pid())).redirectErrorStream(true).start();
        String said = new String(kill.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8).trim();
        if (!kill.waitFor(10, TimeUnit.SECONDS) || kill.exitValue() != 0) {
            throw new IOException("kill -" + name + " " + process.pid() + " failed: " + said);
        }
    }

    /** SIGKILL (which a frozen process receives too), then waits until the process is gone. */
    public synchronized void kill9() throws InterruptedException {
        wanted = false;
        if (process != null) {
            process.destroyForcibly();
            process.waitFor(30, TimeUnit.SECONDS);
            frozen = false;
        }
    }

    /** SIGTERM (a clean shutdown), then SIGKILL after {@code seconds}. A frozen process is thawed first, or SIGTERM would wait. */
    public synchronized void stop(int seconds) throws InterruptedException {
        wanted = false;
        if (process != null && process.isAlive()) {
            if (frozen) {
                try {
                    thaw();
                } catch (IOException e) {
                    process.destroyForcibly(); // cannot thaw it: SIGKILL still ends it
                }
            }
            process.destroy();
            if (!process.waitFor(seconds, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    synchronized boolean alive() {
        return process != null && process.isAlive();
    }

    /** The operating-system process id of the current start, or -1 before the first start. */
    public synchronized long pid() {
        return process == null ? -1 : process.pid();
    }

    String name() {
        return name;
    }

    @Override
    public String toString() {
        return name;
    }
}
