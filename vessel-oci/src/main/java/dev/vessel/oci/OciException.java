package dev.vessel.oci;

/** A problem with the caller's input, reported to them as one line. */
public class OciException extends RuntimeException {
    public OciException(String message) {
        super(message);
    }

    public OciException(String message, Throwable cause) {
        super(message, cause);
    }
}
