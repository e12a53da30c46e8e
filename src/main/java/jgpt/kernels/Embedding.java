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

    /**
     * {@link #backward}'s sums for {@code rows} positions into a flat gradient buffer g, where the
     * token embedding starts at float {@code wte} and the position embedding at {@code wpe} (-1:
     * none, as in Llama), keeping only the floats in [from, to): one rank's shard, when data
     * parallelism exchanges the rows instead of the dense gradient. Same order of additions.
     */
    public static void backwardClipped(MemorySegment g, long wte, long wpe, MemorySegment dout, int[] tokens, int rows, int T, int C,
                                       long from, long to) {
        for (int n = 0; n < rows; n++) {
            addClipped(dout, (long) n * C, g, wte + (long) tokens[n] * C, C, from, to);
            if (wpe >= 0) addClipped(dout, (long) n * C, g, wpe + (long) (n % T) * C, C, from, to);
        }
    }

    /** y[yo, yo + n) += x[xo, xo + n), only where the destination lies in [from, to). */
    private static void addClipped(MemorySegment x, long xo, MemorySegment y, long yo, int n, long from, long to) {
        long lo = Math.max(yo, from), hi = Math.min(yo + n, to);
        if (lo < hi) Vec.axpy(1f, x, xo + (lo - yo), y, lo, (int) (hi - lo));
    }
}
