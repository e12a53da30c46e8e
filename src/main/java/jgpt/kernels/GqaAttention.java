package jgpt.kernels;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.MemorySegment;

/**
 * Causal grouped-query attention over a fused activation [B, T, (NH + 2·NKV)·hs] holding q (NH
 * heads), k and v (NKV heads each); query head h reads key/value head h / (NH/NKV). NKV = NH is
 * ordinary multi-head attention. Forward saves the probabilities [B, NH, T, T]. Backward runs in
 * parallel over (batch, kv head) so the query heads sharing a kv head sum into its gradient on one
 * thread, deterministically.
 */
public final class GqaAttention {
    private GqaAttention() {}

    /** out [B, T, NH·hs] = softmax(q·kᵀ/√hs, causal)·v per query head. */
    public static void forward(MemorySegment out, MemorySegment att, MemorySegment qkv, int B, int T, int NH, int NKV, int hs) {
        float scale = (float) (1.0 / Math.sqrt(hs));
        long row = (long) (NH + 2 * NKV) * hs, C = (long) NH * hs;
        int group = NH / NKV;
        Parallel.forRange(B * NH, 1, (s, e) -> {
            for (int bh = s; bh < e; bh++) {
                int b = bh / NH, h = bh % NH, g = h / group;
                long base = (long) b * T * row, hq = (long) h * hs, hk = C + (long) g * hs, hv = C + (long) (NKV + g) * hs;
                for (int t = 0; t < T; t++) {
                    long a = ((long) bh * T + t) * T;
                    float max = Float.NEGATIVE_INFINITY;
                    for (int t2 = 0; t2 <= t; t2++) {
                        float v = Vec.dot(qkv, base + t * row + hq, qkv, base + t2 * row + hk, hs) * scale;
                        att.setAtIndex(JAVA_FLOAT, a + t2, v);
                        max = Math.max(max, v);
                    }
                    float sum = 0;
                    for (int t2 = 0; t2 <= t; t2++) {
                        float ex = (float) Math.exp(att.getAtIndex(JAVA_FLOAT, a + t2) - max);
                        att.setAtIndex(JAVA_FLOAT, a + t2, ex);
                        sum += ex;
                    }
                    float inv = 1f / sum;
                    long o = ((long) b * T + t) * C + hq;
                    out.asSlice(o * 4, hs * 4L).fill((byte) 0);
                    for (int t2 = 0; t2 < T; t2++) {
                        float p = t2 > t ? 0f : att.getAtIndex(JAVA_FLOAT, a + t2) * inv;
                        att.setAtIndex(JAVA_FLOAT, a + t2, p);
                        if (t2 <= t) Vec.axpy(p, qkv, base + t2 * row + hv, out, o, hs);
                    }
                }
            }
        });
    }

    /** dqkv (overwritten) from dout [B, T, NH·hs], the saved probabilities and qkv. */
    public static void backward(MemorySegment dqkv, MemorySegment dout, MemorySegment qkv, MemorySegment att,
                                int B, int T, int NH, int NKV, int hs) {
        float scale = (float) (1.0 / Math.sqrt(hs));
        long row = (long) (NH + 2 * NKV) * hs, C = (long) NH * hs;
        int group = NH / NKV;
        Parallel.forRange(B * NKV, 1, (s, e) -> {
            float[] datt = new float[T];
            for (int bg = s; bg < e; bg++) {
                int b = bg / NKV, g = bg % NKV;
                long base = (long) b * T * row, hk = C + (long) g * hs, hv = C + (long) (NKV + g) * hs;
                for (int t = 0; t < T; t++) {
                    long r = base + t * row;
                    dqkv.asSlice((r + (long) g * group * hs) * 4, (long) group * hs * 4).fill((byte) 0);
                    dqkv.asSlice((r + hk) * 4, hs * 4L).fill((byte) 0);
                    dqkv.asSlice((r + hv) * 4, hs * 4L).fill((byte) 0);
                }
                for (int h = g * group; h < (g + 1) * group; h++) {
                    long hq = (long) h * hs;
                    for (int t = 0; t < T; t++) {
                        long a = (((long) b * NH + h) * T + t) * T;
                        long dO = ((long) b * T + t) * C + hq, qRow = base + t * row;
                        float dsum = 0;
                        for (int t2 = 0; t2 <= t; t2++) {
                            long kvRow = base + t2 * row;
                            float p = att.getAtIndex(JAVA_FLOAT, a + t2);
                            datt[t2] = Vec.dot(dout, dO, qkv, kvRow + hv, hs);
                            Vec.axpy(p, dout, dO, dqkv, kvRow + hv, hs);
                            dsum += p * datt[t2];
                        }
                        for (int t2 = 0; t2 <= t; t2++) {
                            long kvRow = base + t2 * row;
                            float dpre = att.getAtIndex(JAVA_FLOAT, a + t2) * (datt[t2] - dsum) * scale;
                            Vec.axpy(dpre, qkv, kvRow + hk, dqkv, qRow + hq, hs);
                            Vec.axpy(dpre, qkv, qRow + hq, dqkv, kvRow + hk, hs);
                        }
                    }
                }
            }
        });
    }
}
