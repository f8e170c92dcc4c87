package dev.onceflow.common;

import javax.sql.DataSource;
import org.postgresql.ds.PGSimpleDataSource;

/** Opens the PostgreSQL database named by the configuration. Roles keep one connection per worker; no pool is needed. */
public final class Database {

    private Database() {
    }

    public static DataSource dataSource(OnceflowConfig config) {
        return dataSource(config.get(OnceflowConfig.DB_URL), config.get(OnceflowConfig.DB_USER),
                config.get(OnceflowConfig.DB_PASSWORD));
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
