package jgpt.kernels;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static jgpt.kernels.Vec.L;
import static jgpt.kernels.Vec.NO;
import static jgpt.kernels.Vec.S;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
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
            float[] tail = new float[2 * L];
            for (int n = s; n < e; n++) {
                int t = targets[n];
                if (t < 0 || t >= V) throw new IllegalArgumentException("target " + t + " outside vocabulary of " + V);
                long r = (long) n * Vp;
                float max = max(logits, r, V);
                double sum = sumExp(logits, r, V, max, false, tail);
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
            float[] tail = new float[2 * L];
            for (int n = s; n < e; n++) {
                long r = (long) n * Vp;
                float max = max(logits, r, V);
                double sum = sumExp(logits, r, V, max, true, tail);
                scaleRow(logits, r, V, (float) (dloss / sum));
                long t = r + targets[n];
                logits.setAtIndex(JAVA_FLOAT, t, logits.getAtIndex(JAVA_FLOAT, t) - dloss);
                if (Vp > V) logits.asSlice((r + V) * 4, (long) (Vp - V) * 4).fill((byte) 0);
            }
        });
    }

    private static void scaleRow(MemorySegment x, long r, int n, float inv) {
        FloatVector iv = FloatVector.broadcast(S, inv);
        int v = 0;
        for (; v + L <= n; v += L) {
            long o = (r + v) * 4;
            FloatVector.fromMemorySegment(S, x, o, NO).mul(iv).intoMemorySegment(x, o, NO);
        }
        for (; v < n; v++) x.setAtIndex(JAVA_FLOAT, r + v, x.getAtIndex(JAVA_FLOAT, r + v) * inv);
    }

    /**
     * Σ exp(x - max) over the row; with {@code store} the exp terms overwrite x. Full vectors are
     * unmasked (masked vector ops fell back to allocating Java code in C2 here); the last partial
     * vector goes through {@code tail} (2·L floats of scratch) so its lanes get exactly the vector
     * exp and the unused lanes add +0, the same bits as a masked add.
     */
    private static double sumExp(MemorySegment x, long r, int n, float max, boolean store, float[] tail) {
        FloatVector mv = FloatVector.broadcast(S, max);
        double sum = 0;
        for (int run = 0; run < n; run += RUN) {
            int end = Math.min(n, run + RUN);
            FloatVector acc = FloatVector.zero(S);
            int v = run;
            for (; v + L <= end; v += L) {
                long o = (r + v) * 4;
                FloatVector ex = Vec.exp(FloatVector.fromMemorySegment(S, x, o, NO).sub(mv));
                if (store) ex.intoMemorySegment(x, o, NO);
                acc = acc.add(ex);
            }
            if (v < end) {
                int k = end - v;
                MemorySegment.copy(x, JAVA_FLOAT, (r + v) * 4, tail, 0, k);
                Vec.exp(FloatVector.fromArray(S, tail, 0).sub(mv)).intoArray(tail, L);
                java.util.Arrays.fill(tail, L + k, 2 * L, 0f);
                acc = acc.add(FloatVector.fromArray(S, tail, L));
                if (store) MemorySegment.copy(tail, L, x, JAVA_FLOAT, (r + v) * 4, k);
            }
            sum += Vec.sum(acc);
        }
        return sum;
    }

    /** Row maximum: vector lanes, then a scalar tail (max is exact in any order). */
    static float max(MemorySegment x, long off, int n) {
        FloatVector mx = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        int i = 0;
        for (; i + L <= n; i += L) mx = mx.max(FloatVector.fromMemorySegment(S, x, (off + i) * 4, NO));
        float m = mx.reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) m = Math.max(m, x.getAtIndex(JAVA_FLOAT, off + i));
        return m;
    }
}
