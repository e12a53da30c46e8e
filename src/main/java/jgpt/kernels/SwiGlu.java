package jgpt.kernels;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static jgpt.kernels.Vec.L;
import static jgpt.kernels.Vec.NO;
import static jgpt.kernels.Vec.S;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;

/**
 * Llama's gated MLP activation {@code h = silu(gate) · up}, over a fused input whose rows are
 * [gate (H) | up (H)] (one matmul with the adjacent gate_proj and up_proj weights);
 * silu(g) = g·σ(g), σ(g) = 1 / (1 + e^{-g}). Like {@link Gelu}, each block of a row makes three
 * passes through the thread's L1 scratch (-g, then E = e^{-g} by {@link Vec#expShifted}, then
 * the output), so no vector crosses a method call; tails are scalar with the same operations.
 */
public final class SwiGlu {
    private static final int BLOCK = Vec.SCRATCH_FLOATS;

    private SwiGlu() {}

    /** out[n, :H] = silu(gu[n, :H]) · gu[n, H:2H]. */
    public static void forward(MemorySegment out, MemorySegment gu, int N, int H) {
        Parallel.forRange(N, 4, (s, e) -> {
            MemorySegment ex = Vec.scratch();
            for (int n = s; n < e; n++) {
                long r = 2L * n * H, o = (long) n * H;
                for (int b = 0; b < H; b += BLOCK) {
                    int m = Math.min(BLOCK, H - b);
                    expNeg(ex, gu, r + b, m);
                    int i = 0;
                    for (; i + L <= m; i += L) {
                        FloatVector g = FloatVector.fromMemorySegment(S, gu, (r + b + i) * 4, NO);
                        FloatVector u = FloatVector.fromMemorySegment(S, gu, (r + H + b + i) * 4, NO);
                        FloatVector E = FloatVector.fromMemorySegment(S, ex, i * 4L, NO);
                        g.div(E.add(1f)).mul(u).intoMemorySegment(out, (o + b + i) * 4, NO);
                    }
                    for (; i < m; i++) {
                        float g = gu.getAtIndex(JAVA_FLOAT, r + b + i), u = gu.getAtIndex(JAVA_FLOAT, r + H + b + i);
                        out.setAtIndex(JAVA_FLOAT, o + b + i, g / (ex.getAtIndex(JAVA_FLOAT, i) + 1f) * u);
                    }
                }
            }
        });
    }

    /** dgu (overwritten, [N, 2H]) from dout [N, H]: dgate = dout·up·σ(g)(1 + g(1−σ(g))), dup = dout·silu(g). */
    public static void backward(MemorySegment dgu, MemorySegment dout, MemorySegment gu, int N, int H) {
        Parallel.forRange(N, 4, (s, e) -> {
            MemorySegment ex = Vec.scratch();
            FloatVector one = FloatVector.broadcast(S, 1f);
            for (int n = s; n < e; n++) {
                long r = 2L * n * H, o = (long) n * H;
                for (int b = 0; b < H; b += BLOCK) {
                    int m = Math.min(BLOCK, H - b);
                    expNeg(ex, gu, r + b, m);
                    int i = 0;
                    for (; i + L <= m; i += L) {
                        FloatVector g = FloatVector.fromMemorySegment(S, gu, (r + b + i) * 4, NO);
                        FloatVector u = FloatVector.fromMemorySegment(S, gu, (r + H + b + i) * 4, NO);
                        FloatVector d = FloatVector.fromMemorySegment(S, dout, (o + b + i) * 4, NO);
                        FloatVector sig = one.div(FloatVector.fromMemorySegment(S, ex, i * 4L, NO).add(1f));
                        d.mul(u).mul(sig).mul(g.mul(sig.neg().add(1f)).add(1f)).intoMemorySegment(dgu, (r + b + i) * 4, NO);
                        d.mul(g).mul(sig).intoMemorySegment(dgu, (r + H + b + i) * 4, NO);
                    }
                    for (; i < m; i++) {
                        float g = gu.getAtIndex(JAVA_FLOAT, r + b + i), u = gu.getAtIndex(JAVA_FLOAT, r + H + b + i);
                        float d = dout.getAtIndex(JAVA_FLOAT, o + b + i);
                        float sig = 1f / (ex.getAtIndex(JAVA_FLOAT, i) + 1f);
                        dgu.setAtIndex(JAVA_FLOAT, r + b + i, d * u * sig * (g * (-sig + 1f) + 1f));
                        dgu.setAtIndex(JAVA_FLOAT, r + H + b + i, d * g * sig);
                    }
                }
            }
        });
    }

    /** ex[i] = e^{-g[go+i]} for i < m. */
    private static void expNeg(MemorySegment ex, MemorySegment g, long go, int m) {
        int i = 0;
        for (; i + L <= m; i += L) {
            FloatVector.fromMemorySegment(S, g, (go + i) * 4, NO).neg().intoMemorySegment(ex, i * 4L, NO);
        }
        for (; i < m; i++) ex.setAtIndex(JAVA_FLOAT, i, -g.getAtIndex(JAVA_FLOAT, go + i));
        Vec.expShifted(ex, 0, 0f, ex, 0, m);
    }
}
