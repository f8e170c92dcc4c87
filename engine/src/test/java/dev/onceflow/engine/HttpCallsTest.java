package dev.onceflow.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.sun.net.httpserver.HttpServer;
import dev.onceflow.common.TaskEnvelope;
import dev.onceflow.common.workflow.Node;
import dev.onceflow.common.workflow.Workflows;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The http step on its own: the in-flight bound, answers handed to the worker, calls left to their lease. */
@Timeout(30)
class HttpCallsTest {

    /** A clock the test moves by hand. */
    static final class SettableClock extends Clock {
        volatile Instant now = Instant.parse("2026-12-06T00:00:00Z");

        @Override
        public java.time.ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(java.time.ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return now;
        }
    }

    private final CountDownLatch release = new CountDownLatch(1);
    private final AtomicInteger received = new AtomicInteger();
    private HttpServer server;

    @BeforeEach
    void start() throws Exception {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
        server.createContext("/", exchange -> {
            received.incrementAndGet();
            try {
                release.await(20, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            byte[] out = "{\"ok\": true}".getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(200, out.length);
            exchange.getResponseBody().write(out);
            exchange.close();
        });
        server.setExecutor(Executors.newCachedThreadPool());
        server.start();
    }

    @AfterEach
    void stop() {
        release.countDown();
        server.stop(0);
    }

    private List<Batch.PendingCall> calls(int n) throws Exception {
        Node.Http node = (Node.Http) Workflows.parse("w.json", ("{\"id\":\"w\",\"trigger\":{\"type\":\"kafka\"},\"nodes\":["
                + "{\"type\":\"http\",\"id\":\"n\",\"method\":\"POST\",\"url\":\"http://127.0.0.1/\",\"timeoutMs\":10000}]}")
                .getBytes(StandardCharsets.UTF_8)).node("n").orElseThrow();
        URI url = URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/");
        List<Batch.PendingCall> calls = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            TaskEnvelope task = new TaskEnvelope("w@1#" + i, i, "w", 1, "n", "", 1, null, null, 0);
            calls.add(new Batch.PendingCall(new Step(task, null, 0), node,
                    new HttpCall.Request("POST", url, Map.of(), null, 10_000, 1_000_000)));
        }
        return calls;
    }

    @Test
    void atMostTheBoundIsInFlightAndTheRestAreMadeAsAnswersComeBack() throws Exception {
        EngineMetrics metrics = new EngineMetrics();
        HttpCalls http = new HttpCalls(2, new SettableClock(), metrics, ExecutionTraces.OFF);
        http.queue(calls(5));
        await().atMost(Duration.ofSeconds(10)).until(() -> received.get() == 2);
        assertThat(http.inFlight()).isEqualTo(2);
        assertThat(http.answered()).isEmpty();
        assertThat(http.idle()).isFalse();

        release.countDown();
        List<BatchPipeline.CallResult> answers = new ArrayList<>();
        await().atMost(Duration.ofSeconds(10)).until(() -> {
            answers.addAll(http.answered()); // the worker's turn: takes answers, makes waiting calls
            return answers.size() == 5;
        });
        assertThat(answers).allMatch(r -> r.result() instanceof NodeResult.Succeeded);
        assertThat(answers.stream().map(r -> r.call().step().task().eventKey()).distinct()).hasSize(5);
        assertThat(received.get()).as("each call made once").isEqualTo(5);
        assertThat(http.idle()).isTrue();
        http.close();
    }

    @Test
    void aCallThatWaitedPastHalfItsLeaseGraceIsLeftToItsLeaseTimer() throws Exception {
        SettableClock clock = new SettableClock();
        HttpCalls http = new HttpCalls(1, clock, new EngineMetrics(), ExecutionTraces.OFF);
        http.queue(calls(2));
        await().atMost(Duration.ofSeconds(10)).until(() -> received.get() == 1);

        clock.now = clock.now.plusMillis(HttpCalls.MAX_WAIT_MS + 1);
        release.countDown();
        List<BatchPipeline.CallResult> answers = new ArrayList<>();
        await().atMost(Duration.ofSeconds(10)).until(() -> {
            answers.addAll(http.answered());
            return http.idle();
        });
        assertThat(answers).hasSize(1);
        assertThat(received.get()).as("the call that waited too long was not made").isEqualTo(1);
        http.close();
    }

    @Test
    void aCallWaitingForASlotPastTheBacklogLimitAsksForBackPressureUntilItIsMade() throws Exception {
        SettableClock clock = new SettableClock();
        HttpCalls http = new HttpCalls(1, clock, new EngineMetrics(), ExecutionTraces.OFF);
        http.queue(calls(2));
        await().atMost(Duration.ofSeconds(10)).until(() -> received.get() == 1);
        assertThat(http.backlogged()).as("one call waits, but not for long").isFalse();

        clock.now = clock.now.plusMillis(HttpCalls.MAX_WAIT_MS / 3);
        assertThat(http.backlogged()).isTrue();
        release.countDown();
        await().atMost(Duration.ofSeconds(10)).until(() -> {
            http.answered(); // the first answer frees the slot: the waiting call is made
            return received.get() == 2;
        });
        assertThat(http.backlogged()).as("nothing waits any more").isFalse();
        http.close();
    }

    @Test
    void answersAfterCloseAreDropped() throws Exception {
        HttpCalls http = new HttpCalls(4, new SettableClock(), new EngineMetrics(), ExecutionTraces.OFF);
        http.queue(calls(2));
        await().atMost(Duration.ofSeconds(10)).until(() -> received.get() == 2);
        http.close();
        release.countDown();
        await().atMost(Duration.ofSeconds(10)).until(() -> http.inFlight() == 0);
        assertThat(http.answered()).isEmpty();
    }
}
