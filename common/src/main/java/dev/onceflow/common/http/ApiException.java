package dev.onceflow.common.http;

/** An API request that cannot be served as asked: its status and a message naming the cause. */
public final class ApiException extends RuntimeException {

    private final int status;

    public ApiException(int status, String message) {
        super(message);
        this.status = status;
    }

    public int status() {
        return status;
    }
}
