package jgpt.kernels;

import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.MemorySegment;

/**
 * Softmax cross-entropy over the real vocabulary V of logits rows padded to Vp: the padded
 * columns are excluded from the softmax (their probability is zero and their gradient too).
 */
public final class CrossEntropy {
    /** exp terms are summed in float vectors over runs this long, then in double, to bound rounding. */
    private static final int RUN = Vec.SCRATCH_FLOATS;

    private CrossEntropy() {}

    /**
     * losses[n] = -log softmax(logits[n, :V])[target[n]]; returns the mean over N rows. Each row's
     * max and Σ exp(x - max) go to {@code stats} ([N] pairs of doubles), for {@link #backward}.
     */
    public static float forward(MemorySegment losses, MemorySegment stats, MemorySegment logits, int[] targets, int N, int V, int Vp) {
        Parallel.forRange(N, 4, (s, e) -> {
            for (int n = s; n < e; n++) {
                int t = targets[n];
                if (t < 0 || t >= V) throw new IllegalArgumentException("target " + t + " outside vocabulary of " + V);
                long r = (long) n * Vp;
                float max = Vec.max(logits, r, V);
                double sum = sumExp(logits, r, V, max);
                stats.setAtIndex(JAVA_DOUBLE, 2L * n, max);
                stats.setAtIndex(JAVA_DOUBLE, 2L * n + 1, sum);
                losses.setAtIndex(JAVA_FLOAT, n, (float) (Math.log(sum) + max - logits.getAtIndex(JAVA_FLOAT, r + t)));
            }
        });
        double total = 0;
        for (int n = 0; n < N; n++) total += losses.getAtIndex(JAVA_FLOAT, n);
        return (float) (total / N);
    }

    /**
     * Overwrites logits with dloss/dlogits = (softmax - onehot) · dloss per row; padded columns 0.
     * {@code stats} is what {@link #forward} wrote for these logits: one pass over each row
     * (exp and scale together), where recomputing max and sum took four; the same bits.
     */
    public static void backward(MemorySegment logits, MemorySegment stats, int[] targets, float dloss, int N, int V, int Vp) {
        Parallel.forRange(N, 4, (s, e) -> {
            for (int n = s; n < e; n++) {
                long r = (long) n * Vp;
                float max = (float) stats.getAtIndex(JAVA_DOUBLE, 2L * n);
                double sum = stats.getAtIndex(JAVA_DOUBLE, 2L * n + 1);
                Vec.expShifted(logits, r, max, (float) (dloss / sum), logits, r, V);
                long t = r + targets[n];
                logits.setAtIndex(JAVA_FLOAT, t, logits.getAtIndex(JAVA_FLOAT, t) - dloss);
                if (Vp > V) Vec.zero(logits, r + V, r + Vp);
            }
        });
    }

    /** Σ exp(x - max) over the row, in float runs of RUN (terms in a per-thread L1-sized scratch) summed in double. */
    private static double sumExp(MemorySegment x, long r, int n, float max) {
        MemorySegment scratch = Vec.scratch();
        double sum = 0;
        for (int run = 0; run < n; run += RUN) {
            int len = Math.min(n, run + RUN) - run;
            Vec.expShifted(x, r + run, max, scratch, 0, len);
            sum += Vec.sum(scratch, 0, len);
        }
        return sum;
    }
}
