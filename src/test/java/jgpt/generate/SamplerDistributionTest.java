package jgpt.generate;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.management.ManagementFactory;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Map;
import java.util.stream.IntStream;
import jgpt.util.Rng;
import org.junit.jupiter.api.Test;

/** Statistical and allocation checks of {@link Sampler#sample}, the path generation uses. */
class SamplerDistributionTest {

    /** 0.999 quantiles of chi-square for 1..6 degrees of freedom. */
    private static final double[] CHI2_999 = {10.828, 13.816, 16.266, 18.467, 20.515, 22.458};

    @Test
    void drawsFollowTheFilteredRenormalizedDistribution() {
        float[] logits = {1.0f, 2.0f, 0.3f, 1.5f, -0.5f, 1.2f, 0.8f, 0.0f};
        double t = 0.8;
        int k = 5;
        double topP = 0.9;
        double[] expected = reference(logits, t, k, topP);
        long keptCount = Arrays.stream(expected).filter(p -> p > 0).count();
        assertThat(keptCount).isEqualTo(4); // the test is only meaningful if both k and p cut something

        int n = 20_000;
        long[] counts = new long[logits.length];
        Sampler s = new Sampler(logits.length, SamplingParams.defaults().withTemperature(t).withTopK(k).withTopP(topP));
        Rng rng = new Rng(2024);
        for (int i = 0; i < n; i++) counts[s.sample(logits, rng)]++;

        double chi2 = 0;
        for (int i = 0; i < logits.length; i++) {
            if (expected[i] == 0) {
                assertThat(counts[i]).as("draws of filtered-out token %d", i).isZero();
            } else {
                double e = n * expected[i];
                chi2 += (counts[i] - e) * (counts[i] - e) / e;
            }
        }
        assertThat(chi2).isLessThan(CHI2_999[(int) keptCount - 2]);
    }

    /** Straightforward temperature, then top-k, then top-p on the k-renormalized distribution. */
    private static double[] reference(float[] logits, double t, int k, double topP) {
        double[] w = new double[logits.length];
        for (int i = 0; i < w.length; i++) w[i] = Math.exp(logits[i] / t);
        int[] order = IntStream.range(0, w.length).boxed()
                .sorted(Comparator.comparingDouble(i -> -w[i])).mapToInt(i -> i).toArray();
        double zk = 0;
        for (int r = 0; r < k; r++) zk += w[order[r]];
        double[] p = new double[w.length];
        double cum = 0;
        double z = 0;
        for (int r = 0; r < k && cum < topP; r++) {
            cum += w[order[r]] / zk;
            p[order[r]] = w[order[r]];
            z += w[order[r]];
        }
        for (int i = 0; i < p.length; i++) p[i] /= z;
        return p;
    }

    @Test
    void sampleDoesNotAllocate() {
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        int vocab = 50_257;
        float[] logits = new float[vocab];
        Rng data = new Rng(11);
        for (int i = 0; i < vocab; i++) logits[i] = (float) (2 * data.nextGaussian());
        Sampler s = new Sampler(vocab, SamplingParams.defaults().withTemperature(0.8).withTopK(40)
                .withTopP(0.9).withMinP(0.01).withRepetitionPenalty(1.1).withFrequencyPenalty(0.2)
                .withPresencePenalty(0.1).withLogitBias(Map.of(50_256, -100f)));
        Rng rng = new Rng(1);
        for (int i = 0; i < 300; i++) s.accept(s.sample(logits, rng)); // warm up
        int calls = 200;
        long before = threads.getCurrentThreadAllocatedBytes();
        for (int i = 0; i < calls; i++) s.accept(s.sample(logits, rng));
        long allocated = threads.getCurrentThreadAllocatedBytes() - before;
        assertThat(allocated).as("bytes allocated by %d calls", calls).isLessThan(calls * 16L);
    }
}
