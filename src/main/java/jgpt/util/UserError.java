package jgpt.util;

/**
 * A problem with what the user gave us (a missing file, a bad value): printed as one line
 * naming the file, field or value, and the process exits non-zero. No stack trace.
 */
public class UserError extends RuntimeException {
    public UserError(String message) {
        super(message);
    }

    public UserError(String message, Throwable cause) {
        super(message, cause);
    }
}
