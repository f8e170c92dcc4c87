package dev.onceflow.common.http;

import dev.onceflow.common.HttpPaths;
import dev.onceflow.common.Json;
import io.javalin.Javalin;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The HTTP server of one role (Javalin on Jetty): {@link HttpPaths#HEALTH_LIVE},
 * {@link HttpPaths#HEALTH_READY} and {@link HttpPaths#METRICS} for probes and scrapers, without a
 * token; and the role's routes under {@link HttpPaths#API}, each request of which must carry
 * {@code Authorization: Bearer <api.token>} (401 otherwise). Every error is a JSON object
 * {@code {"error": "..."}} naming the cause: an {@link ApiException} answers its status, an
 * unknown path 404, anything unexpected 500 (logged). Owns its threads; {@link #close()} stops it.
 */
public final class RoleServer implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(RoleServer.class);

    /** A health answer: up or not, and why (shown to whoever asks). */
    public record Health(boolean up, Map<String, Object> detail) {
        public static Health up(Map<String, Object> detail) {
            return new Health(true, detail);
        }

        public static Health down(Map<String, Object> detail) {
            return new Health(false, detail);
        }

        /** Whether PostgreSQL answers within 2 s; notes {@code postgres} (and the error) in {@code detail}. */
        public static boolean postgresUp(javax.sql.DataSource db, Map<String, Object> detail) {
            boolean up;
            try (java.sql.Connection c = db.getConnection()) {
                up = c.isValid(2);
            } catch (java.sql.SQLException e) {
                up = false;
                detail.put("postgresError", e.getMessage());
            }
            detail.put("postgres", up ? "UP" : "DOWN");
            return up;
        }
    }

    /**
     * Seconds since the oldest last heartbeat among these metrics ({@code last-heartbeat-seconds-ago}
     * of Kafka consumers in a group), NaN when there is none: a member whose heartbeats stop
     * reaching the group coordinator has lost the broker, while its assignment still looks fine.
     */
    public static double heartbeatAgeSeconds(Map<org.apache.kafka.common.MetricName, ? extends org.apache.kafka.common.Metric> metrics) {
        double oldest = Double.NaN;
        for (var e : metrics.entrySet()) {
            if ("last-heartbeat-seconds-ago".equals(e.getKey().name()) && e.getValue().metricValue() instanceof Number n
                    && (Double.isNaN(oldest) || n.doubleValue() > oldest)) {
                oldest = n.doubleValue();
            }
        }
        return oldest;
    }

    /** Notes {@code broker} in {@code detail}: UP while the oldest heartbeat is younger than the session timeout. */
    public static boolean brokerUp(double heartbeatAgeSeconds, long sessionTimeoutMs, Map<String, Object> detail) {
        boolean up = !Double.isNaN(heartbeatAgeSeconds) && heartbeatAgeSeconds * 1000 < sessionTimeoutMs;
        detail.put("broker", up ? "UP" : "DOWN");
        if (!Double.isNaN(heartbeatAgeSeconds)) {
            detail.put("lastHeartbeatSecondsAgo", Math.round(heartbeatAgeSeconds));
        }
        return up;
    }

    /**
     * What a role plugs into its server.
     *
     * @param console a classpath folder served as static files at {@link HttpPaths#CONSOLE}, with the
     *                WebJars on the classpath at {@code /webjars/}, both without a token (the files hold
     *                no data: the page calls {@link HttpPaths#API} with the token); null: no console
     */
    public record Role(String name, Supplier<Health> live, Supplier<Health> ready, Supplier<String> metrics,
                       Consumer<RoutesConfig> api, String console) {

        /** A role without a console. */
        public Role(String name, Supplier<Health> live, Supplier<Health> ready, Supplier<String> metrics, Consumer<RoutesConfig> api) {
            this(name, live, ready, metrics, api, null);
        }
    }

    /**
     * Headers of the console's files: no script but the server's own (the token in the page's
     * session cannot be sent elsewhere by an injected script), no referrer (the URL's fragment never
     * leaves the browser anyway), and revalidation so a new jar's files are picked up.
     */
    static final Map<String, String> CONSOLE_HEADERS = Map.of(
            "Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                    + "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
            "Referrer-Policy", "no-referrer",
            "X-Content-Type-Options", "nosniff",
            "Cache-Control", "no-cache");

    private final Javalin app;
    private final byte[] token;

    /**
     * Starts the server.
     *
     * @param host  address to listen on; empty: every interface
     * @param port  0 for a free port
     * @param token the bearer token of {@link HttpPaths#API}; null or empty only when the role has
     *              no API routes (the caller enforces "no API without a token")
     */
    public RoleServer(String host, int port, String token, Role role) {
        this.token = token == null || token.isEmpty() ? null : token.getBytes(StandardCharsets.UTF_8);
        if (host != null && !host.isBlank()) {
            try {
                java.net.InetAddress.getByName(host);
            } catch (java.net.UnknownHostException e) {
                throw new IllegalArgumentException("HTTP host '" + host + "' does not resolve to an address", e);
            }
        }
        this.app = Javalin.create(config -> {
            config.startup.showJavalinBanner = false;
            config.jetty.host = host == null || host.isBlank() ? null : host;
            config.jetty.port = port;
            config.http.maxRequestSize = 16L << 20;
            // Long headers get a JSON answer from the handler that names the header, not Jetty's bare 431.
            config.jetty.modifyHttpConfiguration(http -> http.setRequestHeaderSize(64 * 1024));
            if (role.console() != null) {
                config.staticFiles.add(files -> {
                    files.hostedPath = HttpPaths.CONSOLE;
                    files.directory = role.console();
                    files.location = io.javalin.http.staticfiles.Location.CLASSPATH;
                    files.headers = CONSOLE_HEADERS;
                });
                config.staticFiles.add(files -> {
                    files.hostedPath = "/webjars";
                    files.directory = "META-INF/resources/webjars";
                    files.location = io.javalin.http.staticfiles.Location.CLASSPATH;
                    files.headers = Map.of("Cache-Control", "max-age=86400", "X-Content-Type-Options", "nosniff");
                });
            }
            RoutesConfig routes = config.routes;
            routes.get(HttpPaths.HEALTH_LIVE, ctx -> health(ctx, role.live().get()));
            routes.get(HttpPaths.HEALTH_READY, ctx -> health(ctx, role.ready().get()));
            routes.get(HttpPaths.METRICS, ctx -> ctx.contentType("text/plain; version=0.0.4; charset=utf-8")
                    .result(role.metrics().get()));
            routes.before(HttpPaths.API + "/*", this::authorize);
            if (role.api() != null) {
                role.api().accept(routes);
            }
            routes.exception(ApiException.class, (e, ctx) -> json(ctx, e.status(), Map.of("error", e.getMessage())));
            routes.exception(Exception.class, (e, ctx) -> {
                LOG.warn("{} HTTP {} {} failed", role.name(), ctx.method(), ctx.path(), e);
                json(ctx, 500, Map.of("error", e.getClass().getSimpleName() + ": " + e.getMessage()));
            });
            routes.error(404, ctx -> {
                String contentType = ctx.res().getContentType();
                if (contentType == null || !contentType.startsWith("application/json")) { // not a handler's own 404
                    json(ctx, 404, Map.of("error", "no such endpoint: " + ctx.method() + " " + ctx.path()));
                }
            });
        });
        app.start();
        LOG.info("{} HTTP server listening on port {} ({}, {}, {}{})", role.name(), app.port(), HttpPaths.HEALTH_LIVE,
                HttpPaths.HEALTH_READY, HttpPaths.METRICS, (role.api() == null ? "" : ", " + HttpPaths.API + "/… with a bearer token")
                + (role.console() == null ? "" : ", " + HttpPaths.CONSOLE + "/"));
    }

    public int port() {
        return app.port();
    }

    private void authorize(Context ctx) {
        if (ctx.path().equals(HttpPaths.OPENAPI)) {
            return;
        }
        String header = ctx.header("Authorization");
        String given = header != null && header.regionMatches(true, 0, "Bearer ", 0, 7) ? header.substring(7).trim() : null;
        if (token == null) {
            throw new ApiException(401, "this server has no api.token configured: its API is closed");
        }
        if (given == null) {
            throw new ApiException(401, "missing bearer token: send Authorization: Bearer <api.token>");
        }
        if (!MessageDigest.isEqual(token, given.getBytes(StandardCharsets.UTF_8))) {
            throw new ApiException(401, "wrong bearer token");
        }
    }

    private static void health(Context ctx, Health h) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("status", h.up() ? "UP" : "DOWN");
        body.putAll(h.detail());
        json(ctx, h.up() ? 200 : 503, body);
    }

    /** Answers {@code body} as JSON with {@code status}. */
    public static void json(Context ctx, int status, Object body) {
        ctx.status(status).contentType("application/json").result(Json.bytes(body));
    }

    @Override
    public void close() {
        app.stop();
    }
}
