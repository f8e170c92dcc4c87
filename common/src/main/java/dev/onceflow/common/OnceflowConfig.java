package dev.onceflow.common;

import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;

/**
 * An immutable configuration snapshot. Every key is declared once in {@link #KEYS} with its type,
 * default, valid range and a one-line doc. Values come from, lowest to highest precedence: the
 * defaults, a properties file ({@code --config FILE} or {@code ONCEFLOW_CONFIG}), environment
 * variables ({@code ONCEFLOW_} + the key upper-cased with '.' as '_', e.g.
 * {@code ONCEFLOW_KAFKA_BOOTSTRAP_SERVERS}), and explicit overrides (command-line flags).
 * Kafka client settings pass through by prefix: {@code kafka.producer.*}, {@code kafka.consumer.*},
 * {@code kafka.streams.*}, {@code kafka.admin.*}. Unknown keys outside those prefixes are rejected,
 * so a typo fails at start-up naming the key.
 */
public final class OnceflowConfig {

    public enum Type { STRING, INT, LONG, PASSWORD }

    /** A declared key. {@code min}/{@code max} bound numeric values. */
    public record Key(String name, Type type, String defaultValue, long min, long max, String doc) {
        static Key string(String name, String def, String doc) {
            return new Key(name, Type.STRING, def, 0, 0, doc);
        }

        static Key number(String name, Type type, long def, long min, long max, String doc) {
            return new Key(name, type, String.valueOf(def), min, max, doc);
        }

        public String envName() {
            return "ONCEFLOW_" + name.toUpperCase(Locale.ROOT).replace('.', '_').replace('-', '_');
        }
    }

    public static final Key KAFKA_BOOTSTRAP = Key.string("kafka.bootstrap.servers", "localhost:9092",
            "Kafka bootstrap servers, host:port[,host:port…].");
    public static final Key DB_URL = Key.string("db.url", "jdbc:postgresql://localhost:5432/postgres",
            "JDBC URL of the PostgreSQL database holding workflows, executions and processed keys.");
    public static final Key DB_USER = Key.string("db.user", "postgres", "PostgreSQL user.");
    public static final Key DB_PASSWORD = new Key("db.password", Type.PASSWORD, "", 0, 0, "PostgreSQL password.");
    public static final Key PARTITIONS = Key.number("topics.partitions", Type.INT, 6, 1, 10_000,
            "Partitions of onceflow.events/tasks when Onceflow creates them: the maximum engine parallelism.");
    public static final Key REPLICATION = Key.number("topics.replication", Type.INT, 1, 1, 16,
            "Replication factor of topics Onceflow creates (3 in production).");
    public static final Key BY_KEY_RETENTION_MS = Key.number("topics.dispatch.bykey.retention.ms", Type.LONG,
            Topics.DEFAULT_BY_KEY_RETENTION_MS, 3_600_000L, 365L * 86_400_000L,
            "Retention of onceflow.dispatch.bykey (accepted API calls, row changes, ticks not yet deduplicated): the longest dispatcher outage that loses none; a dispatcher raises a shorter existing retention at start.");
    public static final Key ENGINE_WORKERS = Key.number("engine.workers", Type.INT, 3, 1, 256,
            "Consumer threads per engine process, each with its own transactional producer.");
    public static final Key ENGINE_GROUP = Key.string("engine.group.id", "onceflow-engine",
            "Consumer group of all engine workers.");
    public static final Key ENGINE_MAX_POLL = Key.number("engine.max.poll.records", Type.INT, 500, 1, 100_000,
            "Records per poll batch; one PostgreSQL and one Kafka transaction per batch.");
    public static final Key ENGINE_SQL_TIMEOUT = Key.number("engine.sql.timeout.ms", Type.LONG, 30_000, 1, 86_400_000,
            "Default statement timeout of sql nodes without their own timeoutMs.");
    public static final Key ENGINE_POISON_ATTEMPTS = Key.number("engine.poison.max.attempts", Type.INT, 3, 1, 100,
            "Tries of a record that fails with a permanent error (not a broker or database outage) before it is dead-lettered.");
    public static final Key ENGINE_TRANSACTION_TIMEOUT = Key.number("engine.transaction.timeout.ms", Type.LONG, 10_000,
            1_000, 900_000, "Kafka transaction timeout of engine producers: bounds how long a dead or frozen worker's open "
                    + "transaction holds back read_committed readers.");
    public static final Key ENGINE_IDLE_TX_TIMEOUT = Key.number("engine.db.idle.transaction.timeout.ms", Type.LONG, 15_000,
            1_000, 3_600_000, "PostgreSQL idle_in_transaction_session_timeout of engine connections: bounds how long a "
                    + "frozen worker's uncommitted claims block the partition's new owner.");
    public static final Key ENGINE_STALL_REPORT = Key.number("engine.stall.report.ms", Type.LONG, 60_000, 1_000, 86_400_000,
            "Report a partition of onceflow.events/tasks whose stable or committed offset has not moved this long while records wait.");
    public static final Key ENGINE_HANGING_TX_ABORT = Key.number("engine.hanging.transaction.abort.ms", Type.LONG, 120_000, -1,
            86_400_000, "Abort (Admin API, KIP-664) a transaction seen open this long on Onceflow's topics or __consumer_offsets; "
                    + "-1 reports only. Must exceed every Onceflow producer's transaction timeout.");
    public static final Key ENGINE_STUCK_REPORT = Key.number("engine.stuck.execution.report.ms", Type.LONG, 600_000, 1_000,
            30L * 86_400_000L, "Report executions that have not finished this long after they started (status line, WARN).");
    public static final Key DISPATCHER_APP_ID = Key.string("dispatcher.application.id", "onceflow-dispatcher",
            "Kafka Streams application id shared by all dispatcher replicas.");
    public static final Key DISPATCHER_DEDUPE_MS = Key.number("dispatcher.dedupe.retention.ms", Type.LONG, 86_400_000L,
            1_000, 30L * 86_400_000L, "How long the dispatcher remembers an event key to drop repeats (first filter only).");
    public static final Key DISPATCHER_REFRESH_MS = Key.number("dispatcher.catalog.refresh.ms", Type.LONG, 5_000, 100,
            3_600_000, "How often the dispatcher reloads enabled workflows from PostgreSQL.");
    public static final Key DISPATCHER_THREADS = Key.number("dispatcher.threads", Type.INT, 1, 1, 64,
            "Kafka Streams stream threads per dispatcher.");
    public static final Key DISPATCHER_STATE_DIR = Key.string("dispatcher.state.dir", "",
            "Kafka Streams state directory (default: a directory under java.io.tmpdir).");

    public static final Key DISPATCHER_HTTP_PORT = Key.number("dispatcher.http.port", Type.INT, 8080, -1, 65535,
            "Port of the dispatcher's HTTP API (POST /api/workflows/{id}/trigger); 0 picks a free port, -1 turns it off.");

    public static final Key TABLE_DB_URL = Key.string("dispatcher.table.db.url", "",
            "JDBC URL of the database whose tables 'table' triggers watch (needs wal_level=logical); empty: db.url.");
    public static final Key TABLE_DB_USER = Key.string("dispatcher.table.db.user", "",
            "User of the watched database, with the REPLICATION attribute; empty: db.user.");
    public static final Key TABLE_DB_PASSWORD = new Key("dispatcher.table.db.password", Type.PASSWORD, "", 0, 0,
            "Password of dispatcher.table.db.user; empty with an empty user: db.password.");
    public static final Key TABLE_SLOT = Key.string("dispatcher.table.slot", "onceflow",
            "Replication slot of the row-change capture (created when missing); one capture runs per slot, elected by advisory lock.");
    public static final Key TABLE_PUBLICATION = Key.string("dispatcher.table.publication", "onceflow",
            "Publication listing the watched tables (created and kept in step with the enabled table workflows).");
    public static final Key TABLE_LOCK_POLL_MS = Key.number("dispatcher.table.takeover.ms", Type.LONG, 1_000, 100, 600_000,
            "How often a standby dispatcher tries to take over the row-change capture (bounds the takeover time).");
    public static final Key TABLE_OFFSET_FLUSH_MS = Key.number("dispatcher.table.offset.flush.ms", Type.LONG, 1_000, 100,
            600_000, "How often the capture stores its position; changes after it are replayed after a crash (same event keys).");

    public static final Key TABLE_MAX_DEPTH = Key.number("dispatcher.table.max.depth", Type.INT, 10, 1, 1_000,
            "Deepest execution a row change may start: a change made by an execution at this depth starts nothing and is "
                    + "dead-lettered (DEPTH_LIMIT), which stops workflows that trigger themselves (ADR 0011).");

    public static final List<Key> KEYS = List.of(KAFKA_BOOTSTRAP, DB_URL, DB_USER, DB_PASSWORD, PARTITIONS, REPLICATION,
            BY_KEY_RETENTION_MS, ENGINE_WORKERS, ENGINE_GROUP, ENGINE_MAX_POLL, ENGINE_SQL_TIMEOUT, ENGINE_POISON_ATTEMPTS,
            ENGINE_TRANSACTION_TIMEOUT, ENGINE_IDLE_TX_TIMEOUT, ENGINE_STALL_REPORT, ENGINE_HANGING_TX_ABORT,
            ENGINE_STUCK_REPORT, DISPATCHER_APP_ID, DISPATCHER_DEDUPE_MS,
            DISPATCHER_REFRESH_MS, DISPATCHER_THREADS, DISPATCHER_STATE_DIR, DISPATCHER_HTTP_PORT, TABLE_DB_URL, TABLE_DB_USER,
            TABLE_DB_PASSWORD, TABLE_SLOT, TABLE_PUBLICATION, TABLE_LOCK_POLL_MS, TABLE_OFFSET_FLUSH_MS,
            TABLE_MAX_DEPTH);

    public static final List<String> PASS_THROUGH = List.of("kafka.producer.", "kafka.consumer.", "kafka.streams.", "kafka.admin.");

    private final Map<String, String> values;

    private OnceflowConfig(Map<String, String> values) {
        this.values = Collections.unmodifiableMap(new TreeMap<>(values));
    }

    /** Defaults only. */
    public static OnceflowConfig defaults() {
        return of(Map.of());
    }

    /** Defaults with the given values on top, validated. */
    public static OnceflowConfig of(Map<String, String> overrides) {
        Map<String, String> merged = new LinkedHashMap<>();
        KEYS.forEach(k -> merged.put(k.name(), k.defaultValue()));
        merged.putAll(overrides);
        validate(merged);
        return new OnceflowConfig(merged);
    }

    /** Defaults, then the file (if any), then the environment, then the overrides. */
    public static OnceflowConfig load(Path file, Map<String, String> env, Map<String, String> overrides) {
        Map<String, String> merged = new LinkedHashMap<>();
        Path configFile = file != null ? file : (env.containsKey("ONCEFLOW_CONFIG") ? Path.of(env.get("ONCEFLOW_CONFIG")) : null);
        if (configFile != null) {
            Properties props = new Properties();
            try (Reader reader = Files.newBufferedReader(configFile)) {
                props.load(reader);
            } catch (IOException e) {
                throw new IllegalArgumentException("cannot read configuration file " + configFile + ": " + e.getMessage(), e);
            }
            props.stringPropertyNames().forEach(n -> merged.put(n, props.getProperty(n).trim()));
        }
        for (Key key : KEYS) {
            String v = env.get(key.envName());
            if (v != null) {
                merged.put(key.name(), v.trim());
            }
        }
        merged.putAll(overrides);
        return of(merged);
    }

    private static void validate(Map<String, String> values) {
        List<String> problems = new ArrayList<>();
        Map<String, Key> declared = new LinkedHashMap<>();
        KEYS.forEach(k -> declared.put(k.name(), k));
        for (Map.Entry<String, String> e : values.entrySet()) {
            Key key = declared.get(e.getKey());
            if (key == null) {
                if (PASS_THROUGH.stream().noneMatch(p -> e.getKey().startsWith(p) && e.getKey().length() > p.length())) {
                    problems.add("unknown configuration key '" + e.getKey() + "' (known: " + String.join(", ", declared.keySet())
                            + ", and prefixes " + String.join(", ", PASS_THROUGH) + ")");
                }
                continue;
            }
            String v = e.getValue();
            if (key.type() == Type.INT || key.type() == Type.LONG) {
                try {
                    long n = Long.parseLong(v.trim());
                    if (n < key.min() || n > key.max()) {
                        problems.add("configuration key '" + key.name() + "' must be between " + key.min() + " and "
                                + key.max() + ", got " + n);
                    }
                } catch (NumberFormatException ex) {
                    problems.add("configuration key '" + key.name() + "' must be a whole number, got '" + v + "'");
                }
            } else if (key.type() == Type.STRING && v.isBlank() && !key.defaultValue().isEmpty()) {
                problems.add("configuration key '" + key.name() + "' must not be empty");
            }
        }
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException(String.join("; ", problems));
        }
    }

    public String get(Key key) {
        return values.get(key.name());
    }

    public int getInt(Key key) {
        return Integer.parseInt(values.get(key.name()).trim());
    }

    public long getLong(Key key) {
        return Long.parseLong(values.get(key.name()).trim());
    }

    /** The pass-through client settings under {@code prefix} (e.g. "kafka.producer."), prefix removed. */
    public Map<String, Object> clientSettings(String prefix) {
        Map<String, Object> out = new LinkedHashMap<>();
        values.forEach((k, v) -> {
            if (k.startsWith(prefix)) {
                out.put(k.substring(prefix.length()), v);
            }
        });
        return out;
    }

    /** A copy with more values on top. */
    public OnceflowConfig with(Map<String, String> more) {
        Map<String, String> merged = new LinkedHashMap<>(values);
        merged.putAll(more);
        return of(merged);
    }

    public Map<String, String> asMap() {
        return values;
    }

    /**
     * The declared keys with a value as {@code ONCEFLOW_*} environment variables ({@link Key#envName()}),
     * so that a child process started with them loads this same configuration.
     */
    public Map<String, String> environment() {
        Map<String, String> env = new LinkedHashMap<>();
        for (Key key : KEYS) {
            String v = values.get(key.name());
            if (v != null && !v.isEmpty()) {
                env.put(key.envName(), v);
            }
        }
        return env;
    }

    /** Every key with its value (passwords masked), for start-up logs. */
    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder();
        values.forEach((k, v) -> {
            boolean secret = KEYS.stream().anyMatch(key -> key.name().equals(k) && key.type() == Type.PASSWORD)
                    || k.contains("password");
            sb.append(k).append('=').append(secret && !v.isEmpty() ? "****" : v).append('\n');
        });
        return sb.toString();
    }
}
