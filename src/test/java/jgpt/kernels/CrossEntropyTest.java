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
 * Cross-entropy against double loops, with padded vocabulary columns (which must get exactly zero
 * gradient and never enter the softmax: they hold huge values here). Tolerance 1e-5 absolute +
 * 1e-5 relative: float32 exp (Vec.exp, ~2 ulp) and sums of ≤ 257 terms in float.
 */
class CrossEntropyTest {
    @ParameterizedTest(name = "N={0} V={1} Vp={2}")
    @CsvSource({"1,1,1", "3,7,16", "5,63,64", "4,65,65", "2,257,300"})
    void forwardAndBackwardMatchLoops(int N, int V, int Vp) {
        Random r = new Random(V * 7 + Vp);
        float[] logits = randn(r, N * Vp);
        for (int n = 0; n < N; n++) for (int v = V; v < Vp; v++) logits[n * Vp + v] = 1e4f;
        int[] targets = new int[N];
        for (int n = 0; n < N; n++) targets[n] = r.nextInt(V);
        MemorySegment lg = seg(logits), losses = seg(new float[N]), stats = seg(new float[4 * N]);
        float mean = CrossEntropy.forward(losses, stats, lg, targets, N, V, Vp);
        float dloss = 1f / N;
        CrossEntropy.backward(lg, stats, targets, dloss, N, V, Vp);
        float[] l = arr(losses, N), g = arr(lg, N * Vp);
        double total = 0;
        for (int n = 0; n < N; n++) {
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (int v = 0; v < V; v++) max = Math.max(max, logits[n * Vp + v]);
            for (int v = 0; v < V; v++) sum += Math.exp(logits[n * Vp + v] - max);
            double loss = Math.log(sum) + max - logits[n * Vp + targets[n]];
            total += loss;
            assertThat((double) l[n]).isCloseTo(loss, org.assertj.core.data.Offset.offset(1e-5 + 1e-5 * Math.abs(loss)));
            for (int v = 0; v < Vp; v++) {
                double ref = v < V ? (Math.exp(logits[n * Vp + v] - max) / sum - (v == targets[n] ? 1 : 0)) * dloss : 0;
                if (v >= V) assertThat(g[n * Vp + v]).as("padded column gradient").isZero();
                else assertThat((double) g[n * Vp + v]).isCloseTo(ref, org.assertj.core.data.Offset.offset(1e-6 + 1e-5 * Math.abs(ref)));
            }
        }
        assertThat((double) mean).isCloseTo(total / N, org.assertj.core.data.Offset.offset(1e-5));
    }
}
