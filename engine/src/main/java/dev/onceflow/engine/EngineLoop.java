package dev.onceflow.engine;

import dev.onceflow.common.Json;
import dev.onceflow.common.TaskEnvelope;
import dev.onceflow.common.Topics;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import javax.sql.DataSource;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One engine worker: a {@code read_committed} consumer of {@value Topics#EVENTS} and
 * {@value Topics#TASKS}, one transactional producer, and one PostgreSQL connection. Per poll batch:
 * one PostgreSQL transaction ({@link BatchPipeline}), commit; then one Kafka transaction with the
 * follow-up records and the batch's offsets sent with {@code consumer.groupMetadata()}, commit.
 *
 * <p>Why this order: the PostgreSQL commit is the durable proof that each node ran (its processed
 * key); the Kafka commit only moves the offsets and publishes follow-ups. A crash between the two
 * redelivers the batch, whose nodes are found processed and whose follow-ups are produced again.
 * A zombie that lost its partitions cannot commit offsets: the group generation in the offsets
 * fences it.
 *
 * <p>Every failure is classified once, by {@link Failures#classify}, in one catch ladder per loop
 * ({@link #runBatch} for a batch, {@link #run} for the clients):
 * <ul>
 *   <li>transient (broker or PostgreSQL unreachable, serialization failure, lock timeout): roll
 *       back PostgreSQL, abort the Kafka transaction, rewind the consumer to the batch's first
 *       offsets, back off, poll again, as often as it takes; a lost connection is replaced;</li>
 *   <li>poison (anything else, Java {@code Error}s included): replay the batch record by record
 *       ({@link BatchPipeline}) to find the record; it gets {@code engine.poison.max.attempts} tries
 *       (each a rollback, back-off and redelivery) and is then dead-lettered with the reason while
 *       the rest of the partition moves on;</li>
 *   <li>fenced, or a failed abort: close the clients and rejoin the group, which restarts from the
 *       committed offsets.</li>
 * </ul>
 * No failure of one record ends the worker: only {@link #stop()} or an interrupt does.
 * Runs on its own thread; {@link #stop()} may be called from any thread.
 */
final class EngineLoop implements Runnable {

    private static final Logger LOG = LoggerFactory.getLogger(EngineLoop.class);

    /** A worker killed without leaving the group holds its partitions until this passes (Kafka's default: 45 s). */
    static final int DEFAULT_SESSION_TIMEOUT_MS = 10_000;
    /** fetch.max.wait.ms of the workers' consumers (ADR 0018); kafka.consumer.fetch.max.wait.ms overrides it. */
    static final int FETCH_MAX_WAIT_MS = 10;
    static final int DEFAULT_HEARTBEAT_INTERVAL_MS = 1_000;


    enum State { CREATED, RUNNING, STOPPING, STOPPED }

    private final String name;
    private final EngineSettings settings;
    private final DataSource dataSource;
    private final WorkflowCache workflows;
    private final EngineMetrics metrics;
    private final EngineHooks hooks;
    private final java.time.Clock clock;
    private final AtomicReference<State> state = new AtomicReference<>(State.CREATED);
    private final CountDownLatch stopped = new CountDownLatch(1);

    private KafkaConsumer<byte[], byte[]> consumer;
    private KafkaProducer<byte[], byte[]> producer;
    private ExecutionStore store;
    private BatchPipeline handler;
    private boolean transactionOpen;
    private int consecutiveFailures;
    private final PoisonAttempts poison;
    /**
     * Records not yet consumed on each partition this worker owns, as its consumer last saw them
     * (from the fetched end offsets, no request of its own). Written by the worker's thread after
     * each poll, read by a metrics scrape on any thread.
     */
    private final Map<TopicPartition, Long> lag = new java.util.concurrent.ConcurrentHashMap<>();

    EngineLoop(String name, EngineSettings settings, DataSource dataSource, WorkflowCache workflows, EngineMetrics metrics,
               EngineHooks hooks, java.time.Clock clock) {
        this(name, settings, dataSource, workflows, metrics, hooks, clock, ExecutionTraces.OFF);
    }

    /** @param traces the spans of what each committed PostgreSQL transaction recorded (ADR 0019) */
    EngineLoop(String name, EngineSettings settings, DataSource dataSource, WorkflowCache workflows, EngineMetrics metrics,
               EngineHooks hooks, java.time.Clock clock, ExecutionTraces traces) {
        this.traces = traces;
        this.name = name;
        this.settings = settings;
        this.dataSource = dataSource;
        this.workflows = workflows;
        this.metrics = metrics;
        this.hooks = hooks;
        this.clock = clock;
        this.poison = new PoisonAttempts(settings.poisonMaxAttempts());
    }

    private final ExecutionTraces traces;

    State state() {
        return state.get();
    }

    /** Records waiting per owned partition, as of the worker's last poll; any thread. */
    Map<TopicPartition, Long> lag() {
        return lag;
    }

    @Override
    public void run() {
        if (!state.compareAndSet(State.CREATED, State.RUNNING)) {
            throw new IllegalStateException(name + " was already started");
        }
        LOG.info("Engine worker {} starting", name);
        try {
            while (state.get() == State.RUNNING) {
                try {
                    openClients();
                    pollLoop();
                } catch (WakeupException e) {
                    // stop() woke us up; the loop condition ends the worker
                } catch (ProducerFencedException | InvalidProducerEpochException | AuthorizationException e) {
                    LOG.warn("Engine worker {} was fenced ({}); closing its clients and rejoining the group", name, e.toString());
                    closeClients();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                } catch (Throwable e) {
                    // Whatever escaped the batch (a broker or database outage while connecting, a
                    // failed abort, even a Java Error): the worker never ends on it. It closes its
                    // clients, so its partitions move on, and comes back after a back-off.
                    if (Failures.classify(e) == Failures.Recovery.STOP && state.get() != State.RUNNING) {
                        break;
                    }
                    if (e instanceof Error) {
                        LOG.error("Engine worker {} caught {}; closing its clients and starting again after a back-off",
                                name, Failures.describe(e), e);
                    } else {
                        LOG.warn("Engine worker {} lost its clients ({}); reconnecting after a back-off", name,
                                Failures.describe(e));
                    }
                    closeClients();
                    try {
                        backOff();
                    } catch (InterruptedException ie) {
                        Thread.currentThread().interrupt();
                        break;
                    }
                }
            }
        } finally {
            closeClients();
            if (runner != null) {
                runner.close();
            }
            state.set(State.STOPPED);
            stopped.countDown();
            LOG.info("Engine worker {} stopped", name);
        }
    }

    /** Asks the worker to finish its batch (or abort its open transaction) and leave the group. */
    void stop() {
        if (state.compareAndSet(State.RUNNING, State.STOPPING) || state.compareAndSet(State.CREATED, State.STOPPED)) {
            KafkaConsumer<byte[], byte[]> c = consumer;
            if (c != null) {
                c.wakeup();
            }
        }
    }

    boolean awaitStopped(Duration timeout) throws InterruptedException {
        return stopped.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    private void openClients() throws SQLException {
        openStore();
        if (producer == null) {
            producer = new KafkaProducer<>(producerProps(), new ByteArraySerializer(), new ByteArraySerializer());
            producer.initTransactions();
        }
        if (consumer == null) {
            consumer = new KafkaConsumer<>(consumerProps(), new ByteArrayDeserializer(), new ByteArrayDeserializer());
            consumerMetrics = Map.copyOf(consumer.metrics());
            consumer.subscribe(List.of(Topics.EVENTS, Topics.TASKS), new org.apache.kafka.clients.consumer.ConsumerRebalanceListener() {
                @Override
                public void onPartitionsRevoked(java.util.Collection<TopicPartition> partitions) {
                    metrics.countPartitionsRevoked(partitions.size());
                    lag.keySet().removeAll(partitions);
                    assigned = consumer.assignment().size() - partitions.size();
                }

                @Override
                public void onPartitionsAssigned(java.util.Collection<TopicPartition> partitions) {
                    assigned = consumer.assignment().size();
                }

                @Override
                public void onPartitionsLost(java.util.Collection<TopicPartition> partitions) {
                    metrics.countPartitionsRevoked(partitions.size());
                    lag.keySet().removeAll(partitions);
                    assigned = 0;
                }
            });
        }
    }

    /** Opens the PostgreSQL side (after a start, or after the connection was lost). */
    private void openStore() throws SQLException {
        if (store == null) {
            Connection connection = dataSource.getConnection();
            try (java.sql.Statement st = connection.createStatement()) {
                // A frozen or partitioned zombie must not hold its uncommitted claims (row locks)
                // for longer than this: PostgreSQL ends its session and the new owner of the
                // partition proceeds (ADR 0009). Statements themselves are not affected.
                st.execute("SET idle_in_transaction_session_timeout = " + settings.idleInTransactionTimeoutMs());
            }
            store = new ExecutionStore(connection);
            if (runner == null) {
                runner = newRunner();
            }
            handler = new BatchPipeline(store, workflows, runner, clock,
                    settings.unsafe() ? ClaimPolicy.UNSAFE : ClaimPolicy.ONCE,
                    poison);
        }
    }

    private void pollLoop() throws InterruptedException, SQLException {
        long nextTimerCheck = 0;
        while (state.get() == State.RUNNING) {
            ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofMillis(200));
            updateLag();
            if (!records.isEmpty()) {
                // The connection may have been dropped by the previous batch's failure: the
                // consumer keeps its partitions while a new one is opened.
                openStore();
                runBatch(records);
                List<Batch.PendingCall> calls = committedCalls;
                committedCalls = List.of();
                callAndRecord(calls);
            }
            long now = System.currentTimeMillis();
            if (now >= nextTimerCheck) {
                nextTimerCheck = now + settings.timerPollMs();
                fireDueTimers();
            }
        }
    }

    private void updateLag() {
        for (TopicPartition tp : consumer.assignment()) {
            java.util.OptionalLong l = consumer.currentLag(tp);
            if (l.isPresent()) {
                lag.put(tp, l.getAsLong());
            }
        }
    }

    /** Timers fired per round; more wait for the next round. */
    static final int TIMERS_PER_ROUND = 500;

    /**
     * Fires the due timers of the task partitions this worker owns (ADR 0013): their tasks are
     * produced in a Kafka transaction first, then the timers are marked fired in PostgreSQL. A
     * crash in between fires them again, which is harmless: each task runs under its own
     * processed key. The other order could lose a timer. A worker that lost a partition and has
     * not noticed yet may fire its timers too; the same argument holds.
     */
    private void fireDueTimers() throws InterruptedException, SQLException {
        Set<Integer> partitions = new HashSet<>();
        for (TopicPartition tp : consumer.assignment()) {
            if (tp.topic().equals(Topics.TASKS)) {
                partitions.add(tp.partition());
            }
        }
        if (partitions.isEmpty()) {
            return;
        }
        try {
            openStore();
            List<ExecutionStore.DueTimer> due = store.dueTimers(partitions, TIMERS_PER_ROUND);
            store.rollbackQuietly(); // end the read's transaction: nothing is held while producing
            if (due.isEmpty()) {
                return;
            }
            producer.beginTransaction();
            transactionOpen = true;
            for (ExecutionStore.DueTimer timer : due) {
                for (TaskEnvelope task : timer.tasks()) {
                    producer.send(new ProducerRecord<>(Topics.TASKS, Batch.key(task.partitionKey()), Json.bytes(task)));
                }
            }
            producer.commitTransaction();
            transactionOpen = false;
            store.markFired(due);
            store.commit();
            metrics.countTimersFired(due.size());
        } catch (Throwable e) {
            Failures.Recovery recovery = Failures.classify(e);
            if (recovery == Failures.Recovery.STOP || recovery == Failures.Recovery.REJOIN) {
                if (store != null) {
                    store.rollbackQuietly();
                }
                throw e;
            }
            LOG.warn("Engine worker {}: firing due timers failed ({}, {}); trying again", name, recovery, Failures.describe(e));
            if (store != null) {
                store.rollbackQuietly();
                if (isBroken()) {
                    store.close();
                    store = null;
                    handler = null;
                }
            }
            if (transactionOpen) {
                producer.abortTransaction();
                transactionOpen = false;
            }
            backOff();
        }
    }

    /**
     * Runs one poll batch through both transactions. The one catch ladder of a batch: every
     * failure is classified by {@link Failures#classify} and takes the recovery its class needs.
     */
    private void runBatch(ConsumerRecords<byte[], byte[]> polled) throws InterruptedException, SQLException {
        List<ConsumerRecord<byte[], byte[]>> records = new java.util.ArrayList<>(polled.count());
        polled.forEach(records::add);
        boolean careful = false;
        while (true) {
            Batch.Counts counts = new Batch.Counts(traces.on());
            boolean databaseCommitted = false;
            try {
                List<ProducerRecord<byte[], byte[]>> out = handler.apply(records, careful, counts);
                int applied = handler.appliedRecords();
                List<ConsumerRecord<byte[], byte[]>> done = applied == records.size() ? records : records.subList(0, applied);
                store.commit();
                databaseCommitted = true;
                traces.committed(counts); // what the commit recorded lasts: its spans may go (never throws)
                hooks.afterDatabaseCommit(name, done.size());
                commitKafka(out, offsets(done));
                markStartsFired();
                counts.addTo(metrics);
                metrics.batches.increment();
                consecutiveFailures = 0;
                // Made by pollLoop, outside this batch's ladder (with those of earlier parts of a careful batch).
                List<Batch.PendingCall> calls = handler.takeCalls();
                if (!calls.isEmpty()) {
                    List<Batch.PendingCall> all = new java.util.ArrayList<>(committedCalls);
                    all.addAll(calls);
                    committedCalls = all;
                }
                if (applied == records.size()) {
                    return;
                }
                // A careful replay stopped at its savepoint budget: the rest, record by record, in a new transaction.
                LOG.debug("Engine worker {}: committed {} records of a careful replay; {} to go", name, applied,
                        records.size() - applied);
                records = new java.util.ArrayList<>(records.subList(applied, records.size()));
            } catch (BatchPipeline.ReplayCarefully e) {
                // A node's SQL failed and aborted the transaction: replay with a savepoint per record.
                store.rollbackQuietly();
                careful = true;
            } catch (BatchPipeline.RetryBatch e) {
                metrics.batchFailures.increment();
                metrics.poisonRetries.increment();
                LOG.warn("Engine worker {}: {} ({}); rolling the batch back and delivering it again", name, e.getMessage(),
                        Failures.describe(e.getCause()));
                rollBackAndRewind(records);
                backOff();
                return;
            } catch (Throwable e) {
                Failures.Recovery recovery = Failures.classify(e);
                // After the PostgreSQL commit no record is to blame: the Kafka side failed, and the
                // batch is delivered again (its nodes are found processed).
                if (recovery == Failures.Recovery.POISON && !careful && !databaseCommitted) {
                    // Some record of the batch cannot be processed: find it, record by record.
                    LOG.warn("Engine worker {}: batch of {} records failed ({}); replaying it record by record",
                            name, records.size(), Failures.describe(e));
                    store.rollbackQuietly();
                    careful = true;
                    continue;
                }
                if (recovery == Failures.Recovery.STOP || recovery == Failures.Recovery.REJOIN) {
                    store.rollbackQuietly();
                    throw e;
                }
                // Transient, or a poison failure outside any one record (the commits): deliver again.
                metrics.batchFailures.increment();
                LOG.warn("Engine worker {}: batch of {} records failed ({}, {}); rolling back and delivering it again",
                        name, records.size(), recovery, Failures.describe(e));
                rollBackAndRewind(records);
                backOff();
                return;
            }
        }
    }

    private void rollBackAndRewind(List<ConsumerRecord<byte[], byte[]>> records) {
        store.rollbackQuietly();
        if (isBroken()) {
            LOG.warn("Engine worker {}: database connection lost; opening a new one before the next batch", name);
            store.close();
            store = null;
            handler = null;
        }
        abortAndRewind(records);
    }

    /**
     * After a Kafka commit: the start timers of the queued executions the batch admitted are
     * marked fired, their start tasks being out (ADR 0021). A crash before this fires them after
     * their grace, and the start node's processed key absorbs the second start.
     */
    private void markStartsFired() throws SQLException {
        List<String> starts = handler.takeStartTimers();
        if (!starts.isEmpty()) {
            store.markStartsFired(starts);
            store.commit();
        }
    }

    private void commitKafka(List<ProducerRecord<byte[], byte[]>> out, Map<TopicPartition, OffsetAndMetadata> offsets) {
        producer.beginTransaction();
        transactionOpen = true;
        for (ProducerRecord<byte[], byte[]> record : out) {
            producer.send(record);
        }
        if (!offsets.isEmpty()) {
            // Offsets carry the group generation: a worker that lost these partitions is fenced here.
            producer.sendOffsetsToTransaction(offsets, consumer.groupMetadata());
        }
        producer.commitTransaction();
        transactionOpen = false;
    }

    /**
     * Makes the {@code http} calls whose claims just committed and records their outcomes
     * (design, "HTTP"): claim (committed) → call with {@code Idempotency-Key} → record. While the
     * calls run, the worker's partitions are paused and the consumer keeps polling, so the group
     * sees a live member. The outcomes and what follows them go through PostgreSQL, then a Kafka
     * transaction, then the calls' lease timers are marked fired. Whatever fails on the way is
     * not retried here: the lease timers deliver the tasks again, and a key without an outcome
     * then follows its node's {@code onUnknownOutcome}.
     */
    private void callAndRecord(List<Batch.PendingCall> calls) throws InterruptedException, SQLException {
        while (!calls.isEmpty()) {
            List<BatchPipeline.CallResult> results = callAll(calls);
            // Calls claimed by the outcomes recorded so far (committed): made next, whatever happens to the rest.
            List<Batch.PendingCall> following = new java.util.ArrayList<>();
            boolean careful = false;
            while (true) {
                Batch.Counts counts = new Batch.Counts(traces.on());
                try {
                    hooks.afterHttpCalls(name, results.stream().map(r -> r.call().step().key()).toList());
                    List<ProducerRecord<byte[], byte[]>> out = handler.record(results, careful, counts);
                    int applied = handler.appliedRecords();
                    List<BatchPipeline.CallResult> done = results.subList(0, applied);
                    store.commit();
                    traces.committed(counts); // never throws
                    commitKafka(out, Map.of());
                    markStartsFired();
                    store.markLeasesFired(done.stream().map(r -> r.call().step().key()).toList());
                    store.commit();
                    counts.addTo(metrics);
                    following.addAll(handler.takeCalls());
                    if (applied == results.size()) {
                        break;
                    }
                    // A careful replay stopped at its savepoint budget: the rest in a new transaction.
                    results = new java.util.ArrayList<>(results.subList(applied, results.size()));
                } catch (BatchPipeline.ReplayCarefully e) {
                    store.rollbackQuietly();
                    careful = true;
                } catch (Throwable e) {
                    Failures.Recovery recovery = Failures.classify(e);
                    store.rollbackQuietly();
                    if (transactionOpen) {
                        producer.abortTransaction();
                        transactionOpen = false;
                    }
                    if (recovery == Failures.Recovery.STOP || recovery == Failures.Recovery.REJOIN) {
                        throw e;
                    }
                    LOG.warn("Engine worker {}: recording the outcomes of {} http calls failed ({}, {}); their lease timers "
                            + "deliver them again", name, results.size(), recovery, Failures.describe(e));
                    break;
                }
            }
            calls = following;
        }
    }

    /** Partitions this worker owns now (for readiness); written by the worker thread. */
    private volatile int assigned;
    /** The consumer's metrics (KafkaConsumer.metrics() is not for other threads; a metric's value is). */
    private volatile Map<org.apache.kafka.common.MetricName, ? extends org.apache.kafka.common.Metric> consumerMetrics = Map.of();

    int assignedPartitions() {
        return assigned;
    }

    /** Seconds since this worker's consumer last heartbeat to its group coordinator; NaN without a consumer. */
    double heartbeatAgeSeconds() {
        return dev.onceflow.common.http.RoleServer.heartbeatAgeSeconds(consumerMetrics);
    }

    /**
     * While the worker waits on something long (http calls, a long statement): its partitions
     * paused, one poll, so the group sees a live member within max.poll.interval.ms. Records of a
     * partition assigned meanwhile (not yet paused) are put back by seeking to them.
     */

    private void keepMembership() {
        consumer.pause(consumer.assignment());
        ConsumerRecords<byte[], byte[]> polled = consumer.poll(Duration.ZERO);
        if (!polled.isEmpty()) {
            Map<TopicPartition, Long> first = new HashMap<>();
            polled.forEach(r -> first.putIfAbsent(new TopicPartition(r.topic(), r.partition()), r.offset()));
            first.forEach(consumer::seek);
        }
        consumer.pause(consumer.assignment());
    }

    private NodeRunner runner;

    /** The worker's node runner, for the life of the worker: its long statements keep the worker in its group. */
    private NodeRunner newRunner() {
        NodeRunner r = new NodeRunner(settings.sqlTimeoutMs(), clock, settings.httpAllowedHosts());
        r.keepAlive(new LongStatements.KeepAlive() {
            @Override
            public void tick() {
                keepMembership();
            }

            @Override
            public void done() {
                consumer.resume(consumer.assignment());
                metrics.longStatements.increment();
            }
        });
        return r;
    }

    private java.net.http.HttpClient httpClient;
    /** The http calls claimed by the batch that just committed in both transactions. */
    private List<Batch.PendingCall> committedCalls = List.of();

    /** Sends the calls side by side; polls the paused consumer until all are answered. */
    private List<BatchPipeline.CallResult> callAll(List<Batch.PendingCall> calls) throws InterruptedException {
        if (httpClient == null) {
            httpClient = java.net.http.HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10))
                    .followRedirects(java.net.http.HttpClient.Redirect.NEVER).build();
        }
        List<java.util.concurrent.CompletableFuture<NodeResult>> futures = new java.util.ArrayList<>(calls.size());
        long[] answeredAt = new long[calls.size()];
        long sent = System.nanoTime();
        for (int i = 0; i < calls.size(); i++) {
            Batch.PendingCall call = calls.get(i);
            int index = i;
            futures.add(HttpCall.send(httpClient, call.request(), call.idempotencyKey(), call.node().id(),
                            traces.callHeader(call.step().task()))
                    .whenComplete((r, e) -> answeredAt[index] = System.nanoTime()));
        }
        metrics.countHttpCalls(calls.size());
        java.util.concurrent.CompletableFuture<Void> all = java.util.concurrent.CompletableFuture.allOf(
                futures.toArray(new java.util.concurrent.CompletableFuture[0]));
        consumer.pause(consumer.assignment());
        try {
            while (!all.isDone()) {
                try {
                    all.get(100, TimeUnit.MILLISECONDS);
                } catch (java.util.concurrent.TimeoutException | java.util.concurrent.ExecutionException e) {
                    // not yet (the futures themselves never fail: a failed call is a Failed result)
                }
                keepMembership();
            }
        } finally {
            consumer.resume(consumer.assignment());
        }
        List<BatchPipeline.CallResult> results = new java.util.ArrayList<>(calls.size());
        for (int i = 0; i < calls.size(); i++) {
            NodeResult result = futures.get(i).join(); // join() orders the answer time's write before this read
            results.add(new BatchPipeline.CallResult(calls.get(i), result, answeredAt[i] - sent));
        }
        return results;
    }

    /** Aborts the open Kafka transaction and seeks back so the next poll returns the batch again. */
    private void abortAndRewind(List<ConsumerRecord<byte[], byte[]>> records) {
        if (transactionOpen) {
            // If the abort itself fails the producer is unusable: the exception closes the clients,
            // and the new consumer starts from the committed offsets.
            producer.abortTransaction();
            transactionOpen = false;
        }
        Map<TopicPartition, Long> first = new HashMap<>();
        for (ConsumerRecord<byte[], byte[]> r : records) {
            first.putIfAbsent(new TopicPartition(r.topic(), r.partition()), r.offset());
        }
        first.forEach((tp, offset) -> {
            if (consumer.assignment().contains(tp)) {
                consumer.seek(tp, offset);
            }
        });
    }

    private static Map<TopicPartition, OffsetAndMetadata> offsets(List<ConsumerRecord<byte[], byte[]>> records) {
        Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
        for (ConsumerRecord<byte[], byte[]> r : records) {
            offsets.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
        }
        return offsets;
    }

    private boolean isBroken() {
        try {
            return store == null || store.connection().isClosed() || !store.connection().isValid(2);
        } catch (SQLException e) {
            return true;
        }
    }

    private void backOff() throws InterruptedException {
        consecutiveFailures++;
        long ms = Math.min(5_000, 50L << Math.min(consecutiveFailures, 7));
        Thread.sleep(ms);
    }

    private void closeClients() {
        if (producer != null) {
            try {
                if (transactionOpen) {
                    producer.abortTransaction();
                }
            } catch (KafkaException e) {
                LOG.debug("Abort on close failed", e);
            }
            transactionOpen = false;
            producer.close(Duration.ofSeconds(5));
            producer = null;
        }
        if (consumer != null) {
            // close() leaves the group, so its partitions move at once instead of after the session timeout.
            try {
                consumer.close(org.apache.kafka.clients.consumer.CloseOptions.timeout(Duration.ofSeconds(5)));
            } catch (RuntimeException e) {
                LOG.debug("Consumer close failed", e);
            }
            consumer = null;
            lag.clear(); // its partitions are someone else's now
        }
        if (store != null) {
            store.rollbackQuietly();
            store.close();
            store = null;
        }
    }

    private Properties consumerProps() {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, settings.bootstrapServers());
        p.put(ConsumerConfig.GROUP_ID_CONFIG, settings.groupId());
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, name + "-consumer");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, String.valueOf(settings.maxPollRecords()));
        p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, String.valueOf(DEFAULT_SESSION_TIMEOUT_MS));
        p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, String.valueOf(DEFAULT_HEARTBEAT_INTERVAL_MS));
        // Range assignment gives events-N and tasks-N to the same worker: one key, one consumer.
        p.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, org.apache.kafka.clients.consumer.RangeAssignor.class.getName());
        // A read_committed fetch with nothing stable sits out fetch.max.wait.ms at the broker even
        // after the dispatcher's commit made its events stable: 500 ms by default (ADR 0018).
        p.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, String.valueOf(FETCH_MAX_WAIT_MS));
        p.putAll(settings.consumerOverrides());
        return p;
    }

    private Properties producerProps() {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, settings.bootstrapServers());
        p.put(ProducerConfig.CLIENT_ID_CONFIG, name + "-producer");
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, settings.transactionalIdPrefix() + "-" + name + "-"
                + java.util.UUID.randomUUID());
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "2");
        p.put(ProducerConfig.RETRY_BACKOFF_MS_CONFIG, "10");
        // Short: a producer that died or froze with its transaction open blocks read_committed
        // readers of the partitions it wrote until the coordinator aborts it (ADR 0009).
        p.put(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, String.valueOf(settings.transactionTimeoutMs()));
        p.putAll(settings.producerOverrides());
        return p;
    }
}
