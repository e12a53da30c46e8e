package jgpt.kernels;

import static jgpt.kernels.Segs.arr;
import static jgpt.kernels.Segs.randn;
import static jgpt.kernels.Segs.seg;
import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Embedding against loops. Exact: forward is one float add per element; backward sums at most B·T terms per row in the same order as the loop. */
class EmbeddingTest {
    @ParameterizedTest(name = "B={0} T={1} C={2}")
    @CsvSource({"1,1,1", "2,7,63", "3,5,65", "1,9,257"})
    void forwardAndBackwardMatchLoops(int B, int T, int C) {
        Random r = new Random(C);
        int V = 5;
        int[] tokens = new int[B * T];
        for (int i = 0; i < tokens.length; i++) tokens[i] = r.nextInt(V); // repeats on purpose
        float[] wte = randn(r, V * C), wpe = randn(r, T * C), dout = randn(r, B * T * C);
        float[] dwte0 = randn(r, V * C), dwpe0 = randn(r, T * C);
        MemorySegment out = seg(new float[B * T * C]), dwte = seg(dwte0), dwpe = seg(dwpe0);
        Embedding.forward(out, tokens, seg(wte), seg(wpe), B, T, C);
        Embedding.backward(dwte, dwpe, seg(dout), tokens, B, T, C);
        float[] o = arr(out, B * T * C), gte = dwte0.clone(), gpe = dwpe0.clone();
        for (int n = 0; n < B * T; n++) {
            for (int c = 0; c < C; c++) {
                assertThat(o[n * C + c]).isEqualTo(wte[tokens[n] * C + c] + wpe[(n % T) * C + c]);
                gte[tokens[n] * C + c] += dout[n * C + c];
                gpe[(n % T) * C + c] += dout[n * C + c];
            }
        }
        assertThat(arr(dwte, V * C)).containsExactly(gte);
        assertThat(arr(dwpe, T * C)).containsExactly(gpe);
    }
}
