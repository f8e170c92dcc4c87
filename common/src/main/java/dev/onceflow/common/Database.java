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

    public static DataSource dataSource(OnceflowConfig config) {
        return dataSource(config.get(OnceflowConfig.DB_URL), config.get(OnceflowConfig.DB_USER),
                config.get(OnceflowConfig.DB_PASSWORD));
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

    public static DataSource dataSource(String url, String user, String password) {
        PGSimpleDataSource ds = new PGSimpleDataSource();
        ds.setURL(url);
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
