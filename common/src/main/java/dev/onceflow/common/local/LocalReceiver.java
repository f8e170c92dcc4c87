package dev.onceflow.common.local;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A local HTTP receiver for {@code http} nodes in demos, benchmarks, chaos runs and tests: it
 * counts the calls per {@code Idempotency-Key} (and the calls without one, which must never
 * happen) and answers what its {@link Handler} says, JSON {@code {"ok": true}} with 200 by
 * default. Listens on 127.0.0.1 on a free port. Thread-safe.
 */
public final class LocalReceiver implements AutoCloseable {

    /** The answer to one call. */
    public record Answer(int status, String json) {
    }

    /** Decides the answer; {@code calls} is how many times this key has been called, this call included. */
    public interface Handler {
        Answer answer(String key, int calls, String path, byte[] body);
    }

    private static final int BACKLOG = 1024;

    private final HttpServer server;
    private final ExecutorService threads;
    private final Map<String, Integer> callsByKey = new ConcurrentHashMap<>();
    private final AtomicLong withoutKey = new AtomicLong();
    /** The W3C {@code traceparent} of every call that carried one, in arrival order (ADR 0019). */
    private final java.util.Queue<String> traceparents = new java.util.concurrent.ConcurrentLinkedQueue<>();

    private LocalReceiver(Handler handler) throws IOException {
        // A deep accept queue: an engine sends a whole batch's calls at once, and connections refused
        // by a full queue would be calls that fail for the receiver's sake, not the engine's.
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), BACKLOG);
        server.createContext("/", exchange -> {
            String key = exchange.getRequestHeaders().getFirst("Idempotency-Key");
            int calls = 0;
            if (key == null) {
                withoutKey.incrementAndGet();
            } else {
                calls = callsByKey.merge(key, 1, Integer::sum);
            }
            String traceparent = exchange.getRequestHeaders().getFirst("traceparent");
            if (traceparent != null) {
                traceparents.add(traceparent);
            }
            byte[] body = exchange.getRequestBody().readAllBytes();
            Answer a = handler.answer(key, calls, exchange.getRequestURI().getPath(), body);
            byte[] out = a.json().getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().add("Content-Type", "application/json");
            exchange.sendResponseHeaders(a.status(), out.length);
            exchange.getResponseBody().write(out);
            exchange.close();
        });
        threads = Executors.newFixedThreadPool(4, r -> {
            Thread t = new Thread(r, "onceflow-local-receiver");
            t.setDaemon(true);
            return t;
        });
        server.setExecutor(threads);
        server.start();
    }

    /** A receiver answering 200 {@code {"ok": true}} to every call. */
    public static LocalReceiver start() throws IOException {
        return start((key, calls, path, body) -> new Answer(200, "{\"ok\": true}"));
    }

    public static LocalReceiver start(Handler handler) throws IOException {
        return new LocalReceiver(handler);
    }

    /** {@code http://127.0.0.1:<port>} */
    public String url() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    /** Calls per Idempotency-Key so far (a live view). */
    public Map<String, Integer> callsByKey() {
        return callsByKey;
    }

    public long keysCalledMoreThanOnce() {
        return callsByKey.values().stream().filter(n -> n > 1).count();
    }

    /** The {@code traceparent} headers received so far, in arrival order. */
    public java.util.List<String> traceparents() {
        return java.util.List.copyOf(traceparents);
    }

    public long callsWithoutKey() {
        return withoutKey.get();
    }

    @Override
    public void close() {
        server.stop(0);
        threads.shutdownNow();
    }
}
