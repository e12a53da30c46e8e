package jgpt.kernels;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static jgpt.kernels.Vec.L;
import static jgpt.kernels.Vec.NO;
import static jgpt.kernels.Vec.S;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;

/**
 * Softmax cross-entropy over the real vocabulary V of logits rows padded to Vp: the padded
 * columns are excluded from the softmax (their probability is zero and their gradient too).
 */
public final class CrossEntropy {
    /** exp terms are summed in float vectors over runs this long, then in double, to bound rounding. */
    private static final int RUN = 1024;

    private CrossEntropy() {}

    /** losses[n] = -log softmax(logits[n, :V])[target[n]]; returns the mean over N rows. */
    public static float forward(MemorySegment losses, MemorySegment logits, int[] targets, int N, int V, int Vp) {
        Parallel.forRange(N, 4, (s, e) -> {
            for (int n = s; n < e; n++) {
                int t = targets[n];
                if (t < 0 || t >= V) throw new IllegalArgumentException("target " + t + " outside vocabulary of " + V);
                long r = (long) n * Vp;
                float max = max(logits, r, V);
                double sum = sumExp(logits, r, V, max, false);
                losses.setAtIndex(JAVA_FLOAT, n, (float) (Math.log(sum) + max - logits.getAtIndex(JAVA_FLOAT, r + t)));
            }
        });
        double total = 0;
        for (int n = 0; n < N; n++) total += losses.getAtIndex(JAVA_FLOAT, n);
        return (float) (total / N);
    }

    /** Overwrites logits with dloss/dlogits = (softmax - onehot) · dloss per row; padded columns 0. */
    public static void backward(MemorySegment logits, int[] targets, float dloss, int N, int V, int Vp) {
        Parallel.forRange(N, 4, (s, e) -> {
            for (int n = s; n < e; n++) {
                long r = (long) n * Vp;
                float max = max(logits, r, V);
                double sum = sumExp(logits, r, V, max, true);
                FloatVector inv = FloatVector.broadcast(S, (float) (dloss / sum));
                for (int v = 0; v < V; v += L) {
                    VectorMask<Float> m = S.indexInRange(v, V);
                    load(logits, r + v, m).mul(inv).intoMemorySegment(logits, (r + v) * 4, NO, m);
                }
                long t = r + targets[n];
                logits.setAtIndex(JAVA_FLOAT, t, logits.getAtIndex(JAVA_FLOAT, t) - dloss);
                if (Vp > V) logits.asSlice((r + V) * 4, (long) (Vp - V) * 4).fill((byte) 0);
            }
        });
    }

    /** Σ exp(x - max) over the row; with {@code store} the exp terms overwrite x. */
    private static double sumExp(MemorySegment x, long r, int n, float max, boolean store) {
        FloatVector mv = FloatVector.broadcast(S, max);
        double sum = 0;
        for (int run = 0; run < n; run += RUN) {
            int end = Math.min(n, run + RUN);
            FloatVector acc = FloatVector.zero(S);
            for (int v = run; v < end; v += L) {
                VectorMask<Float> m = S.indexInRange(v, end);
                FloatVector ex = Vec.exp(load(x, r + v, m).sub(mv));
                if (store) ex.intoMemorySegment(x, (r + v) * 4, NO, m);
                acc = acc.add(ex, m);
            }
            sum += Vec.sum(acc);
        }
        return sum;
    }

    static float max(MemorySegment x, long off, int n) {
        FloatVector mx = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        for (int i = 0; i < n; i += L) {
            VectorMask<Float> m = S.indexInRange(i, n);
            mx = mx.lanewise(VectorOperators.MAX, load(x, off + i, m), m);
        }
        return mx.reduceLanes(VectorOperators.MAX); // max is exact in any order
    }

    private static FloatVector load(MemorySegment m, long i, VectorMask<Float> mask) {
        return FloatVector.fromMemorySegment(S, m, i * 4, NO, mask);
    }
}
