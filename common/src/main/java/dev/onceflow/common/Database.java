package dev.onceflow.common;

import javax.sql.DataSource;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * Opens the PostgreSQL database named by the configuration. Engine workers keep one connection each
 * for their life ({@link #dataSource}: no pool, nothing to share). A dispatcher serves the admin
 * API, the catalog, the schedules' last ticks and health checks with short-lived connections
 * ({@link #pooled}: HikariCP).
 */
public final class Database {

    private Database() {
    }

    /** Onceflow's own database: {@code db.url} as {@code db.user}, searching {@code db.schema} first when it is set. */
    public static DataSource dataSource(OnceflowConfig config) {
        return dataSource(config.get(OnceflowConfig.DB_URL), config.get(OnceflowConfig.DB_USER),
                config.get(OnceflowConfig.DB_PASSWORD), config.schema());
    }

    /**
     * The search path of Onceflow's connections with {@code db.schema} set (ADR 0024): its schema
     * first, so Onceflow's unqualified names find its own tables even where the application has
     * a table of the same name ({@code workflows}, {@code executions}); then {@code public}, so a
     * {@code sql} node's unqualified reference to an application table still resolves there.
     */
    public static String searchPath(String schema) {
        return "public".equals(schema) ? schema : schema + ",public";
    }

    /**
     * A HikariCP pool of at most {@code maxSize} connections over {@link #dataSource}: connections
     * are validated on borrow and replaced after PostgreSQL restarts. Close it with the role.
     */
    public static com.zaxxer.hikari.HikariDataSource pooled(OnceflowConfig config, String name, int maxSize) {
        com.zaxxer.hikari.HikariConfig hc = new com.zaxxer.hikari.HikariConfig();
        hc.setDataSource(dataSource(config));
        hc.setPoolName(name);
        hc.setMaximumPoolSize(maxSize);
        hc.setMinimumIdle(1);
        hc.setConnectionTimeout(10_000);
        // A pool that cannot connect at start still starts: the role waits for PostgreSQL itself (StartupWait).
        hc.setInitializationFailTimeout(-1);
        return new com.zaxxer.hikari.HikariDataSource(hc);
    }

    /** A database at {@code url} with the connection's default search path (or the URL's {@code currentSchema}). */
    public static DataSource dataSource(String url, String user, String password) {
        return dataSource(url, user, password, "");
    }

    /**
     * A database at {@code url}; with a non-empty {@code schema}, every connection's search path is
     * {@link #searchPath} (pgjdbc's {@code currentSchema}, set when the session starts, so pools and
     * reconnects keep it).
     *
     * @throws IllegalArgumentException when {@code url} sets {@code currentSchema} too: two settings would disagree
     */
    public static DataSource dataSource(String url, String user, String password, String schema) {
        PGSimpleDataSource ds = new PGSimpleDataSource();
        ds.setURL(url);
        if (schema != null && !schema.isEmpty()) {
            if (ds.getCurrentSchema() != null && !ds.getCurrentSchema().isEmpty()) {
                throw new IllegalArgumentException("db.url sets currentSchema=" + ds.getCurrentSchema() + " and db.schema is "
                        + schema + ": set only db.schema (Onceflow then searches " + searchPath(schema) + ")");
            }
            ds.setCurrentSchema(searchPath(schema));
        }
        ds.setUser(user);
        if (password != null && !password.isEmpty()) {
            ds.setPassword(password);
        }
        ds.setConnectTimeout(10);
        ds.setApplicationName("onceflow");
        // Server-side prepared statements from the first execution: the engine reuses a handful of statements.
        ds.setPrepareThreshold(1);
        ds.setReWriteBatchedInserts(true);
        return ds;
    }
}
