package dev.onceflow.engine;

import dev.onceflow.common.TaskEnvelope;
import dev.onceflow.common.executions.ExecutionStatus;
import dev.onceflow.common.executions.NodeStatus;
import dev.onceflow.common.tracing.DeterministicIds;
import dev.onceflow.common.tracing.Traceparent;
import dev.onceflow.common.tracing.Tracing;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.common.AttributesBuilder;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanBuilder;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.TraceFlags;
import io.opentelemetry.api.trace.TraceState;
import io.opentelemetry.context.Context;
import java.time.Clock;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The engine's spans (ADR 0019): one per node run and one per execution, emitted only once the
 * PostgreSQL transaction that recorded what they describe committed ({@link #committed}), so a
 * rolled-back batch leaves no span, and a redelivered batch, whose nodes are found processed and
 * replayed, emits none (a replay records nothing, so it has nothing to trace). The ids are derived
 * from Onceflow's keys ({@link Traceparent#executionSpanId}, {@link Traceparent#nodeSpanId}): a
 * node span emitted in one batch names as parent the execution span emitted when the execution
 * finishes, perhaps in another batch or process, and an {@code http} request names its node span
 * before it is emitted. Tracing never fails a batch: an error here is logged and dropped.
 * Thread-safe (stateless but for the tracer).
 */
final class ExecutionTraces {

    private static final Logger LOG = LoggerFactory.getLogger(ExecutionTraces.class);

    static final AttributeKey<String> WORKFLOW = AttributeKey.stringKey("onceflow.workflow.id");
    static final AttributeKey<Long> VERSION = AttributeKey.longKey("onceflow.workflow.version");
    static final AttributeKey<String> EVENT_KEY = AttributeKey.stringKey("onceflow.event.key");
    static final AttributeKey<Long> EXECUTION = AttributeKey.longKey("onceflow.execution.id");
    static final AttributeKey<String> NODE = AttributeKey.stringKey("onceflow.node.id");
    static final AttributeKey<String> NODE_TYPE = AttributeKey.stringKey("onceflow.node.type");
    static final AttributeKey<String> PATH = AttributeKey.stringKey("onceflow.node.path");
    static final AttributeKey<Long> ATTEMPT = AttributeKey.longKey("onceflow.node.attempt");
    static final AttributeKey<String> PROCESSED_KEY = AttributeKey.stringKey("onceflow.processed.key");
    static final AttributeKey<String> OUTCOME = AttributeKey.stringKey("onceflow.outcome");

    /** What a batch recorded that a span describes; collected in {@link Batch.Counts}, undone with its record. */
    sealed interface Fact permits NodeRecorded, ExecutionFinished {
    }

    /** A node's outcome was recorded under its processed key; it started running at {@code startEpochNanos}. */
    record NodeRecorded(TaskEnvelope task, String nodeType, NodeStatus status, String error, long startEpochNanos)
            implements Fact {
    }

    /** The execution was finished (succeeded, failed) at {@code finishedAtMs}. */
    record ExecutionFinished(TaskEnvelope task, ExecutionStatus status, String error, long finishedAtMs) implements Fact {
    }

    static final ExecutionTraces OFF = new ExecutionTraces(Tracing.OFF, Clock.systemUTC());

    private final Tracing tracing;
    private final Clock clock;

    ExecutionTraces(Tracing tracing, Clock clock) {
        this.tracing = tracing;
        this.clock = clock;
    }

    boolean on() {
        return tracing.on();
    }

    /**
     * The context a record or request made for {@code task} carries: the execution span (with
     * {@code span} null) or the node span {@code span} as parent, in the trigger's trace. Off:
     * the trigger's own context passed on unchanged (null when none came).
     */
    static String header(TaskEnvelope task, boolean on, String span) {
        if (!on) {
            return task.traceparent();
        }
        Traceparent execution = execution(task);
        return (span == null ? execution : execution.child(span)).header();
    }

    /** The {@code traceparent} of the {@code http} call of {@code task}: its node span as parent. */
    String callHeader(TaskEnvelope task) {
        return header(task, on(), Traceparent.nodeSpanId(task.processedKey()));
    }

    /** The execution span's context: the trigger's trace (or one derived from the event key) and the derived span id. */
    static Traceparent execution(TaskEnvelope task) {
        Optional<Traceparent> incoming = Traceparent.parse(task.traceparent());
        String span = Traceparent.executionSpanId(task.eventKey());
        return incoming.map(t -> t.child(span)).orElseGet(() -> Traceparent.ofEvent(task.eventKey()));
    }

    /** Emits the spans of what a committed PostgreSQL transaction recorded. Never throws. */
    void committed(Batch.Counts counts) {
        List<Fact> facts = counts.traced();
        if (facts.isEmpty()) {
            return;
        }
        long now = TimeUnit.MILLISECONDS.toNanos(clock.millis());
        for (Fact fact : facts) {
            try {
                if (fact instanceof NodeRecorded n) {
                    node(n, now);
                } else if (fact instanceof ExecutionFinished e) {
                    execution(e, now);
                }
            } catch (RuntimeException | LinkageError e) {
                LOG.warn("Could not emit a span ({}); the batch is not affected", e.toString());
            }
        }
    }

    private void node(NodeRecorded n, long now) {
        TaskEnvelope t = n.task();
        Traceparent execution = execution(t);
        SpanContext parent = SpanContext.create(execution.traceId(), execution.spanId(),
                TraceFlags.fromByte((byte) execution.flags()), TraceState.getDefault());
        AttributesBuilder a = common(t)
                .put(NODE, t.node())
                .put(NODE_TYPE, n.nodeType())
                .put(ATTEMPT, (long) t.attempt())
                .put(PROCESSED_KEY, t.processedKey())
                .put(OUTCOME, n.status().db());
        if (!t.path().isEmpty()) {
            a.put(PATH, t.path());
        }
        SpanBuilder b = tracing.tracer().spanBuilder("node " + t.node())
                .setParent(Context.root().with(Span.wrap(parent)))
                .setSpanKind("http".equals(n.nodeType()) ? SpanKind.CLIENT : SpanKind.INTERNAL)
                .setStartTimestamp(Math.min(n.startEpochNanos(), now), TimeUnit.NANOSECONDS)
                .setAllAttributes(a.build());
        end(DeterministicIds.starting(execution.traceId(), Traceparent.nodeSpanId(t.processedKey()), b::startSpan),
                n.status() == NodeStatus.FAILED, n.error(), now);
    }

    private void execution(ExecutionFinished e, long now) {
        TaskEnvelope t = e.task();
        Traceparent self = execution(t);
        Optional<Traceparent> incoming = Traceparent.parse(t.traceparent())
                .filter(p -> !p.spanId().equals(self.spanId())); // the dispatcher's own, made for an event without one: a root
        SpanBuilder b = tracing.tracer().spanBuilder("execution " + t.workflow())
                .setSpanKind(SpanKind.CONSUMER)
                .setAllAttributes(common(t).put(OUTCOME, e.status().db()).build());
        // Spans the whole execution, across batches and processes: from its trigger's publication.
        long start = TimeUnit.MILLISECONDS.toNanos(t.publishedAt() > 0 ? t.publishedAt() : e.finishedAtMs());
        b.setStartTimestamp(Math.min(start, now), TimeUnit.NANOSECONDS);
        if (incoming.isPresent()) {
            Traceparent p = incoming.get();
            b.setParent(Context.root().with(Span.wrap(SpanContext.createFromRemoteParent(p.traceId(), p.spanId(),
                    TraceFlags.fromByte((byte) p.flags()), TraceState.getDefault()))));
        } else {
            b.setNoParent();
        }
        end(DeterministicIds.starting(self.traceId(), self.spanId(), b::startSpan), e.status() == ExecutionStatus.FAILED,
                e.error(), now);
    }

    private static AttributesBuilder common(TaskEnvelope t) {
        return Attributes.builder()
                .put(WORKFLOW, t.workflow())
                .put(VERSION, (long) t.version())
                .put(EVENT_KEY, t.eventKey())
                .put(EXECUTION, t.executionId());
    }

    private static void end(Span span, boolean failed, String error, long now) {
        if (failed) {
            span.setStatus(StatusCode.ERROR, error == null ? "" : error);
        }
        span.end(now, TimeUnit.NANOSECONDS);
    }
}
