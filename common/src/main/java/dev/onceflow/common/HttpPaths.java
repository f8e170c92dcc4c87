package dev.onceflow.common;

/**
 * The HTTP paths every Onceflow role serves, shared by the servers, the CLI, the deploy files'
 * probes and their test. Health and metrics paths need no token; everything under {@link #API}
 * does.
 */
public final class HttpPaths {

    /** 200 while the process runs its loops; 503 once a loop has ended for good (restart the process). */
    public static final String HEALTH_LIVE = "/health/live";
    /** 200 once the role can do its work (broker and PostgreSQL reached, partitions or threads running); 503 otherwise. */
    public static final String HEALTH_READY = "/health/ready";
    /** Prometheus text exposition of the role's metrics. */
    public static final String METRICS = "/metrics";
    /** The admin API and the trigger endpoint (bearer token). */
    public static final String API = "/api";
    /** The OpenAPI description of the admin API (no token). */
    public static final String OPENAPI = "/api/openapi.json";

    /** The web console's static files (no token: they hold no data; the page calls {@link #API} with one). */
    public static final String CONSOLE = "/console";

    private HttpPaths() {
    }
}
