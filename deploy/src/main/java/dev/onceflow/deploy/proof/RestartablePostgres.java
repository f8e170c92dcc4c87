package dev.onceflow.deploy.proof;

import dev.onceflow.common.local.LocalPostgres;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.util.ArrayList;
import java.util.List;
import javax.sql.DataSource;

/**
 * The chaos run's PostgreSQL: started from the embedded binaries (durable settings), then
 * restarted the hard way. {@link #restartImmediate()} sends SIGQUIT to the postmaster (what
 * {@code pg_ctl stop -m immediate} does: no checkpoint, crash recovery on the next start) and starts
 * the same server command again on the same data directory and port. Linux only (reads /proc).
 */
final class RestartablePostgres implements AutoCloseable {

    private final LocalPostgres embedded;
    private final Path dataDir;
    private final Path logDir;
    private List<String> command;
    private Process restarted;

    RestartablePostgres(Path dir, Path logDir) throws IOException {
        this.embedded = LocalPostgres.start(dir);
        this.dataDir = dir.resolve("data");
        this.logDir = logDir;
        long pid = postmasterPid();
        byte[] raw = Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline"));
        List<String> cmd = new ArrayList<>();
        if ("root".equals(System.getProperty("user.name"))) {
            // PostgreSQL refuses to run as root; zonky starts it in a user namespace, and so do we.
            cmd.addAll(List.of("unshare", "-U"));
        }
        for (String part : new String(raw, StandardCharsets.UTF_8).split("\0")) {
            if (!part.isEmpty()) {
                cmd.add(part);
            }
        }
        this.command = cmd;
    }

    int port() {
        return embedded.port();
    }

    DataSource dataSource() {
        return embedded.dataSource();
    }

    long postmasterPid() throws IOException {
        return Long.parseLong(Files.readAllLines(dataDir.resolve("postmaster.pid")).get(0).trim());
    }

    /** Immediate shutdown (SIGQUIT to the postmaster), then a start with the same command. */
    void restartImmediate(long downMillis) throws Exception {
        long pid = postmasterPid();
        new ProcessBuilder("kill", "-QUIT", Long.toString(pid)).start().waitFor();
        long deadline = System.currentTimeMillis() + 30_000;
        while (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false) && System.currentTimeMillis() < deadline) {
            Thread.sleep(50);
        }
        Thread.sleep(downMillis);
        ProcessBuilder pb = new ProcessBuilder(command);
        pb.redirectErrorStream(true);
        pb.redirectOutput(ProcessBuilder.Redirect.appendTo(logDir.resolve("postgres.log").toFile()));
        restarted = pb.start();
        awaitReady(60_000);
    }

    void awaitReady(long timeoutMillis) throws Exception {
        long deadline = System.currentTimeMillis() + timeoutMillis;
        while (true) {
            try (Connection c = dataSource().getConnection()) {
                if (c.isValid(2)) {
                    return;
                }
            } catch (java.sql.SQLException e) {
                if (System.currentTimeMillis() > deadline) {
                    throw new IllegalStateException("PostgreSQL did not come back within " + timeoutMillis + " ms: " + e.getMessage());
                }
            }
            Thread.sleep(200);
        }
    }

    @Override
    public void close() {
        // pg_ctl stop (inside embedded.close) stops whichever postmaster owns the data directory,
        // ours after a restart included; then make sure our child is gone.
        embedded.close();
        if (restarted != null) {
            try {
                if (!restarted.waitFor(15, java.util.concurrent.TimeUnit.SECONDS)) {
                    restarted.destroyForcibly();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                restarted.destroyForcibly();
            }
        }
    }
}
