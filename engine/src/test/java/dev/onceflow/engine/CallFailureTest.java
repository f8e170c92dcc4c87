package dev.onceflow.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.onceflow.common.local.LocalReceiver;
import java.io.IOException;
import java.io.InputStream;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** An http node's failed call names what happened in the node author's words, over real sockets; the error class is unchanged. */
@Timeout(60)
class CallFailureTest {

    private static final HttpClient CLIENT = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private static final CountDownLatch RELEASE = new CountDownLatch(1);

    @AfterAll
    static void release() {
        RELEASE.countDown();
    }

    private static NodeResult.Failed call(String url, long timeoutMs) {
        HttpCall.Request request = new HttpCall.Request("GET", URI.create(url), Map.of(), null, timeoutMs, 1024);
        NodeResult result = HttpCall.send(CLIENT, request, "w@1#call", "call").join();
        assertThat(result).isInstanceOf(NodeResult.Failed.class);
        NodeResult.Failed failed = (NodeResult.Failed) result;
        assertThat(failed.error()).as("no Java in the message").doesNotContain("java.").doesNotContain("Exception")
                .doesNotContain("javax.");
        return failed;
    }

    private static int closedPort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    @Test
    void aClosedPortIsAConnectionRefusedToHostAndPort() throws Exception {
        int port = closedPort();
        NodeResult.Failed failed = call("http://127.0.0.1:" + port + "/orders", 5_000);
        assertThat(failed.error()).isEqualTo("GET http://127.0.0.1:" + port + "/orders: connection refused to 127.0.0.1:" + port);
        assertThat(failed.errorClass()).isEqualTo("connection");
        assertThat(HttpCall.outcomeUnknown(failed.errorClass())).isTrue();
    }

    @Test
    void anUnknownHostCannotBeResolved() {
        NodeResult.Failed failed = call("http://no-such-host.invalid/x", 5_000);
        assertThat(failed.error()).endsWith(": cannot resolve host no-such-host.invalid");
        assertThat(failed.errorClass()).isEqualTo("connection");
    }

    @Test
    void aReceiverThatDoesNotAnswerIsNoResponseWithinTheTimeout() throws Exception {
        try (LocalReceiver slow = LocalReceiver.start((key, calls, path, body) -> {
            try {
                RELEASE.await(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return new LocalReceiver.Answer(200, "{}");
        })) {
            URI url = URI.create(slow.url());
            NodeResult.Failed failed = call(slow.url() + "/slow", 300);
            assertThat(failed.error()).endsWith(": no response from 127.0.0.1:" + url.getPort() + " within 300 ms");
            assertThat(failed.errorClass()).isEqualTo("timeout");
            RELEASE.countDown();
        }
    }

    @Test
    void httpsToAPlainHttpServerIsATlsFailure() throws Exception {
        try (ServerSocket plain = serve("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")) {
            NodeResult.Failed failed = call("https://127.0.0.1:" + plain.getLocalPort() + "/x", 5_000);
            assertThat(failed.error()).contains(": TLS handshake with 127.0.0.1:" + plain.getLocalPort() + " failed: ");
            assertThat(failed.errorClass()).isEqualTo("connection");
        }
    }

    /**
     * A server that reads what comes, answers {@code reply} (nothing: closes at once) on every
     * connection; every one, because the JDK's client sends a GET again once when the connection
     * closes without an answer.
     */
    private static ServerSocket serve(String reply) throws IOException {
        ServerSocket server = new ServerSocket(0);
        Thread t = new Thread(() -> {
            while (!server.isClosed()) {
                try (Socket s = server.accept(); InputStream in = s.getInputStream()) {
                    in.read(new byte[4096]);
                    s.getOutputStream().write(reply.getBytes(java.nio.charset.StandardCharsets.US_ASCII));
                    s.getOutputStream().flush();
                } catch (IOException ignored) {
                    // closed by the test, or the client went away
                }
            }
        });
        t.setDaemon(true);
        t.start();
        return server;
    }

    @Test
    void aConnectionClosedWithoutAnAnswerSaysSo() throws Exception {
        try (ServerSocket rude = serve("")) {
            NodeResult.Failed failed = call("http://127.0.0.1:" + rude.getLocalPort() + "/x", 5_000);
            assertThat(failed.error()).endsWith(": 127.0.0.1:" + rude.getLocalPort() + " closed the connection without a complete response");
            assertThat(failed.errorClass()).isEqualTo("connection");
        }
    }

    @Test
    void theSchemesPortIsNamedWhenTheUrlHasNone() {
        assertThat(CallFailure.hostPort(URI.create("https://orders.test/x"))).isEqualTo("orders.test:443");
        assertThat(CallFailure.hostPort(URI.create("http://orders.test/x"))).isEqualTo("orders.test:80");
        assertThat(CallFailure.words(new java.nio.channels.ClosedChannelException())).isEqualTo("closed channel");
        assertThat(CallFailure.words(new IOException("sun.security.validator.ValidatorException: PKIX path building failed")))
                .isEqualTo("PKIX path building failed");
    }
}
