package jgpt.generate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.Arrays;
import java.util.Map;
import java.util.stream.IntStream;
import jgpt.util.Rng;
import org.junit.jupiter.api.Test;

class SamplerTest {

    private static final SamplingParams D = SamplingParams.defaults();

    @Test
    void temperatureGivesSoftmaxOfScaledLogits() {
        float[] logits = {1f, 2f, 0.5f, -1f, 3f};
        for (double t : new double[] {0.5, 2.0}) {
            Explanation e = explain(new Sampler(5, D.withTemperature(t)), logits);
            double[] expected = softmax(logits, t);
            for (Explanation.Candidate c : e.candidates()) {
                assertThat(c.pAfterTemperature()).isCloseTo(expected[c.token()], within(1e-12));
                assertThat(c.p()).isCloseTo(expected[c.token()], within(1e-12));
                assertThat(c.pBeforeTemperature()).isCloseTo(softmax(logits, 1)[c.token()], within(1e-12));
            }
        }
    }

    @Test
    void stagesThatAreOffChangeNothing() {
        float[] logits = {0.1f, -2f, 4f, 1.5f};
        Sampler s = new Sampler(4, D);
        s.addPrompt(new int[] {0, 2});
        s.accept(2);
        for (Explanation.Candidate c : explain(s, logits).candidates()) {
            assertThat(c.adjustedLogit()).isEqualTo(c.logit());
            assertThat(c.p()).isCloseTo(c.pModel(), within(1e-12));
        }
    }

    @Test
    void zeroTemperatureAndTopKOneAreArgmaxWithTiesToLowestId() {
        Rng data = new Rng(1);
        for (int trial = 0; trial < 50; trial++) {
            float[] logits = randomLogits(data, 100);
            int argmax = 0;
            for (int i = 1; i < logits.length; i++) if (logits[i] > logits[argmax]) argmax = i;
            Rng rng = new Rng(trial);
            assertThat(new Sampler(100, D.withTemperature(0)).sample(logits, rng)).isEqualTo(argmax);
            assertThat(new Sampler(100, D.withTopK(1)).sample(logits, rng)).isEqualTo(argmax);
        }
        float[] tied = {1f, 3f, 0f, 3f};
        assertThat(new Sampler(4, D.withTemperature(0)).sample(tied, new Rng(0))).isEqualTo(1);
        assertThat(new Sampler(4, D.withTopK(1)).sample(tied, new Rng(0))).isEqualTo(1);
        Explanation e = explain(new Sampler(4, D.withTemperature(0)), tied);
        assertThat(e.token()).isEqualTo(1);
        assertThat(e.logProb()).isZero();
    }

    @Test
    void topKKeepsExactlyTheKLargest() {
        float[] logits = randomLogits(new Rng(3), 200);
        double[] p = finalDistribution(new Sampler(200, D.withTopK(10)), logits);
        Integer[] byLogit = IntStream.range(0, 200).boxed()
                .sorted((a, b) -> Float.compare(logits[b], logits[a])).toArray(Integer[]::new);
        double z = 0;
        for (int r = 0; r < 10; r++) z += Math.exp(logits[byLogit[r]]);
        for (int r = 0; r < 200; r++) {
            double expected = r < 10 ? Math.exp(logits[byLogit[r]]) / z : 0;
            assertThat(p[byLogit[r]]).isCloseTo(expected, within(1e-9));
        }
        assertThat(Arrays.stream(p).filter(x -> x > 0).count()).isEqualTo(10);
    }

    @Test
    void topKAtOrAboveVocabularyIsOff() {
        float[] logits = {0.3f, 1f, -1f};
        assertThat(finalDistribution(new Sampler(3, D.withTopK(3)), logits))
                .containsExactly(softmax(logits, 1), within(1e-12));
        assertThat(finalDistribution(new Sampler(3, D.withTopK(50)), logits))
                .containsExactly(softmax(logits, 1), within(1e-12));
    }

    @Test
    void topPKeepsTheSmallestPrefixReachingP() {
        // ids deliberately not in probability order
        float[] logits = logitsOf(0.15, 0.5, 0.05, 0.3);
        assertThat(kept(D.withTopP(0.8), logits)).containsExactly(false, true, false, true);
        assertThat(kept(D.withTopP(0.81), logits)).containsExactly(true, true, false, true);
        assertThat(kept(D.withTopP(0.5), logits)).containsExactly(false, true, false, false);
        assertThat(kept(D.withTopP(1e-9), logits)).containsExactly(false, true, false, false);
        assertThat(kept(D.withTopP(0.999), logits)).containsExactly(true, true, true, true);
        double[] p = finalDistribution(new Sampler(4, D.withTopP(0.8)), logits);
        assertThat(p[1]).isCloseTo(0.5 / 0.8, within(1e-6));
        assertThat(p[3]).isCloseTo(0.3 / 0.8, within(1e-6));
    }

    @Test
    void topPActsOnTheDistributionRenormalizedAfterTopK() {
        float[] logits = logitsOf(0.4, 0.3, 0.2, 0.1);
        // p first would keep 0.4 + 0.3 (two tokens); after k = 2 the top token has 4/7 >= 0.5 alone
        assertThat(kept(D.withTopP(0.5), logits)).containsExactly(true, true, false, false);
        assertThat(kept(D.withTopK(2).withTopP(0.5), logits)).containsExactly(true, false, false, false);
        Explanation e = explain(new Sampler(4, D.withTopK(2).withTopP(0.5)), logits);
        assertThat(e.candidates().get(0).pAfterTopK()).isCloseTo(4.0 / 7, within(1e-6));
        assertThat(e.candidates().get(1).pAfterTopK()).isCloseTo(3.0 / 7, within(1e-6));
        assertThat(e.candidates().get(1).pAfterTopP()).isZero();
        assertThat(e.candidates().get(2).pAfterTopK()).isZero();
    }

    @Test
    void minPDropsTokensBelowAFractionOfTheMax() {
        float[] logits = logitsOf(0.05, 0.5, 0.3, 0.15);
        assertThat(kept(D.withMinP(0.2), logits)).containsExactly(false, true, true, true); // < 0.1 goes
        assertThat(kept(D.withMinP(0.31), logits)).containsExactly(false, true, true, false); // < 0.155 goes
        assertThat(kept(D.withMinP(1), logits)).containsExactly(false, true, false, false);
        double[] p = finalDistribution(new Sampler(4, D.withMinP(0.31)), logits);
        assertThat(p[1]).isCloseTo(0.5 / 0.8, within(1e-6));
    }

    @Test
    void penaltiesFollowTheirFormulas() {
        float[] logits = {2f, -1f, 0.5f, 3f, 1f};
        Sampler s = new Sampler(5, D.withRepetitionPenalty(1.5).withFrequencyPenalty(0.5).withPresencePenalty(0.25));
        s.addPrompt(new int[] {0, 1, 1});
        s.accept(2);
        s.accept(2);
        s.accept(3);
        float[] adjusted = adjustedLogits(s, logits);
        assertThat(adjusted[0]).isCloseTo(2f / 1.5f, within(1e-6f)); // prompt: repetition penalty only
        assertThat(adjusted[1]).isCloseTo(-1f * 1.5f, within(1e-6f)); // negative: multiplied, once
        assertThat(adjusted[2]).isCloseTo(0.5f / 1.5f - (2 * 0.5f + 0.25f), within(1e-6f));
        assertThat(adjusted[3]).isCloseTo(3f / 1.5f - (1 * 0.5f + 0.25f), within(1e-6f));
        assertThat(adjusted[4]).isEqualTo(1f); // never seen
        double[] p = finalDistribution(s, logits);
        assertThat(p).containsExactly(softmax(adjusted, 1), within(1e-12));

        s.reset();
        assertThat(adjustedLogits(s, logits)).containsExactly(logits);
    }

    @Test
    void logitBiasIsAddedBeforeThePenalties() {
        float[] logits = {2f, -1f, 0.5f};
        Sampler bias = new Sampler(3, D.withLogitBias(Map.of(1, 3f, 2, -100f)));
        assertThat(adjustedLogits(bias, logits)).containsExactly(2f, 2f, -99.5f);
        assertThat(finalDistribution(bias, logits)[2]).isLessThan(1e-40);

        // -1 + 3 = 2 > 0, so the repetition penalty divides
        Sampler both = new Sampler(3, D.withLogitBias(Map.of(1, 3f)).withRepetitionPenalty(2));
        both.addPrompt(new int[] {1});
        assertThat(adjustedLogits(both, logits)[1]).isEqualTo(1f);
    }

    @Test
    void paddedLogitsBeyondTheVocabularyAreIgnored() {
        float[] padded = {0f, 1f, 0.5f, 100f, 100f};
        assertThat(new Sampler(3, D.withTemperature(0)).sample(padded, new Rng(0))).isEqualTo(1);
        assertThat(finalDistribution(new Sampler(3, D), padded)).hasSize(3);
    }

    @Test
    void badLogitsAreRejected() {
        Sampler s = new Sampler(3, D);
        assertThatThrownBy(() -> s.sample(new float[] {0f, Float.NaN, 1f}, new Rng(0)))
                .hasMessage("logit 1 is NaN");
        float ninf = Float.NEGATIVE_INFINITY;
        assertThatThrownBy(() -> s.sample(new float[] {ninf, ninf, ninf}, new Rng(0)))
                .hasMessage("every logit is -infinity");
        assertThatThrownBy(() -> s.sample(new float[2], new Rng(0))).hasMessage("2 logits for a vocabulary of 3");
    }

    @Test
    void sameSeedSameDrawsDifferentSeedDifferentDraws() {
        SamplingParams params = D.withTemperature(0.9).withTopK(20).withTopP(0.95).withFrequencyPenalty(0.3);
        float[] logits = randomLogits(new Rng(5), 64);
        int[] a = generate(params.withSeed(42), logits, 200);
        assertThat(generate(params.withSeed(42), logits, 200)).containsExactly(a);
        assertThat(generate(params.withSeed(43), logits, 200)).isNotEqualTo(a);
    }

    @Test
    void explainedDrawIsTheSameDrawAndConsumesTheSameRandomness() {
        SamplingParams params = D.withTemperature(0.7).withTopK(30).withTopP(0.9).withMinP(0.02);
        float[] logits = randomLogits(new Rng(9), 300);
        for (long seed = 0; seed < 30; seed++) {
            Rng r1 = new Rng(seed);
            Rng r2 = new Rng(seed);
            int plain = new Sampler(300, params).sample(logits, r1);
            Explanation e = new Sampler(300, params).sampleExplained(logits, r2, 5);
            assertThat(e.token()).isEqualTo(plain);
            assertThat(r2.state()).isEqualTo(r1.state());
            assertThat(e.candidates()).hasSize(5);
            assertThat(e.modelLogProb()).isCloseTo(Math.log(softmax(logits, 1)[plain]), within(1e-9));
            double[] p = finalDistribution(new Sampler(300, params), logits);
            assertThat(e.logProb()).isCloseTo(Math.log(p[plain]), within(1e-12));
        }
    }

    // --- helpers ---

    static int[] generate(SamplingParams params, float[] logits, int n) {
        Sampler s = new Sampler(logits.length, params);
        Rng rng = params.newRng();
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            out[i] = s.sample(logits, rng);
            s.accept(out[i]);
        }
        return out;
    }

    static Explanation explain(Sampler s, float[] logits) {
        return s.sampleExplained(logits, new Rng(0), s.vocabSize());
    }

    static double[] finalDistribution(Sampler s, float[] logits) {
        double[] p = new double[s.vocabSize()];
        for (Explanation.Candidate c : explain(s, logits).candidates()) p[c.token()] = c.p();
        return p;
    }

    static float[] adjustedLogits(Sampler s, float[] logits) {
        float[] a = new float[s.vocabSize()];
        for (Explanation.Candidate c : explain(s, logits).candidates()) a[c.token()] = c.adjustedLogit();
        return a;
    }

    static boolean[] kept(SamplingParams params, float[] logits) {
        double[] p = finalDistribution(new Sampler(logits.length, params), logits);
        boolean[] k = new boolean[p.length];
        for (int i = 0; i < p.length; i++) k[i] = p[i] > 0;
        return k;
    }

    static float[] logitsOf(double... probs) {
        float[] l = new float[probs.length];
        for (int i = 0; i < probs.length; i++) l[i] = (float) Math.log(probs[i]);
        return l;
    }

    static double[] softmax(float[] logits, double t) {
        double max = Double.NEGATIVE_INFINITY;
        for (float x : logits) max = Math.max(max, x / t);
        double[] p = new double[logits.length];
        double z = 0;
        for (int i = 0; i < p.length; i++) z += p[i] = Math.exp(logits[i] / t - max);
        for (int i = 0; i < p.length; i++) p[i] /= z;
        return p;
    }

    static float[] randomLogits(Rng rng, int n) {
        float[] l = new float[n];
        for (int i = 0; i < n; i++) l[i] = (float) (3 * rng.nextGaussian());
        return l;
    }
}
