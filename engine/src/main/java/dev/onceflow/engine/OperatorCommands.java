package dev.onceflow.engine;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.onceflow.common.EventKey;
import dev.onceflow.common.InvalidInputException.Reason;
import dev.onceflow.common.Json;
import dev.onceflow.common.OperatorCommand;
import dev.onceflow.common.TaskEnvelope;
import dev.onceflow.common.executions.ExecutionRecords;
import dev.onceflow.common.executions.ExecutionStatus;
import dev.onceflow.common.metrics.MeterNames;
import dev.onceflow.common.workflow.Node;
import dev.onceflow.common.workflow.Workflow;
import java.io.IOException;
import java.sql.SQLException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Applies an operator's command record ({@link OperatorCommand}, ADR 0025) in its place in a batch,
 * in the batch's transaction: a cancel finishes the execution through {@link ApplyOutcome#finish}
 * (the one finish: the outcome record, the engine's clock, the lane's release); a retry sets a
 * failed execution running again and returns its node's step, which the batch runs inline.
 *
 * <p>Once under redelivery: a command comes again only when the Kafka transaction that carried it
 * aborted, so what it produced then was never visible. A cancel whose finishing update matches no
 * row produces the execution's outcome again only if the cancel was its own (its error names the
 * command), else nothing; a retry whose node's processed key exists (its attempt ran) delivers its
 * step again, which replays and never runs; one that finds the execution not failed, or failed
 * since at another node or attempt, does nothing. Not thread-safe:
 * one per worker, inside its {@link BatchPipeline}.
 */
final class OperatorCommands {

    private static final Logger LOG = LoggerFactory.getLogger(OperatorCommands.class);

    private final ExecutionStore store;
    private final WorkflowCache workflows;
    private final ApplyOutcome apply;

    OperatorCommands(ExecutionStore store, WorkflowCache workflows, ApplyOutcome apply) {
        this.store = store;
        this.workflows = workflows;
        this.apply = apply;
    }

    /** Applies the command of {@code record}; returns the steps it asks the batch to run (a retry's). */
    List<Step> apply(ConsumerRecord<byte[], byte[]> record, Batch batch) throws SQLException {
        OperatorCommand command = decode(record, batch);
        if (command == null) {
            return List.of();
        }
        Optional<ExecutionStore.Execution> found = store.execution(command.eventKey());
        if (found.isEmpty()) {
            // Retention removed it since the API validated, or a hand-made record: nothing to act on.
            LOG.warn("Operator command {} ({}) names execution {}, which does not exist (any more); nothing to do",
                    command.id(), command.kind(), command.eventKey());
            batch.counts.command(command.kind(), MeterNames.COMMAND_IGNORED);
            return List.of();
        }
        ExecutionStore.Execution execution = found.get();
        if (!batch.knowsState(execution.id())) {
            batch.states(store.lockStates(Set.of(execution.id())));
        }
        Step step = new Step(task(execution, command.eventKey(), "", Map.of(), null, 1, null), record, record.partition());
        return command.kind().equals(OperatorCommand.CANCEL)
                ? cancel(command, execution, step, batch)
                : retry(command, execution, record, batch);
    }

    private List<Step> cancel(OperatorCommand command, ExecutionStore.Execution execution, Step step, Batch batch)
            throws SQLException {
        ExecutionStatus status = batch.state(execution.id());
        if (!status.finished()) {
            if (status == ExecutionStatus.QUEUED) {
                store.dropStartTimer(execution.id()); // it never starts: nothing is to produce its start task
            }
            LOG.info("Cancelling execution {} ({}) by operator command {}", command.eventKey(), status.db(), command.id());
            apply.finish(step, ExecutionStatus.CANCELLED, command.cancelError(), batch);
            batch.counts.command(command.kind(), MeterNames.COMMAND_APPLIED);
            // Sent now, not with the batch's other finishes: events later in this batch then count
            // its lane freed. Whom the release admits goes out with the batch (BatchPipeline.admitted).
            store.flushFinishes();
        } else if (!batch.finishedHere(execution.id()) && status == ExecutionStatus.CANCELLED
                && command.cancelError().equals(execution.error())) {
            // This command cancelled it and its Kafka transaction aborted: the outcome again, same content.
            batch.outcome(command.eventKey(), execution);
            batch.counts.command(command.kind(), MeterNames.COMMAND_APPLIED); // its first count was aborted with it
        } else {
            LOG.info("Operator command {} (cancel) absorbed: execution {} is already {}", command.id(), command.eventKey(),
                    status.db());
            batch.counts.command(command.kind(), MeterNames.COMMAND_ABSORBED);
        }
        return List.of();
    }

    private List<Step> retry(OperatorCommand command, ExecutionStore.Execution execution, ConsumerRecord<byte[], byte[]> record,
                             Batch batch) throws SQLException {
        ExecutionStatus status = batch.state(execution.id());
        String key = command.eventKey() + "/" + command.node() + "#" + command.attempt();
        Optional<ExecutionRecords.FailedNode> failed = ExecutionRecords.failedNode(store.connection(), execution.id());
        Optional<Workflow> wf = workflows.get(execution.workflow(), execution.version());
        if (wf.isEmpty() || failed.isEmpty()) {
            LOG.warn("Operator command {} (retry) of {} ignored: {}", command.id(), command.eventKey(),
                    wf.isEmpty() ? "version " + execution.version() + " of workflow '" + execution.workflow() + "' is not stored"
                            : "no node of it failed");
            batch.counts.command(command.kind(), MeterNames.COMMAND_IGNORED);
            return List.of();
        }
        TaskEnvelope task = retryTask(execution, command, failed.get(), wf.get());
        if (store.storedRun(key).isPresent()) {
            // Applied before (the retried node ran, whatever it came to), and its Kafka transaction
            // aborted: the step again replays what it produced, an outcome of a new failure included.
            batch.counts.command(command.kind(), MeterNames.COMMAND_APPLIED); // its first count was aborted with it
            return List.of(new Step(task, record, record.partition()));
        }
        if (status == ExecutionStatus.FAILED && !batch.finishedHere(execution.id())) {
            ExecutionRecords.FailedNode f = failed.get();
            if (!f.nodeId().equals(command.node()) || f.attempt() + 1 != command.attempt() || !f.path().isEmpty()) {
                LOG.warn("Operator command {} (retry of node '{}', attempt {}) of {} is stale: it failed since at node '{}' "
                        + "attempt {}; nothing to do", command.id(), command.node(), command.attempt(), command.eventKey(),
                        f.nodeId(), f.attempt());
                batch.counts.command(command.kind(), MeterNames.COMMAND_IGNORED);
                return List.of();
            }
            if (!store.restart(execution.id())) {
                return List.of(); // cannot happen under the share lock read above; nothing to run if it did
            }
            batch.states(Map.of(execution.id(), ExecutionStatus.RUNNING));
            LOG.info("Retrying execution {} from node '{}' (attempt {}) by operator command {}", command.eventKey(),
                    command.node(), command.attempt(), command.id());
            batch.counts.command(command.kind(), MeterNames.COMMAND_APPLIED);
            return List.of(new Step(task, record, record.partition()));
        }
        LOG.info("Operator command {} (retry) absorbed: execution {} is {}", command.id(), command.eventKey(), status.db());
        batch.counts.command(command.kind(), MeterNames.COMMAND_ABSORBED);
        return List.of();
    }

    /**
     * The retried node's task: the outputs of the main path's nodes that succeeded before it, and
     * the variables the {@code calculation} nodes among them set (ADR 0016).
     */
    private TaskEnvelope retryTask(ExecutionStore.Execution execution, OperatorCommand command, ExecutionRecords.FailedNode failed,
                                   Workflow wf) throws SQLException {
        Map<String, JsonNode> outputs = new HashMap<>();
        ObjectNode vars = Json.MAPPER.createObjectNode();
        for (ExecutionRecords.Output o : failed.outputs()) {
            outputs.put(o.nodeId(), o.output());
            if (wf.node(o.nodeId()).orElse(null) instanceof Node.Calculation && o.output().isObject()) {
                vars.setAll((ObjectNode) o.output());
            }
        }
        return task(execution, command.eventKey(), command.node(), outputs, vars, command.attempt(), store.startOf(execution.id()));
    }

    /** A task of the execution at {@code node} (empty: the execution itself, for its finish and outcome). */
    private static TaskEnvelope task(ExecutionStore.Execution e, String eventKey, String node, Map<String, JsonNode> outputs,
                                     ObjectNode vars, int attempt, ExecutionStore.Start start) {
        long eventTime;
        try {
            eventTime = EventKey.parse(eventKey).timestamp();
        } catch (RuntimeException notAKey) {
            eventTime = 0;
        }
        return new TaskEnvelope(eventKey, e.id(), e.workflow(), e.version(), node, "", eventTime,
                start == null ? null : start.trigger(), outputs, e.publishedAt(), start == null ? 0 : start.depth(), vars, attempt)
                .withOrderKey(e.orderingKey()); // its tasks stay on its lane's partition (ADR 0020)
    }

    private static OperatorCommand decode(ConsumerRecord<byte[], byte[]> record, Batch batch) {
        try {
            return Json.read(record.value(), OperatorCommand.class);
        } catch (IOException | RuntimeException e) {
            batch.deadLetter(record, Reason.MALFORMED_JSON, "undecodable operator command: " + e.getMessage());
            return null;
        }
    }
}
