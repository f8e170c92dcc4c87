package dev.onceflow.engine;

import java.io.EOFException;
import java.net.ConnectException;
import java.net.URI;
import java.net.UnknownHostException;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpTimeoutException;
import java.nio.channels.UnresolvedAddressException;
import java.util.Locale;
import java.util.concurrent.TimeoutException;
import javax.net.ssl.SSLException;

/**
 * An http node's failed call told in the words of the person who wrote the node: {@code connection
 * refused to orders.internal:8080}, {@code cannot resolve host orders.internal}, {@code no response
 * from orders.internal:8080 within 10000 ms}, a TLS failure, a connection closed without an answer;
 * never a Java exception's class name. Only the wording: whether the failure is a {@code timeout}
 * or a {@code connection} failure (what a retry policy matches) stays {@link HttpCall}'s decision.
 * Stateless.
 */
final class CallFailure {

    private CallFailure() {
    }

    /** What went wrong calling {@code url}, walking the cause chain for the reason a person can act on. */
    static String describe(Throwable failure, URI url, long timeoutMs) {
        String hostPort = hostPort(url);
        if (has(failure, UnresolvedAddressException.class) || has(failure, UnknownHostException.class)) {
            return "cannot resolve host " + url.getHost();
        }
        // the failure itself, as HttpCall classifies it: the wording never contradicts the error class
        if (failure instanceof HttpConnectTimeoutException) {
            return "could not connect to " + hostPort + " within " + timeoutMs + " ms";
        }
        if (failure instanceof HttpTimeoutException || failure instanceof TimeoutException) {
            return "no response from " + hostPort + " within " + timeoutMs + " ms";
        }
        SSLException tls = find(failure, SSLException.class);
        if (tls != null) {
            return "TLS handshake with " + hostPort + " failed: " + words(root(tls));
        }
        ConnectException connect = find(failure, ConnectException.class);
        if (connect != null) {
            String message = connect.getMessage();
            // The JDK's client reports a refused connection as a ConnectException without a message
            // (its cause a ClosedChannelException); other reasons (no route, unreachable) carry one.
            return message == null || message.toLowerCase(Locale.ROOT).contains("refused")
                    ? "connection refused to " + hostPort
                    : "cannot connect to " + hostPort + ": " + lowerFirst(message);
        }
        if (has(failure, EOFException.class) || String.valueOf(failure.getMessage()).contains("received no bytes")) {
            return hostPort + " closed the connection without a complete response";
        }
        String message = words(root(failure));
        if (message.toLowerCase(Locale.ROOT).contains("connection reset")) {
            return hostPort + " reset the connection";
        }
        return "call to " + hostPort + " failed: " + message;
    }

    /** {@code host:port}, with the scheme's port when the URL names none. */
    static String hostPort(URI url) {
        int port = url.getPort() >= 0 ? url.getPort() : "https".equalsIgnoreCase(url.getScheme()) ? 443 : 80;
        return url.getHost() + ":" + port;
    }

    private static boolean has(Throwable failure, Class<? extends Throwable> type) {
        return find(failure, type) != null;
    }

    private static <T extends Throwable> T find(Throwable failure, Class<T> type) {
        for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (type.isInstance(t)) {
                return type.cast(t);
            }
        }
        return null;
    }

    private static Throwable root(Throwable failure) {
        Throwable root = failure;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        return root;
    }

    /**
     * A throwable's message without the class names the JDK puts in front of nested causes
     * ({@code sun.security.validator.ValidatorException: PKIX path building failed: …}); when it
     * has no message, its class's simple name in words ({@code ClosedChannelException} → "closed channel").
     */
    static String words(Throwable t) {
        String message = t.getMessage();
        if (message == null || message.isBlank()) {
            String name = t.getClass().getSimpleName().replaceAll("(Exception|Error)$", "");
            return name.replaceAll("([a-z])([A-Z])", "$1 $2").toLowerCase(Locale.ROOT);
        }
        return message.replaceAll("(?:[a-z][a-z0-9_]*\\.)+[A-Z][A-Za-z0-9_$]*(?:Exception|Error): ", "").trim();
    }

    private static String lowerFirst(String s) {
        return s.isEmpty() ? s : Character.toLowerCase(s.charAt(0)) + s.substring(1);
    }
}
