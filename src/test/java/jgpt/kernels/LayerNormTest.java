package jgpt.kernels;

import static jgpt.kernels.Segs.arr;
import static jgpt.kernels.Segs.randn;
import static jgpt.kernels.Segs.seg;
import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * LayerNorm forward/backward against double loops, with and without bias. Tolerance 2e-5 absolute
 * + 1e-4 relative: row statistics are float32 sums of ≤ 257 terms and x̂ is O(1..√C).
 */
class LayerNormTest {
    @ParameterizedTest(name = "N={0} C={1} bias={2}")
    @CsvSource({"1,1,true", "3,7,false", "5,63,true", "4,65,false", "3,257,true"})
    void forwardAndBackwardMatchLoops(int N, int C, boolean bias) {
        Random r = new Random(C * 3 + N);
        float[] x = randn(r, N * C), w = randn(r, C), b = randn(r, C), dout = randn(r, N * C);
        float[] dx0 = randn(r, N * C), dw0 = randn(r, C), db0 = randn(r, C);
        MemorySegment out = seg(new float[N * C]), mean = seg(new float[N]), rstd = seg(new float[N]);
        LayerNorm.forward(out, mean, rstd, seg(x), seg(w), bias ? seg(b) : null, N, C);
        MemorySegment dx = seg(dx0), dw = seg(dw0), db = seg(db0);
        LayerNorm.backward(dx, dw, bias ? db : null, seg(dout), seg(x), seg(w), mean, rstd, N, C);
        float[] o = arr(out, N * C), gx = arr(dx, N * C), gw = arr(dw, C), gb = arr(db, C);
        double[] rdw = new double[C], rdb = new double[C];
        for (int c = 0; c < C; c++) {
            rdw[c] = dw0[c];
            rdb[c] = db0[c];
        }
        for (int n = 0; n < N; n++) {
            double m = 0, v = 0;
            for (int c = 0; c < C; c++) m += x[n * C + c];
            m /= C;
            for (int c = 0; c < C; c++) v += (x[n * C + c] - m) * (x[n * C + c] - m);
            double rs = 1 / Math.sqrt(v / C + LayerNorm.EPS);
            double sg = 0, sgx = 0;
            for (int c = 0; c < C; c++) {
                double xh = (x[n * C + c] - m) * rs;
                close(o[n * C + c], xh * w[c] + (bias ? b[c] : 0), "out");
                double g = (double) w[c] * dout[n * C + c];
                sg += g;
                sgx += g * xh;
                rdw[c] += dout[n * C + c] * xh;
                rdb[c] += dout[n * C + c];
            }
            for (int c = 0; c < C; c++) {
                double xh = (x[n * C + c] - m) * rs, g = (double) w[c] * dout[n * C + c];
                close(gx[n * C + c], dx0[n * C + c] + (g - sg / C - xh * sgx / C) * rs, "dx");
            }
        }
        for (int c = 0; c < C; c++) {
            close(gw[c], rdw[c], "dw");
            close(gb[c], bias ? rdb[c] : db0[c], "db");
        }
    }

    static void close(float got, double ref, String what) {
        assertThat(Math.abs(got - ref)).as("%s got %s ref %s", what, got, ref).isLessThanOrEqualTo(2e-5 + 1e-4 * Math.abs(ref));
    }
}
