package jgpt.kernels;

import static jgpt.kernels.Segs.U;
import static jgpt.kernels.Segs.arr;
import static jgpt.kernels.Segs.randn;
import static jgpt.kernels.Segs.seg;
import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Matmul against double-precision loops on odd sizes (edges of the 6 x 64 micro-tile, and more
 * than one K block of 512 in each of the three products). Tolerance: a float32 sum of K products,
 * each rounded once (FMA), is within
 * γ_{K+1} = (K+1)·u of Σ|terms| (Higham's bound for recursive summation), so the check is rigorous,
 * not tuned.
 */
class MatmulTest {
    static void assertClose(float[] got, double[] ref, double[] absSum, int terms, String what) {
        for (int i = 0; i < ref.length; i++) {
            double tol = (terms + 2) * U * absSum[i] + 1e-30;
            assertThat(Math.abs(got[i] - ref[i])).as("%s[%d] got %s ref %s", what, i, got[i], ref[i]).isLessThanOrEqualTo(tol);
        }
    }

    @ParameterizedTest(name = "N={0} C={1} OC={2}")
    @CsvSource({"1,7,65", "7,63,1", "65,257,63", "257,65,7", "63,1,257", "13,300,130", "5,600,70", "9,40,700", "530,9,11", "300,600,520",
            // K past Gemm.KC (768) in each product, cut into uneven equal blocks: forward K = C, input gradient K = OC, weight gradient K = N
            "3,1601,5", "5,9,1700", "1555,7,9"})
    void forwardAndBackwardMatchLoops(int N, int C, int OC) {
        Random r = new Random(N * 1000 + C * 10 + OC);
        float[] x = randn(r, N * C), w = randn(r, OC * C), b = randn(r, OC), dout = randn(r, N * OC);
        float[] dw0 = randn(r, OC * C), db0 = randn(r, OC);
        Matmul mm = new Matmul();
        for (boolean bias : new boolean[] {false, true}) {
            MemorySegment out = seg(new float[N * OC]);
            mm.forward(out, seg(x), seg(w), bias ? seg(b) : null, N, C, OC);
            double[] ref = new double[N * OC], abs = new double[N * OC];
            for (int n = 0; n < N; n++) {
                for (int o = 0; o < OC; o++) {
                    double s = bias ? b[o] : 0, a = Math.abs(s);
                    for (int c = 0; c < C; c++) {
                        s += (double) x[n * C + c] * w[o * C + c];
                        a += Math.abs((double) x[n * C + c] * w[o * C + c]);
                    }
                    ref[n * OC + o] = s;
                    abs[n * OC + o] = a;
                }
            }
            assertClose(arr(out, N * OC), ref, abs, C + 1, "out");
        }
        // Backward: dinp is overwritten (start from garbage), dw and dbias accumulate.
        MemorySegment dinp = seg(randn(r, N * C)), dw = seg(dw0), db = seg(db0);
        mm.backward(dinp, dw, db, seg(dout), seg(x), seg(w), N, C, OC);
        double[] rdx = new double[N * C], adx = new double[N * C];
        for (int n = 0; n < N; n++) {
            for (int c = 0; c < C; c++) {
                for (int o = 0; o < OC; o++) {
                    rdx[n * C + c] += (double) dout[n * OC + o] * w[o * C + c];
                    adx[n * C + c] += Math.abs((double) dout[n * OC + o] * w[o * C + c]);
                }
            }
        }
        assertClose(arr(dinp, N * C), rdx, adx, OC, "dinp");
        double[] rdw = new double[OC * C], adw = new double[OC * C], rdb = new double[OC], adb = new double[OC];
        for (int o = 0; o < OC; o++) {
            rdb[o] = db0[o];
            adb[o] = Math.abs(db0[o]);
            for (int c = 0; c < C; c++) {
                rdw[o * C + c] = dw0[o * C + c];
                adw[o * C + c] = Math.abs(dw0[o * C + c]);
            }
            for (int n = 0; n < N; n++) {
                rdb[o] += dout[n * OC + o];
                adb[o] += Math.abs(dout[n * OC + o]);
                for (int c = 0; c < C; c++) {
                    rdw[o * C + c] += (double) dout[n * OC + o] * x[n * C + c];
                    adw[o * C + c] += Math.abs((double) dout[n * OC + o] * x[n * C + c]);
                }
            }
        }
        assertClose(arr(dw, OC * C), rdw, adw, N + 1, "dw");
        assertClose(arr(db, OC), rdb, adb, N + 1, "dbias");
    }

    @ParameterizedTest(name = "C={0} OC={1}")
    @CsvSource({"1,1", "7,63", "65,257", "257,7", "63,65"})
    void matvecMatchesLoop(int C, int OC) {
        Random r = new Random(C * 31 + OC);
        float[] x = randn(r, C), w = randn(r, OC * C), b = randn(r, OC);
        MemorySegment out = seg(new float[OC + 2]);
        Matmul.matvec(out, 2, seg(x), 0, seg(w), seg(b), C, OC);
        double[] ref = new double[OC], abs = new double[OC];
        for (int o = 0; o < OC; o++) {
            ref[o] = b[o];
            abs[o] = Math.abs(b[o]);
            for (int c = 0; c < C; c++) {
                ref[o] += (double) w[o * C + c] * x[c];
                abs[o] += Math.abs((double) w[o * C + c] * x[c]);
            }
        }
        float[] got = new float[OC];
        System.arraycopy(arr(out, OC + 2), 2, got, 0, OC);
        assertClose(got, ref, abs, C + 1, "matvec");
    }
}
