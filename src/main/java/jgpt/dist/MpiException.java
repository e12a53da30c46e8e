package jgpt.dist;

/** An MPI call returned an error (the communicator is set to MPI_ERRORS_RETURN). */
public final class MpiException extends RuntimeException {
    private final int rank;
    private final int errorCode;

    public MpiException(int rank, String function, int errorCode, String errorString) {
        super("rank " + rank + ": " + function + " failed (error " + errorCode + "): " + errorString);
        this.rank = rank;
        this.errorCode = errorCode;
    }

    public int rank() {
        return rank;
    }

    public int errorCode() {
        return errorCode;
    }
}
