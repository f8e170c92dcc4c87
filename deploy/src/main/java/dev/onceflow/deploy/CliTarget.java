package dev.onceflow.deploy;

import java.io.IOException;
import java.io.InputStream;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import java.util.Properties;

/**
 * Where the operator commands send their requests: the dispatcher's API URL and its bearer token.
 * Each comes from the first that has it: the command line ({@code --url}, {@code --token}), the
 * environment ({@value #URL_ENV}, {@value #TOKEN_ENV} or the variable {@code --token-env} names),
 * the CLI file ({@code url=} and {@code token=} in {@link #file}, which {@code onceflow dev}
 * writes), else {@value #DEFAULT_URL} and no token. A value.
 */
public record CliTarget(String url, String token) {

    static final String URL_ENV = "ONCEFLOW_URL";
    static final String TOKEN_ENV = "ONCEFLOW_API_TOKEN";
    static final String FILE_ENV = "ONCEFLOW_CLI_CONFIG";
    static final String DEFAULT_URL = "http://localhost:8080";

    /** A URL or token that can never work: a usage error (exit 2), naming what to give instead. */
    static final class BadTarget extends RuntimeException {
        BadTarget(String message) {
            super(message);
        }
    }

    /**
     * @param urlFlag {@code --url}, or null
     * @param tokenFlag {@code --token}, or null
     * @param tokenEnv the variable that holds the token ({@code --token-env}, default {@value #TOKEN_ENV})
     */
    static CliTarget resolve(String urlFlag, String tokenFlag, String tokenEnv, Map<String, String> env) {
        Properties file = read(file(env));
        String url = first(urlFlag, env.get(URL_ENV), file.getProperty("url"), DEFAULT_URL);
        String token = first(tokenFlag, env.get(tokenEnv == null ? TOKEN_ENV : tokenEnv), file.getProperty("token"), null);
        return new CliTarget(checkedUrl(url), token);
    }

    /**
     * The CLI file: {@value #FILE_ENV} if set, else {@code $XDG_CONFIG_HOME/onceflow/cli.properties},
     * else {@code ~/.config/onceflow/cli.properties}.
     */
    public static Path file(Map<String, String> env) {
        String explicit = env.get(FILE_ENV);
        if (explicit != null && !explicit.isBlank()) {
            return Path.of(explicit);
        }
        String xdg = env.get("XDG_CONFIG_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".config");
        return base.resolve("onceflow").resolve("cli.properties");
    }

    /** The URL without trailing slashes; a usage error when it has no http(s) scheme or no host. */
    static String checkedUrl(String url) {
        String trimmed = url.strip().replaceAll("/+$", "");
        URI uri;
        try {
            uri = new URI(trimmed);
        } catch (URISyntaxException e) {
            throw new BadTarget("--url '" + url + "' is not a URL (" + e.getReason() + "), e.g. " + DEFAULT_URL);
        }
        String scheme = uri.getScheme();
        if (scheme == null || !(scheme.equalsIgnoreCase("http") || scheme.equalsIgnoreCase("https"))) {
            throw new BadTarget("--url needs a scheme, e.g. " + DEFAULT_URL + " (got '" + url + "')");
        }
        if (uri.getHost() == null) {
            throw new BadTarget("--url '" + url + "' names no host, e.g. " + DEFAULT_URL);
        }
        return trimmed;
    }

    /** Writes {@code url=} and {@code token=} to {@code file}, readable by its owner only. */
    public static void write(Path file, String url, String token) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        if (dir != null) {
            Files.createDirectories(dir);
        }
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.deleteIfExists(tmp);
        try {
            Files.createFile(tmp, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        } catch (UnsupportedOperationException notPosix) {
            Files.createFile(tmp);
        }
        Files.writeString(tmp, text(url, token), StandardCharsets.UTF_8);
        Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }

    /**
     * Removes {@code file} if it still holds exactly this URL and token (another {@code dev} started
     * since may have written its own, which must stay). Returns whether it was removed.
     */
    public static boolean removeIfOwn(Path file, String url, String token) {
        Properties p = read(file);
        if (url.equals(p.getProperty("url")) && token.equals(p.getProperty("token"))) {
            try {
                return Files.deleteIfExists(file);
            } catch (IOException e) {
                return false;
            }
        }
        return false;
    }

    private static String text(String url, String token) {
        Properties p = new Properties();
        p.setProperty("url", url);
        p.setProperty("token", token);
        StringWriter w = new StringWriter();
        try {
            p.store(w, "written by onceflow dev; removed when it stops");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return w.toString();
    }

    private static Properties read(Path file) {
        Properties p = new Properties();
        if (Files.isRegularFile(file)) {
            try (InputStream in = Files.newInputStream(file)) {
                p.load(in);
            } catch (IOException e) {
                throw new BadTarget("cannot read the CLI file " + file + ": " + e.getMessage());
            }
        }
        return p;
    }

    private static String first(String... values) {
        for (String v : values) {
            if (v != null && !v.isBlank()) {
                return v.strip();
            }
        }
        return null;
    }
}
