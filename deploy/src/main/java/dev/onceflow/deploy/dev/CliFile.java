package dev.onceflow.deploy.dev;

import dev.onceflow.deploy.CliTarget;
import java.io.PrintStream;
import java.nio.file.Path;

/**
 * The CLI file {@code onceflow dev} writes once its dispatcher's API is up (the real URL and token,
 * owner-only), so that the operator commands in another terminal reach this dev with no flags; it
 * is removed on a clean stop if it still holds these values. Owned by one dev run.
 */
final class CliFile {

    private final Path path;
    private final String url;
    private final String token;

    private CliFile(Path path, String url, String token) {
        this.path = path;
        this.url = url;
        this.token = token;
    }

    /** Writes the file; returns null (after saying why) when it cannot be written: dev runs on without it. */
    static CliFile write(String url, String token, PrintStream out, PrintStream err) {
        Path path = CliTarget.file(System.getenv());
        try {
            CliTarget.write(path, url, token);
        } catch (java.io.IOException | RuntimeException e) {
            err.println("onceflow dev: could not write the CLI file " + path + " (" + e.getMessage()
                    + "); give the operator commands --url " + url + " --token " + token);
            return null;
        }
        out.println("CLI configured: " + path + " (onceflow commands in another terminal now reach this dev)");
        return new CliFile(path, url, token);
    }

    void remove() {
        CliTarget.removeIfOwn(path, url, token);
    }
}
