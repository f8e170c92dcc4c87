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
 * {@code kafka.streams.*}, {@code kafka.admin.*}, from every source; as environment variables the
 * prefix is {@code ONCEFLOW_KAFKA_PRODUCER_} (and so on) and the rest is lower-cased with '_' as '.'
 * ({@code ONCEFLOW_KAFKA_PRODUCER_LINGER_MS} is {@code kafka.producer.linger.ms}); a Kafka setting
 * whose name holds '_', '-' or capitals cannot be spelt that way and must come from the file or
 * {@code --set}. Unknown keys outside those prefixes are rejected, so a typo fails at start-up
 * naming the key; an unknown {@code ONCEFLOW_*} environment variable is logged as a warning (the
 * environment holds unrelated variables too). Pass-through settings that Onceflow's guarantee rests
 * on ({@link #GUARANTEE_SETTINGS}) are refused, naming the key and why.
 */
public final class OnceflowConfig {

    public enum Type { STRING, INT, LONG, PASSWORD, BOOLEAN }

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
    public static final Key DB_SCHEMA = Key.string("db.schema", "",
            "Schema holding all of Onceflow's tables, created when missing; connections search it, then public (ADR 0024). "
                    + "Empty: the connection's default search_path (public).");
    /** An unquoted lower-case identifier, as {@code db.schema} must be: it goes into search_path and DDL as is. */
    private static final java.util.regex.Pattern SCHEMA_NAME = java.util.regex.Pattern.compile("[a-z_][a-z0-9_]{0,62}");
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
    public static final Key ENGINE_TIMER_POLL = Key.number("engine.timer.poll.ms", Type.LONG, 200, 10, 60_000,
            "How often each engine worker looks for due timers (delays, retry backoffs) of the partitions it owns; "
                    + "a timer fires at most about this late.");
    public static final Key ENGINE_HTTP_ALLOWED_HOSTS = Key.string("engine.http.allowed.hosts", "",
            "Hosts http nodes may call, comma-separated (exact names, or *.example.com for subdomains); empty allows any host.");
    public static final Key ENGINE_HTTP_CONCURRENCY = Key.number("engine.http.concurrency", Type.INT, 64, 1, 10_000,
            "http calls in flight per engine worker, made off its poll thread; more wait in memory (their claims are durable).");
    public static final Key ENGINE_SQL_INLINE = Key.number("engine.sql.inline.ms", Type.LONG, 1_000, 1_000, 86_400_000,
            "How long a sql node's statement may run on the poll thread, in its batch's transaction; one that overruns is "
                    + "rolled back and run off the poll thread, as every later run of that node on this worker (whole seconds).");
    public static final Key ENGINE_SQL_LONG_CONCURRENCY = Key.number("engine.sql.long.concurrency", Type.INT, 2, 1, 1_000,
            "Long sql statements running at once per engine worker, each on its own connection, off the poll thread.");
    public static final Key ENGINE_LEASE_GRACE = Key.number("engine.lease.grace.ms", Type.LONG, 30_000, 2_000, 3_600_000,
            "How long past its timeout a claimed http call or long statement may stay unrecorded before its lease timer "
                    + "delivers its task again (a call waiting for a slot longer than half of this is not made).");
    public static final Key DISPATCHER_APP_ID = Key.string("dispatcher.application.id", "onceflow-dispatcher",
            "Kafka Streams application id shared by all dispatcher replicas.");
    public static final Key DISPATCHER_DEDUPE_MS = Key.number("dispatcher.dedupe.retention.ms", Type.LONG, 86_400_000L,
            1_000, 30L * 86_400_000L, "How long the dispatcher remembers an event key to drop repeats (first filter only).");
    public static final Key DISPATCHER_COMMIT_EAGER_GAP_MS = Key.number("dispatcher.commit.eager.gap.ms", Type.LONG, 50, 0, 10_000,
            "The dispatcher commits a record's transaction at once, not at the next 100 ms commit interval, when its "
                    + "processor asked for no commit in this many ms (low latency when quiet, bounded extra transactions when "
                    + "busy); 0: at the interval only (ADR 0018).");
    public static final Key DISPATCHER_COMMIT_EAGER_MAX_RATE = Key.number("dispatcher.commit.eager.max.rate", Type.LONG, 500, 1,
            100_000_000, "Above this many records a second (per processor and dispatcher process, over the last eager gap), the "
                    + "dispatcher asks for no early commit and leaves commits to the 100 ms interval: big batches when busy (ADR 0018).");
    public static final Key DISPATCHER_ORDER_KEYS = new Key("dispatcher.order.keys", Type.BOOLEAN, "on", 0, 0,
            "on: events of ordered workflows (order \"key\") carry an ordering key and are partitioned by it, so one key's events "
                    + "reach one engine in order; off: every event is keyed by its event key, as before ADR 0020 (step 1 of its upgrade).");
    public static final Key DISPATCHER_REFRESH_MS = Key.number("dispatcher.catalog.refresh.ms", Type.LONG, 5_000, 100,
            3_600_000, "How often the dispatcher reloads enabled workflows from PostgreSQL.");
    public static final Key DISPATCHER_THREADS = Key.number("dispatcher.threads", Type.INT, 1, 1, 64,
            "Kafka Streams stream threads per dispatcher.");
    public static final Key DISPATCHER_STATE_DIR = Key.string("dispatcher.state.dir", "",
            "Kafka Streams state directory (default: a directory under java.io.tmpdir).");

    public static final Key DISPATCHER_HTTP_HOST = Key.string("dispatcher.http.host", "",
            "Address the dispatcher's HTTP API listens on (e.g. 127.0.0.1); empty: every interface.");
    public static final Key DISPATCHER_HTTP_PORT = Key.number("dispatcher.http.port", Type.INT, 8080, -1, 65535,
            "Port of the dispatcher's HTTP API (POST /api/workflows/{id}/trigger); 0 picks a free port, -1 turns it off.");

    public static final Key ENGINE_HTTP_PORT = Key.number("engine.http.port", Type.INT, 8081, -1, 65535,
            "Port of the engine's HTTP server (" + HttpPaths.HEALTH_LIVE + ", " + HttpPaths.HEALTH_READY + ", " + HttpPaths.METRICS
                    + "); 0 picks a free port, -1 turns it off.");
    public static final Key API_TOKEN = new Key("api.token", Type.PASSWORD, "", 0, 0,
            "Bearer token that every request to the admin API, the trigger endpoint and the console must carry "
                    + "(Authorization: Bearer ...). A role refuses to start its HTTP API without one unless it is a dev run "
                    + "(onceflow dev generates one). Health and metrics paths need no token.");

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
    public static final Key TABLE_RECHECK_MS = Key.number("dispatcher.table.recheck.ms", Type.LONG, 10_000, 100, 3_600_000,
            "How often the capture leader checks a setup problem it reported again (a watched table that does not exist, "
                    + "wal_level not logical); a change of the watched tables is checked at once.");

    public static final Key TABLE_MAX_DEPTH = Key.number("dispatcher.table.max.depth", Type.INT, 10, 1, 1_000,
            "Deepest execution a row change may start: a change made by an execution at this depth starts nothing and is "
                    + "dead-lettered (DEPTH_LIMIT), which stops workflows that trigger themselves (ADR 0011).");

    private static final long DAY_MS = 86_400_000L;
    public static final Key RETENTION_EXECUTIONS_MS = Key.number("retention.executions.ms", Type.LONG, 7 * DAY_MS, 1_000,
            3_650 * DAY_MS, "How long a finished execution's history (the execution, its processed keys, timers and branch "
                    + "arrivals) is kept after it finished; then an engine removes it and retires its event key (ADR 0015).");
    public static final Key RETENTION_KEYS_MS = Key.number("retention.keys.ms", Type.LONG, 30 * DAY_MS, 1_000, 3_650 * DAY_MS,
            "The dedupe horizon: how long after an execution finished its event key still absorbs duplicate events, kept in "
                    + "retired_event_keys once the history is gone; a record with that key arriving later starts a new execution. "
                    + "At least retention.executions.ms; keep it above the retention of every topic that can deliver a record again.");
    public static final Key RETENTION_BATCH_SIZE = Key.number("retention.batch.size", Type.INT, 200, 1, 10_000,
            "Finished executions (with their history) removed, or retired event keys expired, per retention transaction; "
                    + "small keeps each transaction and the locks it holds short.");
    public static final Key RETENTION_INTERVAL_MS = Key.number("retention.interval.ms", Type.LONG, 60_000, 100, DAY_MS,
            "How often each engine process removes history and retired keys past their time, batch after batch until none is "
                    + "left; several engine processes share the work without waiting on each other.");

    public static final List<Key> KEYS = List.of(KAFKA_BOOTSTRAP, DB_URL, DB_USER, DB_PASSWORD, DB_SCHEMA, PARTITIONS, REPLICATION,
            BY_KEY_RETENTION_MS, ENGINE_WORKERS, ENGINE_GROUP, ENGINE_MAX_POLL, ENGINE_SQL_TIMEOUT, ENGINE_POISON_ATTEMPTS,
            ENGINE_TRANSACTION_TIMEOUT, ENGINE_IDLE_TX_TIMEOUT, ENGINE_STALL_REPORT, ENGINE_HANGING_TX_ABORT,
            ENGINE_STUCK_REPORT, ENGINE_TIMER_POLL, ENGINE_HTTP_ALLOWED_HOSTS, ENGINE_HTTP_CONCURRENCY, ENGINE_SQL_INLINE, ENGINE_SQL_LONG_CONCURRENCY, ENGINE_LEASE_GRACE, DISPATCHER_APP_ID, DISPATCHER_DEDUPE_MS,
            DISPATCHER_ORDER_KEYS, DISPATCHER_REFRESH_MS, DISPATCHER_COMMIT_EAGER_GAP_MS, DISPATCHER_COMMIT_EAGER_MAX_RATE, DISPATCHER_THREADS, DISPATCHER_STATE_DIR, DISPATCHER_HTTP_HOST, DISPATCHER_HTTP_PORT, ENGINE_HTTP_PORT, API_TOKEN, TABLE_DB_URL, TABLE_DB_USER,
            TABLE_DB_PASSWORD, TABLE_SLOT, TABLE_PUBLICATION, TABLE_LOCK_POLL_MS, TABLE_OFFSET_FLUSH_MS, TABLE_RECHECK_MS,
            TABLE_MAX_DEPTH, RETENTION_EXECUTIONS_MS, RETENTION_KEYS_MS, RETENTION_BATCH_SIZE, RETENTION_INTERVAL_MS);

    public static final List<String> PASS_THROUGH = List.of("kafka.producer.", "kafka.consumer.", "kafka.streams.", "kafka.admin.");

    /**
     * Kafka client settings that Onceflow sets itself and whose other values would break a
     * guarantee, with the reason. A pass-through key is refused when its last part is one of these,
     * with or without a client prefix in between ({@code kafka.consumer.isolation.level},
     * {@code kafka.streams.producer.acks}, {@code kafka.streams.main.consumer.isolation.level}).
     * {@code transaction.timeout.ms} stays tunable: it bounds how long a dead producer's open
     * transaction holds back {@code read_committed} readers (liveness), not what is committed.
     */
    public static final Map<String, String> GUARANTEE_SETTINGS = Map.of(
            "isolation.level", "Onceflow reads with read_committed; another level would run work from aborted transactions",
            "enable.auto.commit", "Onceflow commits offsets inside the Kafka transaction, with the work's results; auto-commit would"
                    + " commit them before the work is done and lose it in a crash",
            "transactional.id", "Onceflow gives each worker's producer its own transactional id; a configured one would be shared"
                    + " by all workers, which then fence each other",
            "enable.idempotence", "transactions and duplicate-free retries need an idempotent producer",
            "acks", "a record counts as written only once every in-sync replica has it (acks=all); fewer can lose acknowledged"
                    + " records when a broker fails",
            "processing.guarantee", "the dispatcher runs exactly_once_v2; another guarantee could publish an event twice or lose"
                    + " one",
            "transaction.timeout.ms", "it bounds how long read_committed readers wait on a dead or frozen producer's open"
                    + " transaction, and must stay well below engine.hanging.transaction.abort.ms: set"
                    + " engine.transaction.timeout.ms instead");

    /** Environment variables that are not configuration keys but are still Onceflow's own. */
    private static final List<String> OTHER_ENVIRONMENT = List.of("ONCEFLOW_CONFIG", "ONCEFLOW_URL", "ONCEFLOW_CLI_CONFIG");

    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(OnceflowConfig.class);

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
        merged.putAll(fromEnvironment(env));
        unknownEnvironment(env).forEach(name -> log.warn("environment variable {} is not an Onceflow setting and is ignored"
                + " (ONCEFLOW_<KEY>: the key upper-cased with '.' as '_'; see 'onceflow config')", name));
        merged.putAll(overrides);
        return of(merged);
    }

    /**
     * The settings among {@code env}: declared keys by {@link Key#envName()}, and pass-through keys
     * ({@code ONCEFLOW_KAFKA_PRODUCER_LINGER_MS} is {@code kafka.producer.linger.ms}: the prefix,
     * then the rest lower-cased with '_' as '.').
     */
    static Map<String, String> fromEnvironment(Map<String, String> env) {
        Map<String, String> out = new TreeMap<>();
        for (Key key : KEYS) {
            String v = env.get(key.envName());
            if (v != null) {
                out.put(key.name(), v.trim());
            }
        }
        env.forEach((name, value) -> {
            String key = passThroughKey(name);
            if (key != null && value != null) {
                out.put(key, value.trim());
            }
        });
        return out;
    }

    /** The pass-through key an environment variable names, or null. */
    static String passThroughKey(String envName) {
        for (String prefix : PASS_THROUGH) {
            String envPrefix = "ONCEFLOW_" + prefix.toUpperCase(Locale.ROOT).replace('.', '_');
            if (envName.startsWith(envPrefix) && envName.length() > envPrefix.length()) {
                return prefix + envName.substring(envPrefix.length()).toLowerCase(Locale.ROOT).replace('_', '.');
            }
        }
        return null;
    }

    /** {@code ONCEFLOW_*} names in {@code env} that name no setting: a misspelt key deserves a warning. */
    static List<String> unknownEnvironment(Map<String, String> env) {
        List<String> unknown = new ArrayList<>();
        for (String name : new TreeMap<>(env).keySet()) {
            if (name.startsWith("ONCEFLOW_") && !OTHER_ENVIRONMENT.contains(name) && passThroughKey(name) == null
                    && KEYS.stream().noneMatch(k -> k.envName().equals(name))) {
                unknown.add(name);
            }
        }
        return unknown;
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
                } else {
                    String why = guaranteeSetting(e.getKey());
                    if (why != null) {
                        problems.add("configuration key '" + e.getKey() + "' cannot be set: " + why);
                    }
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
            } else if (key.type() == Type.BOOLEAN) {
                if (parseBoolean(v) == null) {
                    problems.add("configuration key '" + key.name() + "' must be on or off (true or false), got '" + v + "'");
                }
            } else if (key.type() == Type.STRING && v.isBlank() && !key.defaultValue().isEmpty()) {
                problems.add("configuration key '" + key.name() + "' must not be empty");
            }
        }
        String schema = values.getOrDefault(DB_SCHEMA.name(), "").trim();
        if (!schema.isEmpty() && (!SCHEMA_NAME.matcher(schema).matches() || schema.startsWith("pg_"))) {
            problems.add("configuration key '" + DB_SCHEMA.name() + "': '" + schema + "' is not a schema name Onceflow can use "
                    + "(lower-case letters, digits and '_', not starting with a digit or pg_, at most 63)");
        }
        if (problems.isEmpty() && Long.parseLong(values.get(RETENTION_KEYS_MS.name()).trim())
                < Long.parseLong(values.get(RETENTION_EXECUTIONS_MS.name()).trim())) {
            problems.add("configuration key '" + RETENTION_KEYS_MS.name() + "' (" + values.get(RETENTION_KEYS_MS.name()).trim()
                    + ") must be at least '" + RETENTION_EXECUTIONS_MS.name() + "' (" + values.get(RETENTION_EXECUTIONS_MS.name()).trim()
                    + "): an event key must absorb duplicates at least as long as its execution's history does (ADR 0015)");
        }
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException(String.join("; ", problems));
        }
    }

    /** Why a pass-through key may not be set ({@link #GUARANTEE_SETTINGS}), or null when it may. */
    static String guaranteeSetting(String key) {
        String lower = key.toLowerCase(Locale.ROOT);
        for (Map.Entry<String, String> e : GUARANTEE_SETTINGS.entrySet()) {
            if (lower.endsWith("." + e.getKey())) {
                return e.getValue();
            }
        }
        return null;
    }

    public String get(Key key) {
        return values.get(key.name());
    }

    /** {@code db.schema}, trimmed: empty for the connection's default search_path. */
    public String schema() {
        return values.getOrDefault(DB_SCHEMA.name(), "").trim();
    }

    public int getInt(Key key) {
        return Integer.parseInt(values.get(key.name()).trim());
    }

    public long getLong(Key key) {
        return Long.parseLong(values.get(key.name()).trim());
    }

    /** A {@link Type#BOOLEAN} key: on/true or off/false. */
    public boolean getBoolean(Key key) {
        Boolean b = parseBoolean(values.get(key.name()));
        if (b == null) {
            throw new IllegalArgumentException("configuration key '" + key.name() + "' must be on or off, got '" + values.get(key.name()) + "'");
        }
        return b;
    }

    private static Boolean parseBoolean(String v) {
        String t = v == null ? "" : v.trim().toLowerCase(Locale.ROOT);
        return switch (t) {
            case "on", "true" -> Boolean.TRUE;
            case "off", "false" -> Boolean.FALSE;
            default -> null;
        };
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
     * The keys with a value as {@code ONCEFLOW_*} environment variables ({@link Key#envName()}, and
     * pass-through keys by their prefix), so that a child process started with them loads this same
     * configuration. A pass-through key that the environment cannot spell (it holds '_', '-' or
     * capitals) is an error naming it rather than a setting the child silently lacks.
     */
    public Map<String, String> environment() {
        Map<String, String> env = new LinkedHashMap<>();
        for (Key key : KEYS) {
            String v = values.get(key.name());
            if (v != null && !v.isEmpty()) {
                env.put(key.envName(), v);
            }
        }
        values.forEach((k, v) -> {
            if (PASS_THROUGH.stream().anyMatch(k::startsWith)) {
                String name = "ONCEFLOW_" + k.toUpperCase(Locale.ROOT).replace('.', '_');
                if (!k.equals(passThroughKey(name))) {
                    throw new IllegalArgumentException("configuration key '" + k + "' cannot be passed as an environment"
                            + " variable (" + name + " would read back as '" + passThroughKey(name) + "'); use a configuration file");
                }
                env.put(name, v);
            }
        });
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
