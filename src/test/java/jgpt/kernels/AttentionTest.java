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
 * Attention against a scalar double-precision reference, with T crossing Gemm's 120-row blocks,
 * its 64-column panels and (T = 800) its 768-deep K blocks under the causal masks
 * and head sizes that are not multiples of the vector width. Tolerance 2e-5 absolute + 1e-4
 * relative: outputs are O(1) mixtures of float32 products over at most T ≤ 800 terms (~1e-5 rounding)
 * plus Vec.exp's ~1-2 ulp; a wrong mask or block edge is off by O(0.1).
 */
class AttentionTest {
    @ParameterizedTest(name = "B={0} T={1} NH={2} hs={3}")
    @CsvSource({"1,1,1,7", "2,7,2,3", "1,65,3,16", "2,130,2,17", "1,257,1,63", "1,800,1,8"})
    void forwardAndBackwardMatchReference(int B, int T, int NH, int hs) {
        int C = NH * hs;
        Random r = new Random(T * 100 + hs);
        float[] qkv = randn(r, B * T * 3 * C), dout = randn(r, B * T * C);
        MemorySegment out = seg(new float[B * T * C]), att = seg(new float[B * NH * T * T]);
        MemorySegment dqkv = seg(randn(r, B * T * 3 * C)); // overwritten
        Attention.forward(out, att, seg(qkv), B, T, C, NH);
        Attention.backward(dqkv, seg(dout), seg(qkv), att, B, T, C, NH);

        double[] rout = new double[B * T * C], rd = new double[B * T * 3 * C];
        double scale = 1 / Math.sqrt(hs);
        for (int b = 0; b < B; b++) {
            for (int h = 0; h < NH; h++) {
                for (int t = 0; t < T; t++) {
                    int q = (b * T + t) * 3 * C + h * hs;
                    double[] p = new double[t + 1];
                    double max = Double.NEGATIVE_INFINITY, sum = 0;
                    for (int u = 0; u <= t; u++) {
                        int k = (b * T + u) * 3 * C + C + h * hs;
                        for (int d = 0; d < hs; d++) p[u] += (double) qkv[q + d] * qkv[k + d] * scale;
                        max = Math.max(max, p[u]);
                    }
                    for (int u = 0; u <= t; u++) sum += p[u] = Math.exp(p[u] - max);
                    int o = (b * T + t) * C + h * hs;
                    double[] dp = new double[t + 1];
                    double dsum = 0;
                    for (int u = 0; u <= t; u++) {
                        p[u] /= sum;
                        int v = (b * T + u) * 3 * C + 2 * C + h * hs;
                        for (int d = 0; d < hs; d++) {
                            rout[o + d] += p[u] * qkv[v + d];
                            dp[u] += (double) dout[o + d] * qkv[v + d];
                            rd[v + d] += p[u] * dout[o + d];
                        }
                        dsum += p[u] * dp[u];
                    }
                    for (int u = 0; u <= t; u++) {
                        double ds = p[u] * (dp[u] - dsum) * scale;
                        int k = (b * T + u) * 3 * C + C + h * hs;
                        for (int d = 0; d < hs; d++) {
                            rd[q + d] += ds * qkv[k + d];
                            rd[k + d] += ds * qkv[q + d];
                        }
                    }
                }
            }
        }
        check(arr(out, B * T * C), rout, "out");
        check(arr(dqkv, B * T * 3 * C), rd, "dqkv");
        float[] a = arr(att, B * NH * T * T);
        for (int row = 0; row < B * NH * T; row++) {
            for (int u = row % T + 1; u < T; u++) assertThat(a[row * T + u]).as("masked probability").isZero();
        }
    }

    static void check(float[] got, double[] ref, String what) {
        for (int i = 0; i < ref.length; i++) {
            assertThat(Math.abs(got[i] - ref[i])).as("%s[%d] got %s ref %s", what, i, got[i], ref[i])
                    .isLessThanOrEqualTo(2e-5 + 1e-4 * Math.abs(ref[i]));
        }
    }
}
