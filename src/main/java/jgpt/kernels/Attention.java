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
 * two threads write the same memory; per head, each product is one {@link Gemm} call on strided
 * views (no copies) under a causal mask, which skips the micro-tiles above the diagonal and the
 * depth where P or dS is zero.
 */
public final class Attention {
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
                // S = Q Kᵀ on and below the diagonal, softmax row by row, O = P V (P is zero past each row's t)
                Gemm.serial(qkv, hq, row, 1, qkv, hk, 1, row, att, a, T, 0, T, 0, T, hs, false, Gemm.BELOW_DIAGONAL);
                for (int t = 0; t < T; t++) softmaxRow(att, a + (long) t * T, t, T, scale);
                Gemm.serial(att, a, T, 1, qkv, hv, row, 1, out, o, C, 0, T, 0, hs, T, false, Gemm.A_LOWER);
            }
        });
    }

    /** Row of scores [0, t] → probabilities of softmax(scale · s); [t+1, T) zeroed. */
    private static void softmaxRow(MemorySegment att, long r, int t, int T, float scale) {
        int n = t + 1;
        Vec.scale(att, r, r + n, scale);
        float max = Vec.max(att, r, n);
        // exp over whole vectors, past t into lanes that are zeroed below: no scalar tail, which
        // cost as much as the rest of the exps (rows average 8 vectors and 7.5 tail elements)
        Vec.expShifted(att, r, max, att, r, Math.min(T, (n + L - 1) / L * L));
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
                    // dP = dO Vᵀ on and below the diagonal, then dS = P ⊙ (dP - Σ P dP) · scale, in place
                    Gemm.serial(dout, o, C, 1, qkv, hv, 1, row, ds, 0, T, 0, T, 0, T, hs, false, Gemm.BELOW_DIAGONAL);
                    for (int t = 0; t < T; t++) softmaxBackwardRow(ds, att, (long) t * T, a + (long) t * T, t, T, scale);
                    // dQ = dS K (query t sees keys up to t)
                    Gemm.serial(ds, 0, T, 1, qkv, hk, row, 1, dqkv, hq, row, 0, T, 0, hs, T, false, Gemm.A_LOWER);
                    // Key j is seen by queries from j on: dK (+)= dSᵀ Q, dV (+)= Pᵀ dO
                    Gemm.serial(ds, 0, 1, T, qkv, hq, row, 1, dqkv, hk, row, 0, T, 0, hs, T, addKv, Gemm.A_UPPER);
                    Gemm.serial(att, a, 1, T, dout, o, C, 1, dqkv, hv, row, 0, T, 0, hs, T, addKv, Gemm.A_UPPER);
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
