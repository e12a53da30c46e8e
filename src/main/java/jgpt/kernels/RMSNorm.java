package jgpt.kernels;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static jgpt.kernels.Vec.L;
import static jgpt.kernels.Vec.NO;
import static jgpt.kernels.Vec.S;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;

/**
 * Llama's RMSNorm over the last dimension C: {@code y = x · r · w} with
 * {@code r = 1/√(mean(x²) + eps)} (HF's LlamaRMSNorm), forward and backward.
 */
public final class RMSNorm {
    private RMSNorm() {}

    /** out = x · rstd · w per row; saves rstd [N] for backward. */
    public static void forward(MemorySegment out, MemorySegment rstd, MemorySegment x, MemorySegment w, int N, int C, float eps) {
        Parallel.forRange(N, 8, (s, e) -> {
            for (int n = s; n < e; n++) {
                long r = (long) n * C;
                float rs = (float) (1.0 / Math.sqrt(Vec.dot(x, r, x, r, C) / C + eps));
                rstd.setAtIndex(JAVA_FLOAT, n, rs);
                FloatVector rv = FloatVector.broadcast(S, rs);
                int c = 0;
                for (; c + L <= C; c += L) FloatVector.fromMemorySegment(S, x, (r + c) * 4, NO).mul(rv).mul(FloatVector.fromMemorySegment(S, w, c * 4, NO)).intoMemorySegment(out, (r + c) * 4, NO);
                for (; c < C; c++) out.setAtIndex(JAVA_FLOAT, r + c, x.getAtIndex(JAVA_FLOAT, r + c) * rs * w.getAtIndex(JAVA_FLOAT, c));
            }
        });
    }

    /**
     * dx += r·g − x·r³·mean(g·x) with g = w·dout; dw += Σ dout·x·r. Rows split across threads for dx,
     * columns for dw, so no two threads sum into one element.
     */
    public static void backward(MemorySegment dx, MemorySegment dw, MemorySegment dout, MemorySegment x,
                                MemorySegment w, MemorySegment rstd, int N, int C) {
        Parallel.forRange(N, 8, (s, e) -> {
            for (int n = s; n < e; n++) {
                long r = (long) n * C;
                float rs = rstd.getAtIndex(JAVA_FLOAT, n);
                FloatVector acc = FloatVector.zero(S);
                int c = 0;
                for (; c + L <= C; c += L) acc = FloatVector.fromMemorySegment(S, w, c * 4, NO).mul(FloatVector.fromMemorySegment(S, dout, (r + c) * 4, NO)).fma(FloatVector.fromMemorySegment(S, x, (r + c) * 4, NO), acc);
                float sumGX = Vec.sum(acc); // fixed order: reduceLanes(ADD) differs cold vs JIT-compiled
                for (; c < C; c++) sumGX += w.getAtIndex(JAVA_FLOAT, c) * dout.getAtIndex(JAVA_FLOAT, r + c) * x.getAtIndex(JAVA_FLOAT, r + c);
                float k = rs * rs * rs * sumGX / C;
                FloatVector rv = FloatVector.broadcast(S, rs), kv = FloatVector.broadcast(S, k);
                c = 0;
                for (; c + L <= C; c += L) {
                    FloatVector d = FloatVector.fromMemorySegment(S, w, c * 4, NO).mul(FloatVector.fromMemorySegment(S, dout, (r + c) * 4, NO)).mul(rv).sub(FloatVector.fromMemorySegment(S, x, (r + c) * 4, NO).mul(kv));
                    FloatVector.fromMemorySegment(S, dx, (r + c) * 4, NO).add(d).intoMemorySegment(dx, (r + c) * 4, NO);
                }
                for (; c < C; c++) {
                    float d = w.getAtIndex(JAVA_FLOAT, c) * dout.getAtIndex(JAVA_FLOAT, r + c) * rs - x.getAtIndex(JAVA_FLOAT, r + c) * k;
                    dx.setAtIndex(JAVA_FLOAT, r + c, dx.getAtIndex(JAVA_FLOAT, r + c) + d);
                }
            }
        });
        Parallel.forRange(C, L, (s, e) -> {
            for (int n = 0; n < N; n++) {
                long r = (long) n * C;
                float rs = rstd.getAtIndex(JAVA_FLOAT, n);
                for (int c = s; c < e; c++) {
                    float d = dout.getAtIndex(JAVA_FLOAT, r + c) * x.getAtIndex(JAVA_FLOAT, r + c) * rs;
                    dw.setAtIndex(JAVA_FLOAT, c, dw.getAtIndex(JAVA_FLOAT, c) + d);
                }
            }
        });
    }
}
