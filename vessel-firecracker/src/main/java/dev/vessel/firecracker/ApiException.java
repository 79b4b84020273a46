package dev.vessel.firecracker;

/** An API error: the HTTP status and Firecracker's {@code {"fault_message": …}}. */
public final class ApiException extends Exception {
    private final int status;

    public ApiException(int status, String message) {
        super(message);
        this.status = status;
    }

    public static ApiException badRequest(String message) {
        return new ApiException(400, message);
    }

    public int status() {
        return status;
    }
}
