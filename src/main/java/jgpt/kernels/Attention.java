package jgpt.kernels;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static jgpt.kernels.Vec.L;
import static jgpt.kernels.Vec.NO;
import static jgpt.kernels.Vec.S;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;

/**
 * Causal self-attention over a fused QKV activation: GPT-2's multi-head [B, T, 3C] (q | k | v,
 * each split into heads of size hs = C / NH) and Llama's grouped-query layout; scale 1/√hs.
 * Forward saves the attention probabilities [B, NH, T, T] (zero above the diagonal) for
 * backward. Forward runs in parallel over (batch, head), backward over (batch, kv head), so no
 * two threads write the same memory; per head, the products are {@link Gemm} calls on strided
 * views (no copies), cut into row blocks of TB so the causal upper triangle is mostly skipped.
 */
public final class Attention {
    /** Rows per causal block: each block's products stop at its last row's horizon. */
    private static final int TB = 64;

    /** Per-thread T x T scratch for dP/dS in backward, grown once to the largest T seen. */
    private static final ThreadLocal<MemorySegment[]> SCRATCH = ThreadLocal.withInitial(() -> new MemorySegment[] {MemorySegment.NULL});

    private Attention() {}

    /** GPT-2's multi-head attention: qkv rows are [q | k | v], C each. */
    public static void forward(MemorySegment out, MemorySegment att, MemorySegment qkv, int B, int T, int C, int NH) {
        forward(out, att, qkv, B, T, NH, NH, C / NH);
    }

    /**
     * Grouped-query attention: qkv rows are [q (NH heads) | k (NKV heads) | v (NKV heads)] of hs
     * each, query head h reads kv head h / (NH/NKV); NKV = NH is multi-head attention. out is
     * [B, T, NH·hs].
     */
    public static void forward(MemorySegment out, MemorySegment att, MemorySegment qkv, int B, int T, int NH, int NKV, int hs) {
        float scale = (float) (1.0 / Math.sqrt(hs));
        long row = (long) (NH + 2 * NKV) * hs, C = (long) NH * hs;
        int group = NH / NKV;
        Parallel.forRange(B * NH, 1, (s, e) -> {
            for (int bh = s; bh < e; bh++) {
                int b = bh / NH, h = bh % NH, g = h / group;
                long base = (long) b * T * row, hq = base + (long) h * hs, hk = base + C + (long) g * hs, hv = hk + (long) NKV * hs;
                long a = (long) bh * T * T, o = (long) b * T * C + (long) h * hs;
                for (int t0 = 0; t0 < T; t0 += TB) {
                    int t1 = Math.min(T, t0 + TB);
                    // S = Q Kᵀ for rows [t0, t1), columns [0, t1)
                    Gemm.serial(qkv, hq, row, 1, qkv, hk, 1, row, att, a, T, t0, t1, 0, t1, hs, false);
                    for (int t = t0; t < t1; t++) softmaxRow(att, a + (long) t * T, t, T, scale);
                    // O = P V (P is zero beyond each row's t)
                    Gemm.serial(att, a, T, 1, qkv, hv, row, 1, out, o, C, t0, t1, 0, hs, t1, false);
                }
            }
        });
    }

    /** Row of scores [0, t] → probabilities of softmax(scale · s); [t+1, T) zeroed. */
    private static void softmaxRow(MemorySegment att, long r, int t, int T, float scale) {
        int n = t + 1;
        Vec.scale(att, r, r + n, scale);
        float max = Vec.max(att, r, n);
        Vec.expShifted(att, r, max, att, r, n);
        float total = Vec.sum(att, r, n);
        Vec.scale(att, r, r + n, 1f / total);
        if (n < T) Vec.zero(att, r + n, r + T);
    }

    /** dqkv is overwritten with the gradient of the loss w.r.t. qkv (GPT-2 layout). */
    public static void backward(MemorySegment dqkv, MemorySegment dout, MemorySegment qkv, MemorySegment att,
                                int B, int T, int C, int NH) {
        backward(dqkv, dout, qkv, att, B, T, NH, NH, C / NH);
    }

    /**
     * Grouped-query backward (layout as in forward). Runs in parallel over (batch, kv head): the
     * query heads sharing a kv head add into its dK and dV one after another on one thread
     * (the first overwrites), deterministically.
     */
    public static void backward(MemorySegment dqkv, MemorySegment dout, MemorySegment qkv, MemorySegment att,
                                int B, int T, int NH, int NKV, int hs) {
        float scale = (float) (1.0 / Math.sqrt(hs));
        long row = (long) (NH + 2 * NKV) * hs, C = (long) NH * hs;
        int group = NH / NKV;
        Parallel.forRange(B * NKV, 1, (s, e) -> {
            MemorySegment ds = scratch((long) T * T);
            for (int bg = s; bg < e; bg++) {
                int b = bg / NKV, g = bg % NKV;
                long base = (long) b * T * row, hk = base + C + (long) g * hs, hv = hk + (long) NKV * hs;
                for (int h = g * group; h < (g + 1) * group; h++) {
                    boolean addKv = h > g * group;
                    long hq = base + (long) h * hs, a = ((long) b * NH + h) * T * T, o = (long) b * T * C + (long) h * hs;
                    for (int t0 = 0; t0 < T; t0 += TB) {
                        int t1 = Math.min(T, t0 + TB);
                        // dP = dO Vᵀ, then dS = P ⊙ (dP - Σ P dP) · scale, in place
                        Gemm.serial(dout, o, C, 1, qkv, hv, 1, row, ds, 0, T, t0, t1, 0, t1, hs, false);
                        for (int t = t0; t < t1; t++) softmaxBackwardRow(ds, att, (long) t * T, a + (long) t * T, t, T, scale);
                        // dQ = dS K (rows [t0, t1) see keys [0, t1))
                        Gemm.serial(ds, 0, T, 1, qkv, hk, row, 1, dqkv, hq, row, t0, t1, 0, hs, t1, false);
                    }
                    for (int t0 = 0; t0 < T; t0 += TB) {
                        int t1 = Math.min(T, t0 + TB);
                        // Keys/values [t0, t1) are seen by queries [t0, T): dK (+)= dSᵀ Q, dV (+)= Pᵀ dO
                        long k0 = t0;
                        Gemm.serial(ds, k0 * T, 1, T, qkv, hq + k0 * row, row, 1, dqkv, hk, row, t0, t1, 0, hs, T - t0, addKv);
                        Gemm.serial(att, a + k0 * T, 1, T, dout, o + k0 * C, C, 1, dqkv, hv, row, t0, t1, 0, hs, T - t0, addKv);
                    }
                }
            }
        });
    }

    /** ds row (holding dP) → dS = P ⊙ (dP - Σ P·dP) · scale over [0, t]; [t+1, T) zeroed. Unmasked, as softmaxRow. */
    private static void softmaxBackwardRow(MemorySegment ds, MemorySegment att, long r, long pr, int t, int T, float scale) {
        int n = t + 1;
        FloatVector dot = FloatVector.zero(S);
        int j = 0;
        for (; j + L <= n; j += L) {
            dot = FloatVector.fromMemorySegment(S, att, (pr + j) * 4, NO).fma(FloatVector.fromMemorySegment(S, ds, (r + j) * 4, NO), dot);
        }
        float ds0 = Vec.sum(dot);
        for (int i = j; i < n; i++) ds0 += att.getAtIndex(JAVA_FLOAT, pr + i) * ds.getAtIndex(JAVA_FLOAT, r + i);
        FloatVector d = FloatVector.broadcast(S, ds0), sv = FloatVector.broadcast(S, scale);
        for (j = 0; j + L <= n; j += L) {
            long o = (r + j) * 4;
            FloatVector.fromMemorySegment(S, att, (pr + j) * 4, NO).mul(FloatVector.fromMemorySegment(S, ds, o, NO).sub(d)).mul(sv)
                    .intoMemorySegment(ds, o, NO);
        }
        for (; j < n; j++) {
            float p = att.getAtIndex(JAVA_FLOAT, pr + j);
            ds.setAtIndex(JAVA_FLOAT, r + j, p * (ds.getAtIndex(JAVA_FLOAT, r + j) - ds0) * scale);
        }
        if (n < T) Vec.zero(ds, r + n, r + T);
    }

    private static MemorySegment scratch(long floats) {
        MemorySegment[] holder = SCRATCH.get();
        if (holder[0].byteSize() < floats * 4) holder[0] = Arena.ofAuto().allocate(floats * 4, 64);
        return holder[0];
    }
}
