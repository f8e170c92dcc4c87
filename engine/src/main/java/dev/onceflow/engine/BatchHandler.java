package dev.onceflow.engine;

import com.fasterxml.jackson.databind.JsonNode;
import dev.onceflow.common.DeadLetter;
import dev.onceflow.common.EventEnvelope;
import dev.onceflow.common.InvalidInputException.Reason;
import dev.onceflow.common.Json;
import dev.onceflow.common.Outcome;
import dev.onceflow.common.TaskEnvelope;
import dev.onceflow.common.Topics;
import dev.onceflow.common.workflow.Node;
import dev.onceflow.common.workflow.Workflow;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.sql.SQLException;
import java.sql.Savepoint;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Applies one poll batch to PostgreSQL in the caller's open transaction and returns the records
 * to produce in the batch's Kafka transaction. Event records create executions; task records run
 * nodes guarded by their processed keys. A key found already present is not an error: the stored
 * outcome is reloaded and its follow-ups produced again, because the Kafka transaction that first
 * produced them may have been aborted (a crash between the two commits).
 *
 * <p>Fast path: no savepoints, because hundreds of subtransactions per transaction overflow
 * PostgreSQL's subtransaction cache and slow every session. When a node's SQL statement fails
 * (which aborts the transaction), {@link ReplayCarefully} asks the caller to roll back and replay
 * the batch with a savepoint per record, so one failing node does not undo the others.
 * Not thread-safe: one per worker.
 */
final class BatchHandler {

    private static final Logger LOG = LoggerFactory.getLogger(BatchHandler.class);

    /** The batch must be rolled back and replayed with a savepoint per record. */
    static final class ReplayCarefully extends Exception {
        ReplayCarefully(String reason) {
            super(reason, null, false, false);
        }
    }

    /**
     * A record failed with a {@link Failures.Recovery#POISON} failure and has attempts left: the
     * caller rolls the whole batch back and delivers it again after a back-off.
     */
    static final class RetryBatch extends Exception {
        RetryBatch(String message, Throwable cause) {
            super(message, cause, false, false);
        }
    }

    /** What a batch did, counted into the metrics only once both transactions committed. */
    static final class Counts {
        long events;
        long duplicateEvents;
        long nodeRuns;
        long duplicateNodeRuns;
        long succeeded;
        long failed;
        long deadLettered;

        void addTo(EngineMetrics m) {
            m.events.add(events);
            m.duplicateEvents.add(duplicateEvents);
            m.nodeRuns.add(nodeRuns);
            m.duplicateNodeRuns.add(duplicateNodeRuns);
            m.executionsSucceeded.add(succeeded);
            m.executionsFailed.add(failed);
            m.deadLettered.add(deadLettered);
        }
    }

    /** Nodes of one chain run inline in a batch before the rest go through the tasks topic. */
    static final int INLINE_LIMIT = 64;

    private final ExecutionStore store;
    private final WorkflowCache workflows;
    private final java.util.ArrayDeque<TaskEnvelope> chain = new java.util.ArrayDeque<>();
    private final NodeRunner runner;
    private final Clock clock;
    private final boolean unsafe;
    private final PoisonAttempts poison;

    BatchHandler(ExecutionStore store, WorkflowCache workflows, NodeRunner runner, Clock clock, boolean unsafe,
                 PoisonAttempts poison) {
        this.store = store;
        this.workflows = workflows;
        this.runner = runner;
        this.clock = clock;
        this.unsafe = unsafe;
        this.poison = poison;
    }

    /**
     * Applies the batch. The fast path ({@code careful} false) advances all records together; the
     * careful path takes them one by one, each under a savepoint, so that one record's failure is
     * isolated: a node's failing statement becomes that node's failure, and a poison record (see
     * {@link Failures}) is rolled back to its savepoint and, once it used up its attempts,
     * dead-lettered while the rest of the batch commits.
     *
     * @throws RetryBatch a poison record has attempts left: roll back, back off, deliver again
     */
    List<ProducerRecord<byte[], byte[]>> apply(List<ConsumerRecord<byte[], byte[]>> records, boolean careful, Counts counts)
            throws SQLException, ReplayCarefully, RetryBatch {
        // The unsafe negative control takes the record-by-record path, whose naive re-run of every
        // delivered event is what it must show; the waves would still skip finished executions.
        if (!careful && !unsafe) {
            return applyInWaves(records, counts);
        }
        List<ProducerRecord<byte[], byte[]>> out = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> record : records) {
            // Queued statements of earlier records go now, so the savepoint covers this record only.
            store.flushQueued();
            Savepoint sp = store.savepoint();
            int produced = out.size();
            chain.clear();
            try {
                if (record.topic().equals(Topics.EVENTS)) {
                    onEvent(record, out, counts);
                } else {
                    onTask(record, out, counts, sp);
                }
                runChain(out, counts, true);
            } catch (Throwable failure) {
                if (Failures.classify(failure) != Failures.Recovery.POISON) {
                    throw failure;
                }
                // Undo this record only: its statements, queued statements and produced records.
                store.discardQueued();
                store.rollbackTo(sp);
                chain.clear();
                out.subList(produced, out.size()).clear();
                if (!poison.failedAndExhausted(record)) {
                    throw new RetryBatch(record.topic() + "-" + record.partition() + "@" + record.offset()
                            + " failed (attempt " + poison.attempts(record) + " of " + poison.maxAttempts() + ")", failure);
                }
                deadLetterPoison(record, failure, out, counts);
            }
        }
        return out;
    }

    /**
     * A record that failed {@link PoisonAttempts#maxAttempts} times: it goes to the dead-letter
     * topic with the reason, and its execution, when there is one to speak of, ends failed with
     * the same reason, so an operator sees it where executions are looked at. Nothing here may
     * fail the batch: whatever cannot be recorded is rolled back to a savepoint and logged.
     */
    private void deadLetterPoison(ConsumerRecord<byte[], byte[]> record, Throwable failure,
                                  List<ProducerRecord<byte[], byte[]>> out, Counts counts) throws SQLException {
        String reason = "engine failed on this record " + poison.maxAttempts() + " times: "
                + Failures.describe(failure).replace('\u0000', '?');
        LOG.error("Dead-lettering {}-{}@{} after {} attempts: {}", record.topic(), record.partition(), record.offset(),
                poison.maxAttempts(), Failures.describe(failure), failure);
        deadLetter(record, Reason.PROCESSING_FAILED, reason, out, counts);
        Savepoint sp = store.savepoint();
        int produced = out.size();
        try {
            if (record.topic().equals(Topics.EVENTS)) {
                EventEnvelope event = Json.read(record.value(), EventEnvelope.class);
                // The trigger data may be what PostgreSQL refused: the dead-letter record keeps it.
                EventEnvelope kept = new EventEnvelope(event.eventKey(), event.workflow(), event.version(), event.time(),
                        Json.MAPPER.createObjectNode().put("dead_lettered", "trigger data kept in " + Topics.DLQ),
                        event.source(), event.publishedAt(), event.depth());
                String error = reason + " (record kept in " + Topics.DLQ + ")";
                if (!createFailed(kept, error, out, counts)) {
                    Optional<ExecutionStore.Execution> existing = store.execution(event.eventKey());
                    long now = clock.millis();
                    if (existing.isPresent() && existing.get().running()
                            && store.finishExecution(existing.get().id(), "failed", error, now)) {
                        counts.failed++;
                        out.add(outcome(event.eventKey(), existing.get().id(), event.workflow(), event.version(), "failed",
                                error, now, existing.get().publishedAt()));
                    }
                }
            } else {
                TaskEnvelope task = Json.read(record.value(), TaskEnvelope.class);
                String error = "node '" + task.node() + "': " + reason + " (record kept in " + Topics.DLQ + ")";
                finish(task, "failed", error, out, counts);
            }
            store.flushQueued();
        } catch (IOException | SQLException | RuntimeException e) {
            LOG.warn("Could not record the failed execution of dead-lettered {}-{}@{} ({}); the record is in {}",
                    record.topic(), record.partition(), record.offset(), e.toString(), Topics.DLQ);
            store.discardQueued();
            store.rollbackTo(sp);
            out.subList(produced, out.size()).clear();
        }
    }

    /** A node to run in a wave, with the task record it came from (null when it was reached inline). */
    private record Pending(TaskEnvelope task, ConsumerRecord<byte[], byte[]> record) {
    }

    /**
     * The fast path: the batch's records advance together, one node depth (a "wave") at a time,
     * so the bookkeeping costs one round trip per wave instead of one per node: the batch's new
     * executions are inserted by one multi-row statement, each wave's processed keys are claimed
     * by one multi-row {@code INSERT … ON CONFLICT DO NOTHING}, and outcomes and execution
     * finishes are sent as JDBC batches. Each node still runs only if its own processed key was
     * inserted by this transaction, and its statement runs in the same transaction, so the
     * guarantee is the one of the record-by-record path (used when {@code careful}).
     */
    private List<ProducerRecord<byte[], byte[]>> applyInWaves(List<ConsumerRecord<byte[], byte[]>> records, Counts counts)
            throws SQLException, ReplayCarefully {
        List<ProducerRecord<byte[], byte[]>> out = new ArrayList<>();
        List<Pending> wave = new ArrayList<>();
        List<EventEnvelope> fresh = new ArrayList<>();
        Map<String, Node> startNodes = new HashMap<>();
        java.util.Set<String> eventKeys = new java.util.HashSet<>();
        for (ConsumerRecord<byte[], byte[]> record : records) {
            if (record.topic().equals(Topics.EVENTS)) {
                EventEnvelope event;
                try {
                    event = Json.read(record.value(), EventEnvelope.class);
                } catch (IOException | RuntimeException e) {
                    deadLetter(record, Reason.MALFORMED_JSON, "undecodable event envelope: " + e.getMessage(), out, counts);
                    continue;
                }
                Optional<Workflow> wf = workflows.get(event.workflow(), event.version());
                if (wf.isEmpty()) {
                    chain.clear();
                    onEvent(record, out, counts); // records the failed execution, row by row (rare)
                } else if (!eventKeys.add(event.eventKey())) {
                    counts.duplicateEvents++; // a copy earlier in this batch runs it
                } else {
                    fresh.add(event);
                }
            } else {
                try {
                    wave.add(new Pending(Json.read(record.value(), TaskEnvelope.class), record));
                } catch (IOException | RuntimeException e) {
                    deadLetter(record, Reason.MALFORMED_JSON, "undecodable task envelope: " + e.getMessage(), out, counts);
                }
            }
        }
        Map<String, Long> created = store.createExecutions(fresh);
        for (EventEnvelope event : fresh) {
            Workflow wf = workflows.get(event.workflow(), event.version()).orElseThrow();
            Long id = created.get(event.eventKey());
            long published = event.publishedAt();
            if (id != null) {
                counts.events++;
            } else {
                counts.duplicateEvents++;
                // As in onEvent: walk a still running execution again from its start node; a
                // finished one has its outcome produced again.
                Optional<ExecutionStore.Execution> existing = store.execution(event.eventKey());
                if (existing.isEmpty()) {
                    continue;
                }
                if (!existing.get().running()) {
                    out.add(outcome(event.eventKey(), existing.get()));
                    continue;
                }
                id = existing.get().id();
                published = existing.get().publishedAt();
            }
            wave.add(new Pending(new TaskEnvelope(event.eventKey(), id, event.workflow(), event.version(), wf.start(), "",
                    event.time(), event.data(), Map.of(), published, event.depth()), null));
        }
        for (int depth = 0; !wave.isEmpty(); depth++) {
            if (depth > INLINE_LIMIT) {
                for (Pending p : wave) {
                    out.add(task(p.task()));
                }
                break;
            }
            wave = runWave(wave, out, counts);
        }
        store.flushFinishes();
        return out;
    }

    /** Claims the wave's processed keys in one statement, runs the claimed nodes, returns the next wave. */
    private List<Pending> runWave(List<Pending> wave, List<ProducerRecord<byte[], byte[]>> out, Counts counts)
            throws SQLException, ReplayCarefully {
        List<Pending> next = new ArrayList<>();
        List<Pending> runnable = new ArrayList<>();
        List<Node> nodes = new ArrayList<>();
        java.util.Set<String> keys = new java.util.HashSet<>();
        List<String> claimKeys = new ArrayList<>();
        List<Long> claimExecutions = new ArrayList<>();
        List<String> claimNodes = new ArrayList<>();
        List<String> claimPaths = new ArrayList<>();
        for (Pending p : wave) {
            TaskEnvelope task = p.task();
            Optional<Node> node = workflows.get(task.workflow(), task.version()).flatMap(w -> w.node(task.node()));
            if (node.isEmpty()) {
                String error = "workflow '" + task.workflow() + "' version " + task.version() + " has no node '" + task.node() + "'";
                if (p.record() != null) {
                    deadLetter(p.record(), Reason.UNKNOWN_NODE, error, out, counts);
                }
                finishLater(task, "failed", error, out, counts);
                continue;
            }
            if (!keys.add(task.processedKey())) {
                next.add(p); // the same key twice in one wave: the later copy finds it processed in the next wave
                continue;
            }
            runnable.add(p);
            nodes.add(node.get());
            claimKeys.add(task.processedKey());
            claimExecutions.add(task.executionId());
            claimNodes.add(task.node());
            claimPaths.add(task.path());
        }
        java.util.Set<String> claimed = unsafe ? keys : store.claimAll(claimKeys, claimExecutions, claimNodes, claimPaths);
        // The claimed nodes' plain INSERT/UPDATE/DELETE statements go as JDBC batches (one round
        // trip per statement text), in this transaction, after their claims; the rest run one by one.
        List<Node> toRun = new ArrayList<>();
        List<Map<String, Object>> toRunVars = new ArrayList<>();
        List<Integer> toRunIndex = new ArrayList<>();
        for (int i = 0; i < runnable.size(); i++) {
            if (claimed.contains(runnable.get(i).task().processedKey())) {
                toRun.add(nodes.get(i));
                toRunVars.add(NodeContext.variables(runnable.get(i).task()));
                toRunIndex.add(i);
            }
        }
        NodeResult[] batched = new NodeResult[runnable.size()];
        Map<String, Object>[] variables = newVariables(runnable.size());
        if (!toRun.isEmpty()) {
            // Changes made by this wave's nodes start executions one deeper (ADR 0011).
            int deepest = 0;
            for (int i : toRunIndex) {
                deepest = Math.max(deepest, runnable.get(i).task().depth());
            }
            store.markDepth(deepest + 1);
        }
        NodeResult[] ran = runner.runBatched(toRun, toRunVars, store.connection());
        for (int k = 0; k < toRunIndex.size(); k++) {
            batched[toRunIndex.get(k)] = ran[k];
            variables[toRunIndex.get(k)] = toRunVars.get(k);
        }
        for (int i = 0; i < runnable.size(); i++) {
            TaskEnvelope task = runnable.get(i).task();
            String key = task.processedKey();
            chain.clear();
            if (!claimed.contains(key)) {
                counts.duplicateNodeRuns++;
                replay(task, key, out);
            } else {
                NodeResult result = batched[i] != null ? batched[i] : runner.run(nodes.get(i), variables[i], store.connection());
                if (result instanceof NodeResult.Failed f && f.transactionAborted()) {
                    throw new ReplayCarefully(f.error());
                }
                counts.nodeRuns++;
                if (result instanceof NodeResult.Succeeded s) {
                    if (!unsafe) {
                        store.complete(key, "succeeded", s.output(), s.next(), null);
                    }
                    followUps(task, s.output(), s.next());
                    if (s.next().isEmpty()) {
                        String status = s.endStatus() == null ? "succeeded" : s.endStatus();
                        String error = "failed".equals(status)
                                ? (s.message() == null ? "ended by node '" + task.node() + "'" : s.message()) : null;
                        finishLater(task, status, error, out, counts);
                    }
                } else {
                    NodeResult.Failed f = (NodeResult.Failed) result;
                    if (!unsafe) {
                        store.complete(key, "failed", null, List.of(), f.error());
                    }
                    finishLater(task, "failed", "node '" + task.node() + "' failed: " + f.error(), out, counts);
                }
            }
            for (TaskEnvelope t : chain) {
                next.add(new Pending(t, null));
            }
        }
        chain.clear();
        return next;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object>[] newVariables(int n) {
        return (Map<String, Object>[]) new Map[n];
    }

    private void finishLater(TaskEnvelope task, String status, String error, List<ProducerRecord<byte[], byte[]>> out,
                             Counts counts) throws SQLException {
        long finishedAt = clock.millis();
        store.finishLater(task.executionId(), status, error, finishedAt, () -> {
            if ("succeeded".equals(status)) {
                counts.succeeded++;
            } else {
                counts.failed++;
            }
            out.add(outcome(task, status, error, finishedAt));
        });
    }

    /**
     * Runs the follow-up nodes of the record just handled in this same batch, instead of a round
     * trip through {@value Topics#TASKS} per node: each still claims its own processed key in this
     * PostgreSQL transaction, so the guarantee is unchanged, and an execution of sequential nodes
     * costs one Kafka record instead of one per node. Beyond {@link #INLINE_LIMIT} nodes, the
     * rest are produced as task records, so one long graph cannot hold a batch forever.
     */
    private void runChain(List<ProducerRecord<byte[], byte[]>> out, Counts counts, boolean careful)
            throws SQLException, ReplayCarefully {
        int steps = 0;
        while (!chain.isEmpty()) {
            TaskEnvelope next = chain.pollFirst();
            if (steps++ >= INLINE_LIMIT) {
                out.add(task(next));
                continue;
            }
            Savepoint sp = careful ? store.savepoint() : null;
            runTask(next, null, out, counts, sp);
        }
    }

    /** Creates the event's execution already failed, with its outcome; false when the key had an execution. */
    private boolean createFailed(EventEnvelope event, String error, List<ProducerRecord<byte[], byte[]>> out, Counts counts)
            throws SQLException {
        long now = clock.millis();
        Optional<Long> id = store.createExecution(event, "failed", error, now);
        if (id.isEmpty()) {
            return false;
        }
        counts.events++;
        counts.failed++;
        out.add(outcome(event.eventKey(), id.get(), event.workflow(), event.version(), "failed", error, now, event.publishedAt()));
        return true;
    }

    private void onEvent(ConsumerRecord<byte[], byte[]> record, List<ProducerRecord<byte[], byte[]>> out, Counts counts)
            throws SQLException {
        EventEnvelope event;
        try {
            event = Json.read(record.value(), EventEnvelope.class);
        } catch (IOException | RuntimeException e) {
            deadLetter(record, Reason.MALFORMED_JSON, "undecodable event envelope: " + e.getMessage(), out, counts);
            return;
        }
        Optional<Workflow> wf = workflows.get(event.workflow(), event.version());
        if (wf.isEmpty()) {
            String error = "workflow '" + event.workflow() + "' version " + event.version() + " is not deployed";
            if (!createFailed(event, error, out, counts)) {
                counts.duplicateEvents++;
                store.execution(event.eventKey()).filter(e -> !e.running())
                        .ifPresent(e -> out.add(outcome(event.eventKey(), e)));
            }
            return;
        }
        Optional<Long> created = store.createExecution(event, "running", null, 0);
        if (created.isPresent()) {
            counts.events++;
            chain.add(new TaskEnvelope(event.eventKey(), created.get(), event.workflow(), event.version(),
                    wf.get().start(), "", event.time(), event.data(), Map.of(), event.publishedAt(), event.depth()));
            return;
        }
        counts.duplicateEvents++;
        // The execution exists and still runs: tasks produced after our PostgreSQL commit may have
        // been lost with an aborted Kafka transaction (a crash between the commits). Walk the graph
        // again inline from the start: processed nodes are absorbed and their stored follow-ups
        // replayed, down to the first node that never ran, which runs now. No Kafka round trips.
        Optional<ExecutionStore.Execution> existing = store.execution(event.eventKey());
        // Unsafe (the negative control only): a naive at-least-once worker runs a delivered event
        // again, whatever its state; with no processed-key check every node's effect repeats.
        if (existing.isPresent() && (existing.get().running() || unsafe)) {
            chain.add(new TaskEnvelope(event.eventKey(), existing.get().id(), event.workflow(), event.version(),
                    wf.get().start(), "", event.time(), event.data(), Map.of(), existing.get().publishedAt(),
                    event.depth()));
        } else if (existing.isPresent()) {
            // Finished: the outcome produced with the finish may have been in an aborted Kafka
            // transaction (a crash between the commits). Produce it again, same key, same content.
            out.add(outcome(event.eventKey(), existing.get()));
        }
    }

    private void onTask(ConsumerRecord<byte[], byte[]> record, List<ProducerRecord<byte[], byte[]>> out, Counts counts,
                        Savepoint savepoint) throws SQLException, ReplayCarefully {
        TaskEnvelope task;
        try {
            task = Json.read(record.value(), TaskEnvelope.class);
        } catch (IOException | RuntimeException e) {
            deadLetter(record, Reason.MALFORMED_JSON, "undecodable task envelope: " + e.getMessage(), out, counts);
            return;
        }
        runTask(task, record, out, counts, savepoint);
    }

    /** Runs one node under its processed key; {@code record} is null for a node run inline from the chain. */
    private void runTask(TaskEnvelope task, ConsumerRecord<byte[], byte[]> record, List<ProducerRecord<byte[], byte[]>> out,
                         Counts counts, Savepoint savepoint) throws SQLException, ReplayCarefully {
        Optional<Node> node = workflows.get(task.workflow(), task.version()).flatMap(w -> w.node(task.node()));
        if (node.isEmpty()) {
            String error = "workflow '" + task.workflow() + "' version " + task.version() + " has no node '" + task.node() + "'";
            if (record != null) {
                deadLetter(record, Reason.UNKNOWN_NODE, error, out, counts);
            }
            finish(task, "failed", error, out, counts);
            return;
        }
        String key = task.processedKey();
        boolean claimed = unsafe || store.claim(key, task.executionId(), task.node(), task.path());
        if (!claimed) {
            counts.duplicateNodeRuns++;
            replay(task, key, out);
            return;
        }
        store.markDepth(task.depth() + 1);
        NodeResult result = runner.run(node.get(), NodeContext.variables(task), store.connection());
        if (result instanceof NodeResult.Failed f && f.transactionAborted()) {
            if (savepoint == null) {
                throw new ReplayCarefully(f.error());
            }
            // Undo the failed statement, then record the failure under a fresh claim.
            store.rollbackTo(savepoint);
            if (!unsafe) {
                store.claim(key, task.executionId(), task.node(), task.path());
            }
        }
        counts.nodeRuns++;
        if (LOG.isDebugEnabled()) {
            LOG.debug("Ran node {} of {} (execution {}): {}", task.node(), task.eventKey(), task.executionId(), result);
        }
        if (result instanceof NodeResult.Succeeded s) {
            if (!unsafe) {
                store.complete(key, "succeeded", s.output(), s.next(), null);
            }
            followUps(task, s.output(), s.next());
            if (s.next().isEmpty()) {
                String status = s.endStatus() == null ? "succeeded" : s.endStatus();
                String error = "failed".equals(status) ? (s.message() == null ? "ended by node '" + task.node() + "'" : s.message()) : null;
                finish(task, status, error, out, counts);
            }
        } else {
            NodeResult.Failed f = (NodeResult.Failed) result;
            String error = "node '" + task.node() + "' failed: " + f.error();
            if (!unsafe) {
                store.complete(key, "failed", null, List.of(), f.error());
            }
            finish(task, "failed", error, out, counts);
        }
    }

    /** The node ran before: produce its follow-ups (and its execution's outcome) again from the stored outcome. */
    private void replay(TaskEnvelope task, String key, List<ProducerRecord<byte[], byte[]>> out) throws SQLException {
        Optional<ExecutionStore.StoredRun> stored = store.storedRun(key);
        if (stored.isEmpty() || "started".equals(stored.get().status())) {
            LOG.warn("Processed key {} has no finished outcome (status {}); not producing follow-ups", key,
                    stored.map(ExecutionStore.StoredRun::status).orElse("missing"));
            return;
        }
        ExecutionStore.StoredRun run = stored.get();
        followUps(task, run.output(), run.next());
        if (run.next().isEmpty()) {
            store.execution(task.eventKey()).filter(e -> !e.running()).ifPresent(e -> out.add(outcome(task.eventKey(), e)));
        }
    }

    private void followUps(TaskEnvelope task, JsonNode output, List<String> next) {
        if (next.isEmpty()) {
            return;
        }
        Map<String, JsonNode> outputs = new HashMap<>(task.outputs());
        if (output != null) {
            outputs.put(task.node(), output);
        }
        for (String n : next) {
            chain.add(new TaskEnvelope(task.eventKey(), task.executionId(), task.workflow(), task.version(), n,
                    task.path(), task.eventTime(), task.trigger(), outputs, task.publishedAt(), task.depth()));
        }
    }

    private void finish(TaskEnvelope task, String status, String error, List<ProducerRecord<byte[], byte[]>> out, Counts counts)
            throws SQLException {
        // With only sequential nodes, a branch that ends ends the execution. (Parallel branches will need a join count.)
        long finishedAt = clock.millis();
        if (store.finishExecution(task.executionId(), status, error, finishedAt)) {
            if ("succeeded".equals(status)) {
                counts.succeeded++;
            } else {
                counts.failed++;
            }
            out.add(outcome(task, status, error, finishedAt));
        }
    }

    private ProducerRecord<byte[], byte[]> task(TaskEnvelope t) {
        return new ProducerRecord<>(Topics.TASKS, key(t.eventKey()), Json.bytes(t));
    }

    private ProducerRecord<byte[], byte[]> outcome(TaskEnvelope t, String status, String error, long finishedAt) {
        return outcome(t.eventKey(), t.executionId(), t.workflow(), t.version(), status, error, finishedAt, t.publishedAt());
    }

    /** The outcome of a finished execution, produced again from its row: the same content as the first time. */
    private static ProducerRecord<byte[], byte[]> outcome(String eventKey, ExecutionStore.Execution e) {
        return outcome(eventKey, e.id(), e.workflow(), e.version(), e.status(), e.error(), e.finishedAt(), e.publishedAt());
    }

    private static ProducerRecord<byte[], byte[]> outcome(String eventKey, long executionId, String workflow, int version,
                                                          String status, String error, long finishedAt, long publishedAt) {
        Outcome o = new Outcome(eventKey, executionId, workflow, version, status, error, finishedAt, publishedAt);
        return new ProducerRecord<>(Topics.OUTCOMES, key(eventKey), Json.bytes(o));
    }

    private static void deadLetter(ConsumerRecord<byte[], byte[]> record, Reason reason, String message,
                                   List<ProducerRecord<byte[], byte[]>> out, Counts counts) {
        LOG.warn("Dead-lettering {}-{}@{}: {}", record.topic(), record.partition(), record.offset(), message);
        out.add(new DeadLetter(reason.name(), message, record.topic(), record.partition(), record.offset())
                .record(record.key(), record.value(), null));
        counts.deadLettered++;
    }

    private static byte[] key(String eventKey) {
        return eventKey.getBytes(StandardCharsets.UTF_8);
    }
}
