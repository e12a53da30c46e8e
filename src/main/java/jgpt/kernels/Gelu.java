package jgpt.kernels;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static jgpt.kernels.Vec.L;
import static jgpt.kernels.Vec.NO;
import static jgpt.kernels.Vec.S;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;

/**
 * GPT-2's GELU, the tanh approximation: 0.5·x·(1 + tanh u), u = √(2/π)·(x + 0.044715·x³).
 * Computed as x·σ(2u) with σ(2u) = E/(E+1), E = e^{2u}: no cancellation in 1 + tanh u or
 * 1 - tanh²u for negative x, and the same bits in every JIT tier (unlike lanewise(TANH) or
 * Math.tanh). Each block of up to {@link #BLOCK} elements makes three passes through an L1-sized
 * per-thread scratch (2u, then E by {@link Vec#expShifted}, then the output), so no vector crosses
 * a method call that C2 might not inline (it then boxes the vectors: see Vec.expShifted).
 * Tails use scalar code with the same operations as the vector lanes.
 */
public final class Gelu {
    private static final float K = (float) Math.sqrt(2.0 / Math.PI);
    private static final float A = 0.044715f;
    private static final int BLOCK = Vec.SCRATCH_FLOATS;

    private Gelu() {}

    public static void forward(MemorySegment out, MemorySegment x, long n) {
        Vec.forChunks(n, (s, e) -> {
            MemorySegment ex = Vec.scratch();
            for (long b = s; b < e; b += BLOCK) {
                int m = (int) Math.min(BLOCK, e - b);
                twoU(ex, x, b, m);
                Vec.expShifted(ex, 0, 0f, ex, 0, m);
                int i = 0;
                for (; i + L <= m; i += L) {
                    FloatVector v = FloatVector.fromMemorySegment(S, x, (b + i) * 4, NO), E = FloatVector.fromMemorySegment(S, ex, i * 4, NO);
                    v.mul(E.div(E.add(1f))).intoMemorySegment(out, (b + i) * 4, NO);
                }
                for (; i < m; i++) {
                    float v = x.getAtIndex(JAVA_FLOAT, b + i), E = ex.getAtIndex(JAVA_FLOAT, i);
                    out.setAtIndex(JAVA_FLOAT, b + i, v * (E / (E + 1f)));
                }
            }
        });
    }

    /**
     * dx = dout · gelu'(x) (overwrites dx; dx may alias dout), where
     * gelu'(x) = σ + x·2σ(1-σ)·du/dx, du/dx = k(1 + 3a x²), σ = σ(2u).
     */
    public static void backward(MemorySegment dx, MemorySegment x, MemorySegment dout, long n) {
        Vec.forChunks(n, (s, e) -> {
            MemorySegment ex = Vec.scratch();
            for (long b = s; b < e; b += BLOCK) {
                int m = (int) Math.min(BLOCK, e - b);
                twoU(ex, x, b, m);
                Vec.expShifted(ex, 0, 0f, ex, 0, m);
                int i = 0;
                for (; i + L <= m; i += L) {
                    FloatVector v = FloatVector.fromMemorySegment(S, x, (b + i) * 4, NO), E = FloatVector.fromMemorySegment(S, ex, i * 4, NO);
                    FloatVector sg = E.div(E.add(1f));
                    FloatVector du = v.mul(v).mul(3 * A).add(1f).mul(K);
                    FloatVector d = v.mul(2f).mul(sg).mul(sg.neg().add(1f)).mul(du).add(sg);
                    d.mul(FloatVector.fromMemorySegment(S, dout, (b + i) * 4, NO)).intoMemorySegment(dx, (b + i) * 4, NO);
                }
                for (; i < m; i++) {
                    float v = x.getAtIndex(JAVA_FLOAT, b + i), E = ex.getAtIndex(JAVA_FLOAT, i);
                    float sg = E / (E + 1f);
                    float du = (v * v * (3 * A) + 1f) * K;
                    float d = v * 2f * sg * (-sg + 1f) * du + sg;
                    dx.setAtIndex(JAVA_FLOAT, b + i, d * dout.getAtIndex(JAVA_FLOAT, b + i));
                }
            }
        });
    }

    /** out[i] = 2u(x[xo+i]) for i < m. */
    private static void twoU(MemorySegment out, MemorySegment x, long xo, int m) {
        int i = 0;
        for (; i + L <= m; i += L) {
            FloatVector v = FloatVector.fromMemorySegment(S, x, (xo + i) * 4, NO);
            FloatVector u = v.mul(v).mul(v).mul(A).add(v).mul(K);
            u.add(u).intoMemorySegment(out, i * 4, NO);
        }
        for (; i < m; i++) {
            float v = x.getAtIndex(JAVA_FLOAT, xo + i);
            float u = (v * v * v * A + v) * K;
            out.setAtIndex(JAVA_FLOAT, i, u + u);
        }
    }
}
