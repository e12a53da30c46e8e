package jgpt.kernels;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import jgpt.util.UserError;

/**
 * A [rows, cols] weight in Q8_0 (as in ggml / llama2.c's runq): each row is cut into blocks of 32
 * weights that share one f32 scale {@code s = max|w| / 127}, stored as int8 {@code q = round(w / s)}.
 * Dequantized {@code q·s} is within {@code s/2 = max|w|/254} of w. About 4.1× smaller than f32.
 *
 * @param q      int8 values [rows·cols]
 * @param scales one scale per block [rows·cols/32]
 */
public record Q8Tensor(int rows, int cols, MemorySegment q, MemorySegment scales) {
    public static final int BLOCK = 32;

    /** Quantizes the first rows·cols floats of w into memory of the arena. */
    public static Q8Tensor quantize(MemorySegment w, int rows, int cols, Arena arena) {
        if (cols % BLOCK != 0) throw new UserError("Q8_0 needs rows of a multiple of " + BLOCK + " weights, got " + cols);
        long n = (long) rows * cols;
        MemorySegment q = arena.allocate(n, 64);
        MemorySegment scales = arena.allocate(n / BLOCK * 4, 64);
        Parallel.forRange((int) (n / BLOCK), 256, (s, e) -> {
            for (int b = s; b < e; b++) {
                long o = (long) b * BLOCK;
                float max = 0;
                for (int i = 0; i < BLOCK; i++) max = Math.max(max, Math.abs(w.getAtIndex(JAVA_FLOAT, o + i)));
                float scale = max / 127f, inv = max == 0 ? 0 : 127f / max;
                scales.setAtIndex(JAVA_FLOAT, b, scale);
                for (int i = 0; i < BLOCK; i++) q.set(JAVA_BYTE, o + i, (byte) Math.round(w.getAtIndex(JAVA_FLOAT, o + i) * inv));
            }
        });
        return new Q8Tensor(rows, cols, q, scales);
    }

    /**
     * Replaces the first rows·cols floats of w by their Q8_0 values (quantize, then dequantize), so
     * the f32 code paths compute exactly with the weights a Q8_0 decoder sees: how `jgpt eval
     * --quant q8` measures what quantization costs in loss.
     */
    public static void roundTrip(MemorySegment w, int rows, int cols) {
        try (Arena arena = Arena.ofShared()) { // quantize works in parallel
            Q8Tensor q = quantize(w, rows, cols, arena);
            long n = (long) rows * cols;
            for (long i = 0; i < n; i++) {
                w.setAtIndex(JAVA_FLOAT, i, q.q().get(JAVA_BYTE, i) * q.scales().getAtIndex(JAVA_FLOAT, i / BLOCK));
            }
        }
    }

    /** Weight (r, c) dequantized. */
    public float get(int r, int c) {
        long i = (long) r * cols + c;
        return q.get(JAVA_BYTE, i) * scales.getAtIndex(JAVA_FLOAT, i / BLOCK);
    }

    /** Bytes held: int8 values plus scales. */
    public long bytes() {
        return q.byteSize() + scales.byteSize();
    }
}
