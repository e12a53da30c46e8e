package jgpt.train;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jgpt.model.FlatBuffer;

/**
 * Gradient clipping by global L2 norm, like PyTorch's {@code clip_grad_norm_}. Split into
 * {@link #sumOfSquares} and {@link #scale} so a distributed trainer can all-reduce the squared
 * norms of its shards before deciding the coefficient.
 */
public final class GradClip {
    private GradClip() {}

    /** Sum of squares of elements [from, to), accumulated in double (millions of small terms). */
    public static double sumOfSquares(FlatBuffer grads, long from, long to) {
        MemorySegment g = grads.data();
        double sum = 0;
        for (long i = from; i < to; i++) {
            double x = g.getAtIndex(ValueLayout.JAVA_FLOAT, i);
            sum += x * x;
        }
        return sum;
    }

    public static double norm(FlatBuffer grads) {
        return Math.sqrt(sumOfSquares(grads, 0, grads.numel()));
    }

    /** PyTorch's coefficient max_norm / (norm + 1e-6), clamped to at most 1. */
    public static float coefficient(double norm, double maxNorm) {
        return (float) Math.min(1.0, maxNorm / (norm + 1e-6));
    }

    /** Multiplies elements [from, to) by coef; a no-op when coef is 1 (not clipping). */
    public static void scale(FlatBuffer grads, long from, long to, float coef) {
        if (coef == 1f) return;
        MemorySegment g = grads.data();
        for (long i = from; i < to; i++) {
            g.setAtIndex(ValueLayout.JAVA_FLOAT, i, g.getAtIndex(ValueLayout.JAVA_FLOAT, i) * coef);
        }
    }

    /** Clips the whole buffer to maxNorm; returns the norm before clipping. */
    public static double clip(FlatBuffer grads, double maxNorm) {
        double norm = norm(grads);
        scale(grads, 0, grads.numel(), coefficient(norm, maxNorm));
        return norm;
    }
}
