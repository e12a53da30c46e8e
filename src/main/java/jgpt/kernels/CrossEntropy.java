package jgpt.kernels;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.MemorySegment;

/**
 * Softmax cross-entropy over the real vocabulary V of logits rows padded to Vp: the padded
 * columns are excluded from the softmax (their probability is zero and their gradient too).
 */
public final class CrossEntropy {
    private CrossEntropy() {}

    /** losses[n] = -log softmax(logits[n, :V])[target[n]]; returns the mean over N rows. */
    public static float forward(MemorySegment losses, MemorySegment logits, int[] targets, int N, int V, int Vp) {
        Parallel.forRange(N, 4, (s, e) -> {
            for (int n = s; n < e; n++) {
                long r = (long) n * Vp;
                float max = max(logits, r, V);
                double sum = 0;
                for (int v = 0; v < V; v++) sum += Math.exp(logits.getAtIndex(JAVA_FLOAT, r + v) - max);
                int t = targets[n];
                if (t < 0 || t >= V) throw new IllegalArgumentException("target " + t + " outside vocabulary of " + V);
                float loss = (float) (Math.log(sum) + max - logits.getAtIndex(JAVA_FLOAT, r + t));
                losses.setAtIndex(JAVA_FLOAT, n, loss);
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
                double sum = 0;
                for (int v = 0; v < V; v++) {
                    float ex = (float) Math.exp(logits.getAtIndex(JAVA_FLOAT, r + v) - max);
                    logits.setAtIndex(JAVA_FLOAT, r + v, ex);
                    sum += ex;
                }
                float inv = (float) (dloss / sum);
                for (int v = 0; v < V; v++) logits.setAtIndex(JAVA_FLOAT, r + v, logits.getAtIndex(JAVA_FLOAT, r + v) * inv);
                long t = r + targets[n];
                logits.setAtIndex(JAVA_FLOAT, t, logits.getAtIndex(JAVA_FLOAT, t) - dloss);
                for (int v = V; v < Vp; v++) logits.setAtIndex(JAVA_FLOAT, r + v, 0f);
            }
        });
    }

    static float max(MemorySegment x, long off, int n) {
        float m = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) m = Math.max(m, x.getAtIndex(JAVA_FLOAT, off + i));
        return m;
    }
}
