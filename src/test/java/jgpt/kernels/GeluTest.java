package jgpt.kernels;

import static jgpt.kernels.Segs.arr;
import static jgpt.kernels.Segs.randn;
import static jgpt.kernels.Segs.seg;
import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * GELU (tanh form) against Math.tanh in double. Tolerance 1e-6 absolute + 1e-5 relative: tanh via
 * Vec.exp as 1 - 2/(e^{2u}+1) loses up to a few ulp of 1 (~3e-7) near u = 0.
 */
class GeluTest {
    @ParameterizedTest(name = "n={0}")
    @ValueSource(ints = {1, 7, 63, 65, 257, 5000})
    void forwardAndBackwardMatchFormula(int n) {
        Random r = new Random(n);
        float[] x = randn(r, n), dout = randn(r, n);
        for (int i = 0; i < n; i += 5) x[i] *= 6; // tails where tanh saturates
        MemorySegment out = seg(new float[n]), dx = seg(new float[n]);
        Gelu.forward(out, seg(x), n);
        Gelu.backward(dx, seg(x), seg(dout), n);
        float[] o = arr(out, n), g = arr(dx, n);
        double k = Math.sqrt(2 / Math.PI);
        for (int i = 0; i < n; i++) {
            double v = x[i], th = Math.tanh(k * (v + 0.044715 * v * v * v));
            double y = 0.5 * v * (1 + th);
            double d = (0.5 * (1 + th) + 0.5 * v * (1 - th * th) * k * (1 + 3 * 0.044715 * v * v)) * dout[i];
            assertThat(Math.abs(o[i] - y)).as("gelu(%s)", v).isLessThanOrEqualTo(1e-6 + 1e-5 * Math.abs(y));
            assertThat(Math.abs(g[i] - d)).as("gelu'(%s)", v).isLessThanOrEqualTo(1e-6 + 1e-5 * Math.abs(d));
        }
    }
}
