package jgpt.train;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jgpt.kernels.Parallel;
import jgpt.model.FlatBuffer;

/**
 * Gradient clipping by global L2 norm, like PyTorch's {@code clip_grad_norm_}: the norm (from
 * {@link #sumOfSquares}, which a distributed trainer sums over its shards) gives a
 * {@link #coefficient} that AdamW multiplies into the gradients as it reads them.
 */
public final class GradClip {
    private GradClip() {}

    /** Elements per block of the parallel sum: fixed, so the result does not depend on the thread count. */
    private static final int BLOCK = 1 << 16;

    /**
     * Sum of squares of elements [from, to), accumulated in double (millions of small terms):
     * blocks of {@link #BLOCK} elements (counted from {@code from}) summed in parallel, each with four
     * interleaved double accumulators, then the block sums added in block order. Deterministic for
     * any thread count.
     */
    public static double sumOfSquares(FlatBuffer grads, long from, long to) {
        MemorySegment g = grads.data();
        long n = to - from;
        if (n <= 0) return 0;
        long blocks = (n + BLOCK - 1) / BLOCK;
        if (blocks > Integer.MAX_VALUE) throw new IllegalArgumentException("range too large: " + n);
        double[] partial = new double[(int) blocks];
        Parallel.forRange((int) blocks, 1, (s, e) -> {
            for (int b = s; b < e; b++) {
                long lo = from + (long) b * BLOCK;
                partial[b] = sumSq(g, lo, Math.min(to, lo + BLOCK));
            }
        });
        double sum = 0;
        for (double p : partial) sum += p;
        return sum;
    }

    private static double sumSq(MemorySegment g, long from, long to) {
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        long i = from;
        for (; i + 4 <= to; i += 4) {
            double x0 = g.getAtIndex(ValueLayout.JAVA_FLOAT, i), x1 = g.getAtIndex(ValueLayout.JAVA_FLOAT, i + 1);
            double x2 = g.getAtIndex(ValueLayout.JAVA_FLOAT, i + 2), x3 = g.getAtIndex(ValueLayout.JAVA_FLOAT, i + 3);
            s0 += x0 * x0;
            s1 += x1 * x1;
            s2 += x2 * x2;
            s3 += x3 * x3;
        }
        for (; i < to; i++) {
            double x = g.getAtIndex(ValueLayout.JAVA_FLOAT, i);
            s0 += x * x;
        }
        return (s0 + s1) + (s2 + s3);
    }

    public static double norm(FlatBuffer grads) {
        return Math.sqrt(sumOfSquares(grads, 0, grads.numel()));
    }

    /** PyTorch's coefficient max_norm / (norm + 1e-6), clamped to at most 1; 1 when maxNorm <= 0 (no clipping). */
    public static float coefficient(double norm, double maxNorm) {
        if (maxNorm <= 0) return 1f;
        return (float) Math.min(1.0, maxNorm / (norm + 1e-6));
    }
}
