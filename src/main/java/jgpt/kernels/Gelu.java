package jgpt.kernels;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static jgpt.kernels.Vec.L;
import static jgpt.kernels.Vec.S;
import static jgpt.kernels.Vec.load;
import static jgpt.kernels.Vec.store;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;

/** GPT-2's GELU, the tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
public final class Gelu {
    private static final float K = (float) Math.sqrt(2.0 / Math.PI);
    private static final float A = 0.044715f;

    private Gelu() {}

    /** tanh u = 1 - 2/(e^{2u} + 1) on {@link Vec#exp}: same bits in every JIT tier, unlike lanewise(TANH). */
    private static FloatVector tanh(FloatVector u) {
        return FloatVector.broadcast(S, 1f).sub(FloatVector.broadcast(S, 2f).div(Vec.exp(u.add(u)).add(1f)));
    }

    public static void forward(MemorySegment out, MemorySegment x, long n) {
        Vec.forChunks(n, (s, e) -> {
            FloatVector k = FloatVector.broadcast(S, K), a = FloatVector.broadcast(S, A), half = FloatVector.broadcast(S, 0.5f);
            long i = s;
            for (; i + L <= e; i += L) {
                FloatVector v = load(x, i);
                FloatVector u = v.mul(v).mul(v).mul(a).add(v).mul(k);
                store(half.mul(v).mul(tanh(u).add(1f)), out, i);
            }
            for (; i < e; i++) {
                float v = x.getAtIndex(JAVA_FLOAT, i);
                out.setAtIndex(JAVA_FLOAT, i, 0.5f * v * (1f + (float) Math.tanh(K * (v + A * v * v * v))));
            }
        });
    }

    /** dx = dout · gelu'(x) (overwrites dx; dx may alias dout). */
    public static void backward(MemorySegment dx, MemorySegment x, MemorySegment dout, long n) {
        Vec.forChunks(n, (s, e) -> {
            FloatVector k = FloatVector.broadcast(S, K), a = FloatVector.broadcast(S, A), a3 = FloatVector.broadcast(S, 3 * A);
            long i = s;
            for (; i + L <= e; i += L) {
                FloatVector v = load(x, i);
                FloatVector v2 = v.mul(v);
                FloatVector th = tanh(v2.mul(v).mul(a).add(v).mul(k));
                FloatVector sech2 = th.mul(th).neg().add(1f);
                // d/dx = 0.5(1+tanh u) + 0.5 x sech²u · k(1 + 3a x²)
                FloatVector local = th.add(1f).mul(0.5f).add(v.mul(0.5f).mul(sech2).mul(v2.mul(a3).add(1f).mul(k)));
                store(local.mul(load(dout, i)), dx, i);
            }
            for (; i < e; i++) {
                float v = x.getAtIndex(JAVA_FLOAT, i);
                float th = (float) Math.tanh(K * (v + A * v * v * v));
                float local = 0.5f * (1f + th) + 0.5f * v * (1f - th * th) * K * (1f + 3f * A * v * v);
                dx.setAtIndex(JAVA_FLOAT, i, local * dout.getAtIndex(JAVA_FLOAT, i));
            }
        });
    }
}
