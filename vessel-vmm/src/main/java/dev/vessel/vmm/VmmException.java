package dev.vessel.vmm;

/** A failure of the microVM machinery, with a one-line message that names what is wrong. */
public class VmmException extends Exception {
    public VmmException(String message) {
        super(message);
    }

    public VmmException(String message, Throwable cause) {
        super(message, cause);
    }
}
