package jgpt.kernels;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.MemorySegment;

/**
 * Llama's gated MLP activation {@code h = silu(gate) · up}, over a fused input whose rows are
 * [gate (H) | up (H)] (one matmul with the adjacent gate_proj and up_proj weights).
 */
public final class SwiGlu {
    private SwiGlu() {}

    /** out[n, :H] = silu(gu[n, :H]) · gu[n, H:2H]. */
    public static void forward(MemorySegment out, MemorySegment gu, int N, int H) {
        Parallel.forRange(N, 4, (s, e) -> {
            for (int n = s; n < e; n++) {
                long r = 2L * n * H, o = (long) n * H;
                for (int i = 0; i < H; i++) {
                    float g = gu.getAtIndex(JAVA_FLOAT, r + i);
                    float silu = g / (1f + (float) Math.exp(-g));
                    out.setAtIndex(JAVA_FLOAT, o + i, silu * gu.getAtIndex(JAVA_FLOAT, r + H + i));
                }
            }
        });
    }

    /** dgu (overwritten, [N, 2H]) from dout [N, H]: dgate = dout·up·σ(g)(1 + g(1−σ(g))), dup = dout·silu(g). */
    public static void backward(MemorySegment dgu, MemorySegment dout, MemorySegment gu, int N, int H) {
        Parallel.forRange(N, 4, (s, e) -> {
            for (int n = s; n < e; n++) {
                long r = 2L * n * H, o = (long) n * H;
                for (int i = 0; i < H; i++) {
                    float g = gu.getAtIndex(JAVA_FLOAT, r + i), u = gu.getAtIndex(JAVA_FLOAT, r + H + i);
                    float d = dout.getAtIndex(JAVA_FLOAT, o + i);
                    float sig = 1f / (1f + (float) Math.exp(-g));
                    dgu.setAtIndex(JAVA_FLOAT, r + i, d * u * sig * (1f + g * (1f - sig)));
                    dgu.setAtIndex(JAVA_FLOAT, r + H + i, d * g * sig);
                }
            }
        });
    }
}
