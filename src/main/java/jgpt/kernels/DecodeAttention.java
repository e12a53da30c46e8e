package jgpt.kernels;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.MemorySegment;

/**
 * Attention of one query row over a KV cache, for one head: the decode step's attention (the
 * training-time {@link Attention} works on whole [T, T] blocks instead). Positions are taken in
 * blocks of up to 1024 scores in the thread's L1 scratch with an online softmax (a running max;
 * when a block raises it, the partial sum and output are rescaled), so any context length works
 * without a per-call buffer, and e^x is the vector {@link Vec#expShifted} rather than a scalar
 * exp per position.
 */
public final class DecodeAttention {
    private static final int BLOCK = Vec.SCRATCH_FLOATS;

    private DecodeAttention() {}

    /**
     * out[oo, oo+hs) = Σ_t softmax_t(scale · q·k_t) · v_t over cached positions t in [0, len), where
     * q starts at qo of q, and k_t, v_t at kvOff + t·kvStride of k and v (floats).
     */
    public static void head(MemorySegment q, long qo, MemorySegment k, MemorySegment v, long kvOff, long kvStride,
                            int len, int hs, float scale, MemorySegment out, long oo) {
        MemorySegment sc = Vec.scratch();
        Vec.zero(out, oo, oo + hs);
        float max = Float.NEGATIVE_INFINITY, sum = 0;
        for (int b0 = 0; b0 < len; b0 += BLOCK) {
            int n = Math.min(BLOCK, len - b0);
            for (int j = 0; j < n; j++) {
                sc.setAtIndex(JAVA_FLOAT, j, Vec.dot(q, qo, k, kvOff + (b0 + j) * kvStride, hs) * scale);
            }
            float blockMax = Vec.max(sc, 0, n);
            if (blockMax > max) {
                if (b0 > 0) {
                    float r = Vec.exp(max - blockMax);
                    sum *= r;
                    Vec.scale(out, oo, oo + hs, r);
                }
                max = blockMax;
            }
            Vec.expShifted(sc, 0, max, sc, 0, n);
            sum += Vec.sum(sc, 0, n);
            for (int j = 0; j < n; j++) Vec.axpy(sc.getAtIndex(JAVA_FLOAT, j), v, kvOff + (b0 + j) * kvStride, out, oo, hs);
        }
        Vec.scale(out, oo, oo + hs, 1f / sum);
    }
}
