package jgpt.kernels;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.MemorySegment;

/**
 * Rotary position embedding in Hugging Face's "rotate-half" convention: within a head of size hs,
 * element i is paired with element i + hs/2 (not with its neighbour i+1 as in Meta's and
 * llama2.c's interleaved convention; importers permute q/k weight rows to convert) and the pair
 * is rotated by the angle {@code pos · θ^(-2i/hs)}. Rotation is orthogonal, so backward is the
 * rotation by the negative angle. The tables are computed in double, then rounded.
 */
public final class Rope {
    private final int hs, half, maxPos;
    private final float[] cos, sin; // [maxPos, hs/2]

    public Rope(int headSize, int maxPos, double theta) {
        if (headSize % 2 != 0) throw new IllegalArgumentException("RoPE needs an even head size, got " + headSize);
        this.hs = headSize;
        this.half = headSize / 2;
        this.maxPos = maxPos;
        cos = new float[maxPos * half];
        sin = new float[maxPos * half];
        for (int p = 0; p < maxPos; p++) {
            for (int i = 0; i < half; i++) {
                double a = p * Math.pow(theta, -2.0 * i / headSize);
                cos[p * half + i] = (float) Math.cos(a);
                sin[p * half + i] = (float) Math.sin(a);
            }
        }
    }

    /**
     * Rotates, in place, the first nHeads heads of each of N rows of x (row stride in floats); row n
     * sits at position pos0 + n % T (T = positions per sequence, pos0 the first position).
     */
    public void forward(MemorySegment x, int N, int T, int pos0, long stride, int nHeads) {
        apply(x, N, T, pos0, stride, nHeads, 1f);
    }

    /** Backward of {@link #forward} on the gradient, in place: the inverse rotation. */
    public void backward(MemorySegment dx, int N, int T, int pos0, long stride, int nHeads) {
        apply(dx, N, T, pos0, stride, nHeads, -1f);
    }

    private void apply(MemorySegment x, int N, int T, int pos0, long stride, int nHeads, float sign) {
        Parallel.forRange(N, 8, (s, e) -> {
            for (int n = s; n < e; n++) {
                int pos = pos0 + n % T;
                if (pos >= maxPos) throw new IllegalArgumentException("position " + pos + " beyond RoPE table of " + maxPos);
                int tb = pos * half;
                for (int h = 0; h < nHeads; h++) {
                    long o = n * stride + (long) h * hs;
                    for (int i = 0; i < half; i++) {
                        float c = cos[tb + i], sn = sign * sin[tb + i];
                        float a = x.getAtIndex(JAVA_FLOAT, o + i), b = x.getAtIndex(JAVA_FLOAT, o + i + half);
                        x.setAtIndex(JAVA_FLOAT, o + i, a * c - b * sn);
                        x.setAtIndex(JAVA_FLOAT, o + i + half, b * c + a * sn);
                    }
                }
            }
        });
    }
}
