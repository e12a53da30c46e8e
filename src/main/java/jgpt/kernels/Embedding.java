package jgpt.kernels;

import java.lang.foreign.MemorySegment;

/** GPT-2's input: token embedding plus learned position embedding. */
public final class Embedding {
    private Embedding() {}

    /** out[b, t, :] = wte[tokens[b, t], :] + wpe[t, :]. */
    public static void forward(MemorySegment out, int[] tokens, MemorySegment wte, MemorySegment wpe, int B, int T, int C) {
        Parallel.forRange(B * T, 16, (s, e) -> {
            for (int n = s; n < e; n++) {
                long o = (long) n * C;
                MemorySegment.copy(wte, (long) tokens[n] * C * 4, out, o * 4, C * 4L);
                Vec.axpy(1f, wpe, (long) (n % T) * C, out, o, C);
            }
        });
    }

    /**
     * dwte[token] += dout and dwpe[t] += dout. Serial over positions (a token can repeat, so rows
     * would collide across threads); it is O(B·T·C), negligible beside the matmuls.
     */
    public static void backward(MemorySegment dwte, MemorySegment dwpe, MemorySegment dout, int[] tokens, int B, int T, int C) {
        for (int n = 0; n < B * T; n++) {
            long o = (long) n * C;
            Vec.axpy(1f, dout, o, dwte, (long) tokens[n] * C, C);
            Vec.axpy(1f, dout, o, dwpe, (long) (n % T) * C, C);
        }
    }
}
