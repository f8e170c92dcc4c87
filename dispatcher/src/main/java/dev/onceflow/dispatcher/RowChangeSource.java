package dev.onceflow.dispatcher;

import dev.onceflow.common.ByKeyRecord;
import dev.onceflow.common.Database;
import dev.onceflow.common.DeadLetter;
import dev.onceflow.common.EventEnvelope;
import dev.onceflow.common.OnceflowConfig;
import dev.onceflow.common.Topics;
import dev.onceflow.common.workflow.TableName;
import io.debezium.engine.ChangeEvent;
import io.debezium.engine.DebeziumEngine;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.TreeSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import javax.sql.DataSource;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Captures row changes of the tables that enabled {@code table} workflows watch, with Debezium
 * embedded ({@code pgoutput}), and publishes one event per matching workflow to
 * {@value Topics#BY_KEY}, with the event key {@code workflowId@commitTimeMillis#lsn:txId:table:pk}
 * and, for ordered workflows, keyed by the ordering key {@code workflowId/schema.table/pk}
 * (ADR 0020), so one row's changes reach one partition in commit order.
 *
 * <p><b>One capture per slot.</b> Every dispatcher runs this source, but only the one holding the
 * PostgreSQL advisory lock of the slot captures; the others stand by and try the lock every
 * {@code dispatcher.table.takeover.ms}. The lock lives on a dedicated session, so when the leader
 * dies (even by kill -9) PostgreSQL drops the session, the lock and the slot's walsender, and a
 * standby takes over within about that interval plus Debezium's start (~2 s).
 *
 * <p><b>Nothing lost, nothing started twice.</b> A batch of changes is marked processed only after
 * Kafka acknowledged all its events; Debezium stores its position ({@link PostgresOffsetStore})
 * only for processed changes, and confirms it to the slot only then. A crash therefore replays
 * changes after the last stored position — with the same positions, hence the same event keys,
 * which the dispatcher's dedupe and the engine's unique event key absorb.
 *
 * <p><b>Setup.</b> On taking the lead, and whenever the watched tables change, it checks
 * {@code wal_level=logical}, that each table exists (a missing one is reported with the workflows
 * that name it and checked again every {@code dispatcher.table.recheck.ms}, 10 s by default), gives {@code REPLICA IDENTITY FULL} to tables whose
 * workflows use {@code changed} and to tables without a primary key (PostgreSQL rejects updates of
 * a published table without a replica identity), stops the running engine, sets the publication's
 * tables, and starts the engine; Debezium creates the slot when missing. Changes are captured from
 * the slot's creation on.
 *
 * <p>Owns one control thread and, while leading, Debezium's threads. Thread-safe: the public
 * methods only read volatile state; everything else runs on the control thread.
 */
final class RowChangeSource implements AutoCloseable {

    enum State { STANDBY, LEADING, CLOSED }

    /**
     * The capture's settings, from {@code dispatcher.table.*} and {@code db.*}. The watched database
     * ({@code url}) is reached with its default search path: every table is named schema-qualified.
     * Onceflow's own ({@code offsets*}: the offsets table, the leader's lock session) searches
     * {@code db.schema} first, like every other connection of Onceflow (ADR 0024).
     */
    record Settings(String url, String user, String password, String slot, String publication, Duration takeover,
                    Duration offsetFlush, String offsetsUrl, String offsetsUser, String offsetsPassword, String offsetsSchema,
                    int maxDepth, Duration recheck) {
        private static final Pattern NAME = Pattern.compile("[a-z_][a-z0-9_]{0,62}");

        Settings {
            Objects.requireNonNull(url, "url");
            offsetsSchema = offsetsSchema == null ? "" : offsetsSchema;
            if (!NAME.matcher(slot).matches()) {
                throw new IllegalArgumentException("configuration key 'dispatcher.table.slot': '" + slot
                        + "' is not a valid replication slot name (lower-case letters, digits, '_', at most 63)");
            }
            if (!NAME.matcher(publication).matches()) {
                throw new IllegalArgumentException("configuration key 'dispatcher.table.publication': '" + publication
                        + "' is not a valid publication name (lower-case letters, digits, '_', at most 63)");
            }
        }

        static Settings from(OnceflowConfig c) {
            String url = c.get(OnceflowConfig.TABLE_DB_URL);
            String user = c.get(OnceflowConfig.TABLE_DB_USER);
            String password = c.get(OnceflowConfig.TABLE_DB_PASSWORD);
            boolean sameUser = user == null || user.isBlank();
            return new Settings(url == null || url.isBlank() ? c.get(OnceflowConfig.DB_URL) : url,
                    sameUser ? c.get(OnceflowConfig.DB_USER) : user,
                    sameUser ? c.get(OnceflowConfig.DB_PASSWORD) : password,
                    c.get(OnceflowConfig.TABLE_SLOT), c.get(OnceflowConfig.TABLE_PUBLICATION),
                    Duration.ofMillis(c.getLong(OnceflowConfig.TABLE_LOCK_POLL_MS)),
                    Duration.ofMillis(c.getLong(OnceflowConfig.TABLE_OFFSET_FLUSH_MS)),
                    c.get(OnceflowConfig.DB_URL), c.get(OnceflowConfig.DB_USER), c.get(OnceflowConfig.DB_PASSWORD),
                    c.schema(), c.getInt(OnceflowConfig.TABLE_MAX_DEPTH),
                    Duration.ofMillis(c.getLong(OnceflowConfig.TABLE_RECHECK_MS)));
        }
    }

    /** The application_name of the lock session, so operators (and tests) can see who leads. */
    static final String LEADER_APPLICATION_PREFIX = "onceflow-capture:";

    private static final Logger LOG = LoggerFactory.getLogger(RowChangeSource.class);
    private static final Duration RESTART_BACKOFF = Duration.ofSeconds(2);

    private final WorkflowCatalog catalog;
    private final Settings settings;
    private final Producer<byte[], byte[]> producer;
    private final RecordSizeLimit limit;
    private final Clock clock;
    private final DispatcherMetrics metrics;
    private final OrderKeys orderKeys;
    private final CapturePublisher publisher;
    private final DataSource watched;
    private final DataSource onceflow;
    private final Thread thread;
    private final AtomicLong changes = new AtomicLong();
    private final AtomicLong events = new AtomicLong();
    /** DLQ error class: a change event Debezium handed over that cannot be read. */
    static final String MALFORMED_CHANGE = "MalformedChange";

    private final AtomicLong depthLimited = new AtomicLong();
    /**
     * The last depth mark of each recent transaction (ADR 0011): marks and changes arrive in WAL
     * order, so a change's depth is the last mark before it in its transaction. Bounded; touched
     * only by the capture's thread.
     */
    private final java.util.Map<Long, Integer> depthByTx = new java.util.LinkedHashMap<>(64, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(java.util.Map.Entry<Long, Integer> eldest) {
            return size() > 10_000;
        }
    };
    private volatile State state = State.STANDBY;
    private volatile String problem;
    private volatile List<String> capturingTables = List.of();
    /** Debezium's task started: the slot exists and every change committed from now on will be read. */
    private volatile boolean streaming;
    private volatile boolean running = true;

    // Confined to the control thread.
    private Connection lock;
    private Map<String, Boolean> lastWanted = Map.of();
    private long nextSetupCheck;
    private DebeziumEngine<ChangeEvent<String, String>> engine;
    private ExecutorService engineRunner;
    private volatile boolean engineStopped;
    private volatile String engineStopReason;
    private long engineStartedAt;

    RowChangeSource(WorkflowCatalog catalog, Settings settings, Producer<byte[], byte[]> producer, RecordSizeLimit limit,
                    Clock clock, DispatcherMetrics metrics, OrderKeys orderKeys) {
        this.orderKeys = orderKeys;
        this.publisher = new CapturePublisher(producer, () -> running, Thread::sleep);
        this.catalog = catalog;
        this.metrics = metrics;
        this.settings = settings;
        this.producer = producer;
        this.limit = limit;
        this.clock = clock;
        this.watched = Database.dataSource(settings.url(), settings.user(), settings.password());
        this.onceflow = Database.dataSource(settings.offsetsUrl(), settings.offsetsUser(), settings.offsetsPassword(),
                settings.offsetsSchema());
        this.thread = new Thread(this::loop, "onceflow-rowchange-source");
        this.thread.setDaemon(true);
    }

    void start() {
        thread.start();
    }

    CaptureStatus status() {
        return new CaptureStatus(state.name(), settings.slot(), capturingTables, streaming, changes.get(), events.get(), problem);
    }

    private void loop() {
        while (running) {
            try {
                step();
                Thread.sleep(settings.takeover().toMillis());
            } catch (InterruptedException e) {
                break;
            } catch (RuntimeException | SQLException e) {
                if (!running) {
                    break;
                }
                LOG.warn("Row-change capture of slot '{}': {}; releasing it and trying again in {} ms", settings.slot(),
                        e.toString(), settings.takeover().toMillis());
                release();
                try {
                    Thread.sleep(settings.takeover().toMillis());
                } catch (InterruptedException ie) {
                    break;
                }
            }
        }
        Thread.interrupted(); // closing: let release() wait for Debezium to stop and commit its offsets
        release();
    }

    /** One pass of the control loop: keep leadership, the setup and the engine in step with the catalog. */
    private void step() throws SQLException, InterruptedException {
        Map<String, Boolean> wanted = TableRouting.watchedTables(catalog.all());
        if (wanted.isEmpty()) {
            if (state == State.LEADING) {
                LOG.warn("No enabled table workflow left; releasing the row-change capture. Slot '{}' keeps WAL from now on "
                        + "until a table workflow is enabled again; if none will be, drop it: SELECT pg_drop_replication_slot('{}')",
                        settings.slot(), settings.slot());
                release();
            }
            problem = null;
            return;
        }
        if (state != State.LEADING) {
            if (!tryLead()) {
                return;
            }
        } else if (!lock.isValid(2)) {
            LOG.warn("Lost the session holding the capture lock of slot '{}'; stopping the capture, standing by", settings.slot());
            release();
            return;
        }
        long now = clock.millis();
        if (!wanted.equals(lastWanted) || now >= nextSetupCheck) {
            List<String> ready = check(wanted);
            lastWanted = wanted;
            nextSetupCheck = problem == null ? Long.MAX_VALUE : now + settings.recheck().toMillis();
            if (!ready.equals(capturingTables) || engine == null && !ready.isEmpty()) {
                // Stop before changing the publication: a running engine would read changes of a newly
                // published table, drop them (not in its include list) and store a position past them.
                stopEngine();
                if (!ready.isEmpty()) {
                    setPublication(ready);
                    startEngine(ready);
                }
            }
        }
        if (engine != null && engineStopped && now - engineStartedAt >= RESTART_BACKOFF.toMillis()) {
            LOG.warn("Row-change capture of slot '{}' stopped ({}); restarting it", settings.slot(), engineStopReason);
            List<String> tables = capturingTables;
            stopEngine();
            startEngine(tables);
        }
    }

    private boolean tryLead() throws SQLException {
        if (lock == null) {
            lock = onceflow.getConnection();
            lock.setAutoCommit(true);
            try (PreparedStatement s = lock.prepareStatement("SELECT set_config('application_name', ?, false)")) {
                s.setString(1, LEADER_APPLICATION_PREFIX + ProcessHandle.current().pid());
                s.execute();
            }
        }
        try (PreparedStatement q = lock.prepareStatement("SELECT pg_try_advisory_lock(hashtext('onceflow.rowchange'), hashtext(?))")) {
            q.setString(1, settings.slot());
            try (ResultSet rs = q.executeQuery()) {
                rs.next();
                if (!rs.getBoolean(1)) {
                    return false;
                }
            }
        }
        state = State.LEADING;
        lastWanted = Map.of();
        LOG.info("This dispatcher leads the row-change capture of slot '{}' (pid {})", settings.slot(), ProcessHandle.current().pid());
        return true;
    }

    /** Stops the capture and gives up the lock (closing its session releases it). */
    private void release() {
        stopEngine();
        if (lock != null) {
            try {
                lock.close();
            } catch (SQLException e) {
                LOG.debug("closing the capture lock session: {}", e.toString());
            }
            lock = null;
        }
        capturingTables = List.of();
        lastWanted = Map.of();
        if (state == State.LEADING) {
            state = State.STANDBY;
        }
    }

    /**
     * Checks the watched database and the tables' replica identity; returns the tables that can be
     * captured. Problems that a person must fix are logged at ERROR and kept in {@link #problem}.
     */
    private List<String> check(Map<String, Boolean> wanted) throws SQLException {
        List<String> problems = new ArrayList<>();
        List<String> ready = new ArrayList<>();
        try (Connection c = watched.getConnection(); Statement s = c.createStatement()) {
            c.setAutoCommit(true);
            String walLevel;
            try (ResultSet rs = s.executeQuery("SHOW wal_level")) {
                rs.next();
                walLevel = rs.getString(1);
            }
            if (!"logical".equals(walLevel)) {
                report(List.of("PostgreSQL at " + settings.url() + " has wal_level=" + walLevel
                        + "; table triggers need wal_level=logical (run ALTER SYSTEM SET wal_level = logical and restart "
                        + "PostgreSQL). Watched tables: " + String.join(", ", wanted.keySet())));
                return List.of();
            }
            for (Map.Entry<String, Boolean> t : wanted.entrySet()) {
                String table = t.getKey();
                char identity;
                boolean hasKey;
                try (PreparedStatement q = c.prepareStatement("SELECT c.relreplident, EXISTS (SELECT 1 FROM pg_index i "
                        + "WHERE i.indrelid = c.oid AND (i.indisprimary OR i.indisreplident)) FROM pg_class c WHERE c.oid = to_regclass(?)")) {
                    q.setString(1, table); // canonical text is what to_regclass reads: public."orderItems"
                    try (ResultSet rs = q.executeQuery()) {
                        if (!rs.next()) {
                            problems.add("table " + table + " does not exist in " + settings.url() + " (named by the table trigger of "
                                    + workflowsOf(table, false) + "); its changes are captured once it is created");
                            continue;
                        }
                        identity = rs.getString(1).charAt(0);
                        hasKey = rs.getBoolean(2);
                    }
                }
                if (t.getValue() && identity != 'f') {
                    // 'changed' compares old and new values: pgoutput sends the old row only with REPLICA IDENTITY FULL.
                    s.execute("ALTER TABLE " + TableName.parse(table).sql() + " REPLICA IDENTITY FULL");
                    LOG.info("Set REPLICA IDENTITY FULL on {}: a table trigger of {} compares changed columns", table,
                            workflowsOf(table, true));
                } else if (identity != 'f' && (identity == 'n' || !hasKey)) {
                    // A published table without a replica identity rejects the application's own UPDATE and
                    // DELETE ("cannot update table ... because it does not have a replica identity").
                    s.execute("ALTER TABLE " + TableName.parse(table).sql() + " REPLICA IDENTITY FULL");
                    LOG.warn("Set REPLICA IDENTITY FULL on {}: it has no primary key, and once published PostgreSQL would "
                            + "reject its updates and deletes without one", table);
                }
                ready.add(table);
            }
        }
        report(problems);
        return List.copyOf(new TreeSet<>(ready));
    }

    /** Creates the publication, or sets its tables to exactly {@code tables}. */
    private void setPublication(List<String> tables) throws SQLException {
        try (Connection c = watched.getConnection(); Statement s = c.createStatement()) {
            c.setAutoCommit(true);
            boolean exists;
            try (PreparedStatement q = c.prepareStatement("SELECT 1 FROM pg_publication WHERE pubname = ?")) {
                q.setString(1, settings.publication());
                try (ResultSet rs = q.executeQuery()) {
                    exists = rs.next();
                }
            }
            s.execute((exists ? "ALTER PUBLICATION " + settings.publication() + " SET TABLE "
                    : "CREATE PUBLICATION " + settings.publication() + " FOR TABLE ")
                    + tables.stream().map(t -> TableName.parse(t).sql()).collect(Collectors.joining(", ")));
        }
    }

    private void report(List<String> problems) {
        String text = problems.isEmpty() ? null : String.join("; ", problems);
        if (text != null && !text.equals(problem)) {
            LOG.error("Row-change capture of slot '{}': {}", settings.slot(), text);
        } else if (text == null && problem != null) {
            LOG.info("Row-change capture of slot '{}': the earlier problem is resolved", settings.slot());
        }
        problem = text;
    }

    private String workflowsOf(String table, boolean comparingColumns) {
        return catalog.all().stream()
                .filter(e -> e.enabled() && e.trigger() instanceof dev.onceflow.common.workflow.Trigger.Table t && t.table().equals(table)
                        && (!comparingColumns || !t.changed().isEmpty()))
                .map(e -> "'" + e.id() + "'").sorted().collect(Collectors.joining(", "));
    }

    private void startEngine(List<String> tables) {
        engineStopped = false;
        engineStopReason = null;
        engineStartedAt = clock.millis();
        engine = DebeziumEngine.create(io.debezium.engine.format.Json.class)
                .using(debeziumProperties(tables))
                .using((success, message, error) -> {
                    engineStopReason = error != null ? error.toString() : message;
                    engineStopped = true;
                })
                .using(new DebeziumEngine.ConnectorCallback() {
                    @Override
                    public void taskStarted() {
                        streaming = true;
                    }

                    @Override
                    public void taskStopped() {
                        streaming = false;
                    }
                })
                .notifying(this::handleBatch)
                .build();
        engineRunner = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "onceflow-rowchange-capture");
            t.setDaemon(true);
            return t;
        });
        engineRunner.execute(engine);
        capturingTables = List.copyOf(tables);
        LOG.info("Capturing row changes of {} through slot '{}' and publication '{}'", tables, settings.slot(), settings.publication());
    }

    private void stopEngine() {
        if (engine == null) {
            return;
        }
        try {
            engine.close(); // stops the task and commits the offsets of processed changes
        } catch (Exception e) {
            LOG.warn("Stopping the row-change capture: {}", e.toString());
        }
        engineRunner.shutdown();
        try {
            if (!engineRunner.awaitTermination(30, TimeUnit.SECONDS)) {
                LOG.warn("The row-change capture did not stop within 30 s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        engine = null;
        engineRunner = null;
        streaming = false;
        capturingTables = List.of();
    }

    Properties debeziumProperties(List<String> tables) {
        Properties pg;
        try {
            pg = org.postgresql.Driver.parseURL(settings.url(), null);
        } catch (RuntimeException e) {
            pg = null;
        }
        if (pg == null) {
            throw new IllegalArgumentException("dispatcher.table.db.url '" + settings.url() + "' is not a PostgreSQL JDBC URL");
        }
        Properties p = new Properties();
        p.setProperty("name", "onceflow-rowchange-" + settings.slot());
        p.setProperty("connector.class", "io.debezium.connector.postgresql.PostgresConnector");
        p.setProperty("offset.storage", PostgresOffsetStore.class.getName());
        p.setProperty(PostgresOffsetStore.URL, settings.offsetsUrl());
        p.setProperty(PostgresOffsetStore.USER, settings.offsetsUser());
        p.setProperty(PostgresOffsetStore.PASSWORD, settings.offsetsPassword() == null ? "" : settings.offsetsPassword());
        p.setProperty(PostgresOffsetStore.SLOT, settings.slot());
        p.setProperty(PostgresOffsetStore.SCHEMA, settings.offsetsSchema()); // rowchange_offsets lives in db.schema
        p.setProperty("offset.flush.interval.ms", String.valueOf(settings.offsetFlush().toMillis()));
        p.setProperty("database.hostname", pg.getProperty("PGHOST", "localhost").split(",")[0]);
        p.setProperty("database.port", pg.getProperty("PGPORT", "5432").split(",")[0]);
        p.setProperty("database.dbname", pg.getProperty("PGDBNAME", "postgres"));
        p.setProperty("database.user", settings.user());
        p.setProperty("database.password", settings.password() == null ? "" : settings.password());
        p.setProperty("topic.prefix", "onceflow");
        p.setProperty("plugin.name", "pgoutput");
        p.setProperty("slot.name", settings.slot());
        p.setProperty("publication.name", settings.publication());
        p.setProperty("publication.autocreate.mode", "disabled"); // setPublication() keeps the publication in step
        // Matched against schema.table with the catalog names; the publication already lists exactly these tables.
        p.setProperty("table.include.list", tables.stream().map(t -> TableName.parse(t).includeRegex()).collect(Collectors.joining(",")));
        p.setProperty("snapshot.mode", "no_data");
        // The engine's depth marks (ADR 0011), decoded in WAL order with the changes.
        p.setProperty("message.prefix.include.list", Pattern.quote(RowChange.DEPTH_PREFIX));
        p.setProperty("decimal.handling.mode", "string");
        p.setProperty("time.precision.mode", "connect");
        p.setProperty("tombstones.on.delete", "false");
        p.setProperty("key.converter.schemas.enable", "false");
        p.setProperty("value.converter.schemas.enable", "false");
        // Heartbeats confirm progress to the slot while the watched tables are quiet, so WAL does not pile up.
        p.setProperty("heartbeat.interval.ms", "10000");
        return p;
    }

    /** Publishes the events of one batch of changes; marks them processed only once Kafka acknowledged all of them. */
    private void handleBatch(List<ChangeEvent<String, String>> records, DebeziumEngine.RecordCommitter<ChangeEvent<String, String>> committer)
            throws InterruptedException {
        List<ProducerRecord<byte[], byte[]>> out = new ArrayList<>();
        List<String> deadLettered = new ArrayList<>();
        long fired = 0;
        for (ChangeEvent<String, String> r : records) {
            if (r.destination() != null && r.destination().startsWith("__debezium")) {
                continue;
            }
            RowChange change;
            try {
                RowChange.DepthMark mark = RowChange.depthMark(r.value());
                if (mark != null) {
                    depthByTx.put(mark.txId(), mark.depth());
                    continue;
                }
                change = RowChange.parse(r.key(), r.value());
            } catch (IllegalArgumentException e) {
                out.add(dlq(r.key(), r.value(), MALFORMED_CHANGE, e.getMessage(), r.destination(), 0));
                deadLettered.add(MALFORMED_CHANGE);
                continue;
            }
            if (change == null) {
                continue;
            }
            changes.incrementAndGet();
            TableRouting.Routed routed = TableRouting.route(change, catalog.all(),
                    depthByTx.getOrDefault(change.txId(), 0), settings.maxDepth(), orderKeys);
            for (EventEnvelope event : routed.events()) {
                ProducerRecord<byte[], byte[]> record = ByKeyRecord.of(event);
                int size = RecordSizeLimit.sizeOf(record.key(), record.value(), record.headers());
                if (size > limit.maxBytes()) {
                    // Kafka would refuse it on every resend: the batch would never be acknowledged and the capture would stall.
                    String reason = "the event of workflow '" + event.workflow() + "' would be " + limit.over(size);
                    LOG.warn("{} (event {}); the change goes to {} without its data", reason, event.eventKey(), Topics.DLQ);
                    out.add(dlq(event.eventKey(), null, ValidateTrigger.RECORD_TOO_LARGE, reason, change.table(), change.lsn()));
                    deadLettered.add(ValidateTrigger.RECORD_TOO_LARGE);
                    continue;
                }
                out.add(record);
                fired++;
            }
            for (TableRouting.Failure f : routed.failures()) {
                LOG.warn("{} (event {}); the change goes to {}", f.reason(), f.eventKey(), Topics.DLQ);
                if (TableRouting.DEPTH_LIMIT.equals(f.errorClass())) {
                    depthLimited.incrementAndGet();
                }
                out.add(dlq(f.eventKey(), change.data().toString(), f.errorClass(), f.reason(),
                        change.table(), change.lsn()));
                deadLettered.add(f.errorClass());
            }
        }
        publisher.publish(out);
        events.addAndGet(fired);
        deadLettered.forEach(metrics::countDlq); // counted once Kafka acknowledged them
        for (ChangeEvent<String, String> r : records) {
            committer.markProcessed(r);
        }
        committer.markBatchFinished();
    }

    private static ProducerRecord<byte[], byte[]> dlq(String key, String value, String errorClass, String message, String table,
                                                      long lsn) {
        return new DeadLetter(errorClass, message, "postgres:" + table, 0, lsn).record(key, value);
    }

    @Override
    public void close() {
        running = false;
        thread.interrupt();
        try {
            thread.join(40_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        state = State.CLOSED;
    }
}
