package jgpt.kernels;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Q8_0 round-trip error bound, and the int8 matvec against the f32 one. */
class Q8Test {
    @Test
    void dequantizedWeightsAreWithinHalfAStepOfTheOriginal() {
        int rows = 7, cols = 96;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment w = random(arena, rows * cols, 1);
            for (int i = 0; i < 32; i++) w.setAtIndex(JAVA_FLOAT, 32 + i, 0f); // an all-zero block
            Q8Tensor q = Q8Tensor.quantize(w, rows, cols, arena);
            assertThat(q.bytes()).isEqualTo((long) rows * cols + rows * cols / 32 * 4);
            for (int r = 0; r < rows; r++) {
                for (int b = 0; b < cols / 32; b++) {
                    float max = 0;
                    for (int i = 0; i < 32; i++) max = Math.max(max, Math.abs(w.getAtIndex(JAVA_FLOAT, (long) r * cols + b * 32 + i)));
                    for (int i = 0; i < 32; i++) {
                        int c = b * 32 + i;
                        float err = Math.abs(q.get(r, c) - w.getAtIndex(JAVA_FLOAT, (long) r * cols + c));
                        assertThat(err).isLessThanOrEqualTo(max / 254f * 1.0001f);
                    }
                }
            }
            assertThat(q.get(0, 40)).isZero();
        }
    }

    @Test
    void roundTripWritesBackExactlyTheDequantizedValues() {
        int rows = 5, cols = 64;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment w = random(arena, rows * cols, 4);
            Q8Tensor q = Q8Tensor.quantize(w, rows, cols, arena);
            float[] before = w.toArray(JAVA_FLOAT);
            Q8Tensor.roundTrip(w, rows, cols);
            int changed = 0;
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) {
                    float v = w.getAtIndex(JAVA_FLOAT, (long) r * cols + c);
                    assertThat(v).isEqualTo(q.get(r, c));
                    if (v != before[r * cols + c]) changed++;
                }
            }
            assertThat(changed).isGreaterThan(rows * cols / 2);
        }
    }

    /** Row counts that leave chunks with and without leftover rows, and a lone row (rows go in fours within a chunk). */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(ints = {1, 50, 51})
    void matvecQ8MatchesF32MatvecOfTheDequantizedWeights(int rows) {
        int cols = 256;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment w = random(arena, rows * cols, 2), x = random(arena, cols + 3, 3);
            Q8Tensor q = Q8Tensor.quantize(w, rows, cols, arena);
            MemorySegment deq = arena.allocate(rows * cols * 4L, 64);
            for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) deq.setAtIndex(JAVA_FLOAT, (long) r * cols + c, q.get(r, c));
            MemorySegment got = arena.allocate((rows + 1) * 4L, 64), want = arena.allocate(rows * 4L, 64), f32 = arena.allocate(rows * 4L, 64);
            MatvecQ8.matvec(got, 1, q, x, 3);
            Matmul.matvec(want, 0, x.asSlice(12), 0, deq, null, cols, rows);
            Matmul.matvec(f32, 0, x.asSlice(12), 0, w, null, cols, rows);
            double maxWant = 0, maxDiff = 0, maxQuant = 0;
            for (int r = 0; r < rows; r++) {
                float g = got.getAtIndex(JAVA_FLOAT, r + 1), d = want.getAtIndex(JAVA_FLOAT, r);
                maxWant = Math.max(maxWant, Math.abs(d));
                maxDiff = Math.max(maxDiff, Math.abs(g - d));
                maxQuant = Math.max(maxQuant, Math.abs(g - f32.getAtIndex(JAVA_FLOAT, r)));
            }
            // Same products, different summation order: float32 rounding only.
            assertThat(maxDiff / maxWant).isLessThan(1e-5);
            // Against the unquantized weights: quantization error of ~1% of a block's max.
            assertThat(maxQuant / maxWant).isLessThan(2e-2);
        }
    }

    static MemorySegment random(Arena arena, int n, long seed) {
        Random rnd = new Random(seed);
        MemorySegment m = arena.allocate(n * 4L, 64);
        for (int i = 0; i < n; i++) m.setAtIndex(JAVA_FLOAT, i, (float) rnd.nextGaussian());
        return m;
    }
}
