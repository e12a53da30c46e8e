package jgpt.kernels;

import static jgpt.kernels.Vec.L;
import static jgpt.kernels.Vec.NO;
import static jgpt.kernels.Vec.S;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;

/**
 * GPT-2's GELU, the tanh approximation: 0.5·x·(1 + tanh u), u = √(2/π)·(x + 0.044715·x³).
 * Computed as x·σ(2u) with σ(2u) = E/(E+1), E = e^{2u} ({@link Vec#exp}): no cancellation in
 * 1 + tanh u or 1 - tanh²u for negative x, and the same bits in every JIT tier (unlike
 * lanewise(TANH) or Math.tanh). Tails are masked vectors, so there is no separate scalar path.
 */
public final class Gelu {
    private static final float K = (float) Math.sqrt(2.0 / Math.PI);
    private static final float A = 0.044715f;

    private Gelu() {}

    public static void forward(MemorySegment out, MemorySegment x, long n) {
        Vec.forChunks(n, (s, e) -> {
            long i = s;
            for (; i + L <= e; i += L) {
                FloatVector v = FloatVector.fromMemorySegment(S, x, i * 4, NO);
                v.mul(sigma2u(v)).intoMemorySegment(out, i * 4, NO);
            }
            if (i < e) {
                VectorMask<Float> m = S.indexInRange((int) (i - s), (int) (e - s));
                FloatVector v = FloatVector.fromMemorySegment(S, x, i * 4, NO, m);
                v.mul(sigma2u(v)).intoMemorySegment(out, i * 4, NO, m);
            }
        });
    }

    /** dx = dout · gelu'(x) (overwrites dx; dx may alias dout). */
    public static void backward(MemorySegment dx, MemorySegment x, MemorySegment dout, long n) {
        Vec.forChunks(n, (s, e) -> {
            long i = s;
            for (; i + L <= e; i += L) {
                FloatVector v = FloatVector.fromMemorySegment(S, x, i * 4, NO);
                local(v).mul(FloatVector.fromMemorySegment(S, dout, i * 4, NO)).intoMemorySegment(dx, i * 4, NO);
            }
            if (i < e) {
                VectorMask<Float> m = S.indexInRange((int) (i - s), (int) (e - s));
                FloatVector v = FloatVector.fromMemorySegment(S, x, i * 4, NO, m);
                local(v).mul(FloatVector.fromMemorySegment(S, dout, i * 4, NO, m)).intoMemorySegment(dx, i * 4, NO, m);
            }
        });
    }

    /** gelu'(x) = σ + x·2σ(1-σ)·du/dx, du/dx = k(1 + 3a x²), σ = σ(2u). */
    private static FloatVector local(FloatVector v) {
        FloatVector sg = sigma2u(v);
        FloatVector du = v.mul(v).mul(3 * A).add(1f).mul(K);
        return v.mul(2f).mul(sg).mul(sg.neg().add(1f)).mul(du).add(sg);
    }

    /** σ(2u) = 0.5·(1 + tanh u) for u = u(x). */
    private static FloatVector sigma2u(FloatVector v) {
        FloatVector u = v.mul(v).mul(v).mul(A).add(v).mul(K);
        FloatVector ex = Vec.exp(u.add(u));
        return ex.div(ex.add(1f));
    }
}
