package jgpt.kernels;

import static jgpt.kernels.Segs.arr;
import static jgpt.kernels.Segs.randn;
import static jgpt.kernels.Segs.seg;
import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * A kernel's first (interpreted) call and its calls after the JIT has compiled it give the same
 * bits. A resumed run executes its first steps cold while the uninterrupted run is warm by then,
 * so any lane reduction whose order the compiler may change ({@code reduceLanes(ADD)}) breaks
 * exact resume. Each kernel runs here on small shapes many times; every result must equal the
 * first one. (Run alone in a fresh JVM the first call is interpreted; otherwise this still holds.)
 */
class WarmupDeterminismTest {
    private static final int WARM = 30_000;

    @Test
    void rmsNormBackwardIsTheSameColdAndWarm() {
        Random r = new Random(5);
        int N = 4, C = 48;
        MemorySegment x = seg(randn(r, N * C)), w = seg(randn(r, C)), dout = seg(randn(r, N * C)), rstd = seg(new float[N]);
        RMSNorm.forward(seg(new float[N * C]), rstd, x, w, N, C, 1e-5f);
        float[] first = null;
        for (int i = 0; i < WARM; i++) {
            MemorySegment dx = seg(new float[N * C]), dw = seg(new float[C]);
            RMSNorm.backward(dx, dw, dout, x, w, rstd, N, C);
            float[] got = arr(dx, N * C);
            if (first == null) first = got;
            else if (!java.util.Arrays.equals(got, first)) assertThat(got).as("dx at call %d", i).containsExactly(first);
        }
    }

    @Test
    void q8MatvecIsTheSameColdAndWarm() {
        Random r = new Random(6);
        int rows = 4, cols = 64;
        try (Arena arena = Arena.ofConfined()) {
            Q8Tensor q = Q8Tensor.quantize(seg(randn(r, rows * cols)), rows, cols, arena);
            MemorySegment x = seg(randn(r, cols));
            float[] first = null;
            for (int i = 0; i < WARM; i++) {
                MemorySegment out = seg(new float[rows]);
                MatvecQ8.matvec(out, 0, q, x, 0);
                float[] got = arr(out, rows);
                if (first == null) first = got;
                else if (!java.util.Arrays.equals(got, first)) assertThat(got).as("out at call %d", i).containsExactly(first);
            }
        }
    }

    /**
     * Vec.sum is the pairwise tree lane i + lane i+L/2, then + L/4, ... (for 16 lanes
     * ((l0+l8)+(l4+l12)) + ((l2+l10)+(l6+l14)) + ...), written out here in scalar code, exactly,
     * on its first call and after C2 has compiled the permutes.
     */
    @Test
    void laneSumIsThePairwiseTreeColdAndWarm() {
        Random r = new Random(7);
        var species = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED;
        int L = species.length();
        for (int i = 0; i < WARM; i++) {
            float[] v = new float[L];
            for (int k = 0; k < L; k++) v[k] = (float) (r.nextGaussian() * Math.pow(10, r.nextInt(9) - 4));
            float[] t = v.clone();
            for (int h = L / 2; h >= 1; h /= 2) for (int k = 0; k < h; k++) t[k] = t[k] + t[k + h];
            float got = Vec.sum(jdk.incubator.vector.FloatVector.fromArray(species, v, 0));
            if (Float.floatToRawIntBits(got) != Float.floatToRawIntBits(t[0])) {
                assertThat(got).as("lane sum of %s at call %d", java.util.Arrays.toString(v), i).isEqualTo(t[0]);
            }
        }
    }

    /** The kernels sum lanes with {@link Vec#sum}, never with an order-free floating-point reduction. */
    @Test
    void noSourceUsesReassociableFloatReductions() throws IOException {
        try (Stream<Path> files = Files.walk(Path.of("src/main/java"))) {
            assertThat(files.filter(f -> f.toString().endsWith(".java")).filter(f -> {
                try {
                    String s = Files.readString(f);
                    return s.contains("reduceLanes(VectorOperators.ADD)") || s.contains("reduceLanes(VectorOperators.MUL)");
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }).toList()).isEmpty();
        }
    }
}
