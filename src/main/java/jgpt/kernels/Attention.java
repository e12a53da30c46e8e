package jgpt.kernels;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.MemorySegment;

/**
 * Causal multi-head self-attention over a fused QKV activation [B, T, 3C] (q | k | v, each split
 * into heads of size hs = C / NH), scale 1/√hs. Forward saves the attention probabilities
 * [B, NH, T, T] for backward. Both directions run in parallel over (batch, head) pairs, which
 * touch disjoint memory.
 */
public final class Attention {
    private Attention() {}

    public static void forward(MemorySegment out, MemorySegment att, MemorySegment qkv, int B, int T, int C, int NH) {
        int hs = C / NH;
        float scale = (float) (1.0 / Math.sqrt(hs));
        long C3 = 3L * C;
        Parallel.forRange(B * NH, 1, (s, e) -> {
            for (int bh = s; bh < e; bh++) {
                int b = bh / NH, h = bh % NH;
                long base = (long) b * T * C3;
                for (int t = 0; t < T; t++) {
                    long q = base + t * C3 + (long) h * hs;
                    long a = ((long) bh * T + t) * T;
                    float max = Float.NEGATIVE_INFINITY;
                    for (int t2 = 0; t2 <= t; t2++) {
                        float v = Vec.dot(qkv, q, qkv, base + t2 * C3 + C + (long) h * hs, hs) * scale;
                        att.setAtIndex(JAVA_FLOAT, a + t2, v);
                        if (v > max) max = v;
                    }
                    float sum = 0;
                    for (int t2 = 0; t2 <= t; t2++) {
                        float ex = (float) Math.exp(att.getAtIndex(JAVA_FLOAT, a + t2) - max);
                        att.setAtIndex(JAVA_FLOAT, a + t2, ex);
                        sum += ex;
                    }
                    float inv = 1f / sum;
                    long o = ((long) b * T + t) * C + (long) h * hs;
                    out.asSlice(o * 4, hs * 4L).fill((byte) 0);
                    for (int t2 = 0; t2 < T; t2++) {
                        if (t2 > t) {
                            att.setAtIndex(JAVA_FLOAT, a + t2, 0f);
                            continue;
                        }
                        float p = att.getAtIndex(JAVA_FLOAT, a + t2) * inv;
                        att.setAtIndex(JAVA_FLOAT, a + t2, p);
                        Vec.axpy(p, qkv, base + t2 * C3 + 2L * C + (long) h * hs, out, o, hs);
                    }
                }
            }
        });
    }

    /** dqkv is overwritten with the gradient of the loss w.r.t. qkv. */
    public static void backward(MemorySegment dqkv, MemorySegment dout, MemorySegment qkv, MemorySegment att,
                                int B, int T, int C, int NH) {
        int hs = C / NH;
        float scale = (float) (1.0 / Math.sqrt(hs));
        long C3 = 3L * C;
        Parallel.forRange(B * NH, 1, (s, e) -> {
            float[] datt = new float[T];
            for (int bh = s; bh < e; bh++) {
                int b = bh / NH, h = bh % NH;
                long base = (long) b * T * C3;
                long hq = (long) h * hs, hk = C + (long) h * hs, hv = 2L * C + (long) h * hs;
                for (int t = 0; t < T; t++) {
                    long row = base + t * C3;
                    dqkv.asSlice((row + hq) * 4, hs * 4L).fill((byte) 0);
                    dqkv.asSlice((row + hk) * 4, hs * 4L).fill((byte) 0);
                    dqkv.asSlice((row + hv) * 4, hs * 4L).fill((byte) 0);
                }
                for (int t = 0; t < T; t++) {
                    long a = ((long) bh * T + t) * T;
                    long dO = ((long) b * T + t) * C + (long) h * hs;
                    long qRow = base + t * C3;
                    float dsum = 0;
                    for (int t2 = 0; t2 <= t; t2++) {
                        long vRow = base + t2 * C3;
                        float p = att.getAtIndex(JAVA_FLOAT, a + t2);
                        datt[t2] = Vec.dot(dout, dO, qkv, vRow + hv, hs);
                        Vec.axpy(p, dout, dO, dqkv, vRow + hv, hs);
                        dsum += p * datt[t2];
                    }
                    for (int t2 = 0; t2 <= t; t2++) {
                        long kRow = base + t2 * C3;
                        float dpre = att.getAtIndex(JAVA_FLOAT, a + t2) * (datt[t2] - dsum) * scale;
                        Vec.axpy(dpre, qkv, kRow + hk, dqkv, qRow + hq, hs);
                        Vec.axpy(dpre, qkv, qRow + hq, dqkv, kRow + hk, hs);
                    }
                }
            }
        });
    }
}
