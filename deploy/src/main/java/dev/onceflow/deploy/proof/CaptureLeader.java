package dev.onceflow.deploy.proof;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.HashSet;
import java.util.Set;
import javax.sql.DataSource;

/**
 * Which dispatcher leads the row-change capture, as PostgreSQL sees it: the session holding the
 * capture's advisory lock names itself {@code onceflow-capture:<pid>}, the dispatcher JVM's
 * process id. Asking PostgreSQL rather than the dispatchers means the answer is the lock's truth,
 * not what a dispatcher believes. Standbys keep a session of that name too (they try the lock
 * every second), and a dispatcher opens it just after its schedule source started: so
 * {@link #running(DataSource)} also tells which dispatchers are up, not merely booting.
 * Stateless and thread-safe.
 */
final class CaptureLeader {

    private static final String PREFIX = "onceflow-capture:";
    private static final String SESSIONS = "SELECT application_name FROM pg_stat_activity WHERE application_name LIKE '"
            + PREFIX + "%'";
    private static final String QUERY = "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            + "WHERE l.locktype = 'advisory' AND l.granted AND a.application_name LIKE '" + PREFIX + "%'";

    private CaptureLeader() {
    }

    /** The leader's process id, or -1 when no session holds the lock (between leaders, or the database is down). */
    static long pid(DataSource ds) {
        try (Connection c = ds.getConnection(); PreparedStatement q = c.prepareStatement(QUERY); ResultSet rs = q.executeQuery()) {
            return rs.next() ? Long.parseLong(rs.getString(1).substring(PREFIX.length())) : -1;
        } catch (SQLException | NumberFormatException e) {
            return -1;
        }
    }

    /** The pids of the dispatchers whose capture session is connected (leader and standbys); empty when the database is down. */
    static Set<Long> running(DataSource ds) {
        Set<Long> pids = new HashSet<>();
        try (Connection c = ds.getConnection(); PreparedStatement q = c.prepareStatement(SESSIONS); ResultSet rs = q.executeQuery()) {
            while (rs.next()) {
                pids.add(Long.parseLong(rs.getString(1).substring(PREFIX.length())));
            }
        } catch (SQLException | NumberFormatException e) {
            // nothing known to be running
        }
        return pids;
    }

    /** Polls until some session other than {@code not}'s holds the lock; returns its pid, or -1 at the deadline. */
    static long awaitOther(DataSource ds, long not, long deadlineMillis) throws InterruptedException {
        while (System.currentTimeMillis() < deadlineMillis) {
            long pid = pid(ds);
            if (pid != -1 && pid != not) {
                return pid;
            }
            Thread.sleep(100);
        }
        return -1;
    }
}
