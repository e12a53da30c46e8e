package jgpt.kernels;

import static jgpt.kernels.Segs.arr;
import static jgpt.kernels.Segs.randn;
import static jgpt.kernels.Segs.seg;
import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Decode attention over a KV cache against a plain double-precision softmax loop. */
class DecodeAttentionTest {
    /**
     * Lengths cover one position, partial and whole vectors, and more than one 1024-score block
     * (the online-softmax rescaling); head sizes include non-multiples of the vector width. Scores
     * drift upward along the context, so that a later block raises the running max. Tolerance 2e-5 of
     * max(1, max|out|): float dot products of ≤ 65 terms, a ~1-ulp exp and float sums of up to 2500
     * weights, against doubles.
     */
    @ParameterizedTest
    @CsvSource({"1,64", "7,7", "63,65", "257,16", "1024,64", "1025,33", "2500,64"})
    void matchesReferenceSoftmax(int len, int hs) {
        Random r = new Random(len * 31L + hs);
        int stride = hs * 3 + 5, off = hs + 2; // the head sits inside wider cache rows, as in a real cache
        float[] q = randn(r, hs + 3), k = randn(r, len * stride), v = randn(r, len * stride);
        q[3] = Math.abs(q[3]) + 0.5f;
        for (int t = 0; t < len; t++) k[t * stride + off] += t * 0.01f; // scores drift upward along the context
        float scale = 1.5f;
        MemorySegment out = seg(new float[hs + 4]);
        DecodeAttention.head(seg(q), 3, seg(k), seg(v), off, stride, len, hs, scale, out, 4);
        double[] p = new double[len];
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (int t = 0; t < len; t++) {
            double d = 0;
            for (int c = 0; c < hs; c++) d += (double) q[3 + c] * k[t * stride + off + c];
            p[t] = d * scale;
            max = Math.max(max, p[t]);
        }
        for (int t = 0; t < len; t++) sum += p[t] = Math.exp(p[t] - max);
        float[] got = arr(out, hs + 4);
        double[] want = new double[hs];
        double big = 0;
        for (int c = 0; c < hs; c++) {
            for (int t = 0; t < len; t++) want[c] += p[t] / sum * v[t * stride + off + c];
            big = Math.max(big, Math.abs(want[c]));
        }
        for (int c = 0; c < 4; c++) assertThat(got[c]).as("untouched lane %d", c).isZero();
        for (int c = 0; c < hs; c++) assertThat((double) got[4 + c]).as("out[%d]", c).isCloseTo(want[c], org.assertj.core.data.Offset.offset(2e-5 * Math.max(1, big)));
    }

    @Test
    void aSinglePositionReturnsItsValue() {
        Random r = new Random(3);
        float[] q = randn(r, 16), k = randn(r, 16), v = randn(r, 16);
        MemorySegment out = seg(new float[16]);
        DecodeAttention.head(seg(q), 0, seg(k), seg(v), 0, 16, 1, 16, 0.25f, out, 0);
        assertThat(arr(out, 16)).containsExactly(v);
    }
}
