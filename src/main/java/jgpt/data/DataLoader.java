package jgpt.data;

import jgpt.util.UserError;

/**
 * Sequential (B, T) batches over a token file, like llm.c: every rank reads its own B*T+1 window
 * at {@code position + rank*B*T}, then all ranks advance by B*T*worldSize together; when the next
 * step would run past the end, the position wraps to 0 and the epoch counter increments.
 * The whole state is {@link #position()} (and {@link #epoch()}), so training resumes exactly.
 */
public final class DataLoader {
    private final TokenFile file;
    private final int B;
    private final int T;
    private final int rank;
    private final int worldSize;
    private final int[] window;
    private long position;
    private long epoch;

    public DataLoader(TokenFile file, int B, int T, int rank, int worldSize) {
        if (B <= 0 || T <= 0 || worldSize <= 0 || rank < 0 || rank >= worldSize) {
            throw new IllegalArgumentException("B=" + B + " T=" + T + " rank=" + rank + " worldSize=" + worldSize);
        }
        this.file = file;
        this.B = B;
        this.T = T;
        this.rank = rank;
        this.worldSize = worldSize;
        long needed = stepTokens() + 1;
        if (file.count() < needed) {
            throw new UserError(file.path() + " holds " + file.count() + " tokens but B*T*ranks+1 = "
                    + B + "*" + T + "*" + worldSize + "+1 = " + needed + " are needed for one batch");
        }
        this.window = new int[Math.multiplyExact(B, T) + 1];
    }

    private long stepTokens() {
        return (long) B * T * worldSize;
    }

    /** Fills inputs and targets (each B*T, row-major [B][T]); targets are the inputs shifted by one. */
    public void next(int[] inputs, int[] targets) {
        int n = B * T;
        file.read(position + (long) rank * n, window, 0, n + 1);
        System.arraycopy(window, 0, inputs, 0, n);
        System.arraycopy(window, 1, targets, 0, n);
        position += stepTokens();
        if (position + stepTokens() + 1 > file.count()) {
            position = 0;
            epoch++;
        }
    }

    /** Where the next step starts (the same on every rank). */
    public long position() {
        return position;
    }

    /** Resumes from a saved {@link #position()}; it must leave room for one full step. */
    public void setPosition(long position) {
        if (position < 0 || position + stepTokens() + 1 > file.count()) {
            throw new UserError("data position " + position + " is outside " + file.path() + " ("
                    + file.count() + " tokens, " + stepTokens() + " per step)");
        }
        this.position = position;
    }

    /** How many times the loader has wrapped around to the start. */
    public long epoch() {
        return epoch;
    }

    public void setEpoch(long epoch) {
        this.epoch = epoch;
    }

    public void reset() {
        position = 0;
        epoch = 0;
    }

    /** The number of non-overlapping (B, T) windows in the file, for a full evaluation pass. */
    public int evalBatches() {
        return Math.toIntExact((file.count() - 1) / ((long) B * T));
    }

    /** Fills batch k of the evaluation pass (0 &lt;= k &lt; evalBatches()); independent of position. */
    public void evalBatch(int k, int[] inputs, int[] targets) {
        if (k < 0 || k >= evalBatches()) {
            throw new IndexOutOfBoundsException("eval batch " + k + " of " + evalBatches());
        }
        int n = B * T;
        file.read((long) k * n, window, 0, n + 1);
        System.arraycopy(window, 0, inputs, 0, n);
        System.arraycopy(window, 1, targets, 0, n);
    }
}
