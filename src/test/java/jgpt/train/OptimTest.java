package jgpt.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import jgpt.model.FlatBuffer;
import jgpt.model.GPTConfig;
import jgpt.model.ParamLayout;
import jgpt.model.ParamTensor;
import org.junit.jupiter.api.Test;

class OptimTest {
    // Tiny GPT-2 layout: both matrices (decayed) and 1-D gains/biases (not decayed).
    private static final ParamLayout LAYOUT = ParamLayout.gpt2(new GPTConfig(1, 1, 4, 3, 10, true, true));

    private static void fill(FlatBuffer b, long seed) {
        java.util.Random r = new java.util.Random(seed);
        for (long i = 0; i < b.numel(); i++) b.set(i, (float) r.nextGaussian());
    }

    @Test
    void adamwMatchesTheFormulaOnAHandWorkedPair() {
        try (FlatBuffer p = new FlatBuffer(LAYOUT); FlatBuffer g = new FlatBuffer(LAYOUT);
             AdamW opt = new AdamW(p, g, 0.9, 0.95, 1e-8, 0.1)) {
            long w = LAYOUT.tensor("wte").offset();              // decayed
            long b = LAYOUT.tensor("h.0.ln_1.weight").offset();  // 1-D: not decayed
            p.zero();
            g.zero();
            p.set(w, 1.0f);
            g.set(w, 0.5f);
            p.set(b, 1.0f);
            g.set(b, 0.5f);
            opt.step(0.1f, 1);
            // Step 1 by hand: m = 0.05, v = 0.0125, m_hat = 0.5, v_hat = 0.25, update = lr * 0.5/0.5 = 0.1.
            assertThat((double) p.get(w)).isCloseTo(1.0 * (1 - 0.1 * 0.1) - 0.1, within(1e-6));
            assertThat((double) p.get(b)).isCloseTo(1.0 - 0.1, within(1e-6));
            assertThat((double) opt.m().get(w)).isCloseTo(0.05, within(1e-7));
            assertThat((double) opt.v().get(w)).isCloseTo(0.0125, within(1e-7));
        }
    }

    @Test
    void adamwMatchesDoublePrecisionOverSeveralStepsAndSkipsDecayOn1D() {
        try (FlatBuffer p = new FlatBuffer(LAYOUT); FlatBuffer g = new FlatBuffer(LAYOUT);
             AdamW opt = new AdamW(p, g, 0.9, 0.95, 1e-8, 0.1)) {
            fill(p, 1);
            int n = (int) p.numel();
            double[] pd = new double[n], md = new double[n], vd = new double[n];
            for (int i = 0; i < n; i++) pd[i] = p.get(i);
            double lr = 0.01;
            for (int t = 1; t <= 5; t++) {
                fill(g, 100 + t);
                opt.step((float) lr, t);
                for (ParamTensor pt : LAYOUT.tensors()) {
                    for (long i = pt.offset(); i < pt.offset() + pt.numel(); i++) {
                        int k = (int) i;
                        double gi = g.get(i);
                        if (pt.decayed()) pd[k] *= 1 - lr * 0.1;
                        md[k] = 0.9 * md[k] + 0.1 * gi;
                        vd[k] = 0.95 * vd[k] + 0.05 * gi * gi;
                        double denom = Math.sqrt(vd[k]) / Math.sqrt(1 - Math.pow(0.95, t)) + 1e-8;
                        pd[k] -= lr / (1 - Math.pow(0.9, t)) * md[k] / denom;
                    }
                }
            }
            for (int i = 0; i < n; i++) assertThat((double) p.get(i)).as("element %d", i).isCloseTo(pd[i], within(2e-6));
        }
    }

    @Test
    void rangeStepsOverShardsEqualOneFullStepBitForBit() {
        try (FlatBuffer p1 = new FlatBuffer(LAYOUT); FlatBuffer p2 = new FlatBuffer(LAYOUT);
             FlatBuffer g = new FlatBuffer(LAYOUT);
             AdamW full = new AdamW(p1, g, 0.1); AdamW sharded = new AdamW(p2, g, 0.1)) {
            fill(p1, 7);
            p2.copyFrom(p1);
            long mid = p1.numel() / 2 + 3; // not on a tensor or vector boundary
            for (int t = 1; t <= 3; t++) {
                fill(g, t);
                full.step(3e-3f, t);
                sharded.step(3e-3f, t, 0, mid, 1f);
                sharded.step(3e-3f, t, mid, p2.numel(), 1f);
            }
            assertThat(p2.toArray()).isEqualTo(p1.toArray());
            assertThat(sharded.v().toArray()).isEqualTo(full.v().toArray());
        }
    }

    @Test
    void clipCoefficientIsOneBelowMaxNormAndMaxNormOverNormAbove() {
        try (FlatBuffer g = new FlatBuffer(LAYOUT)) {
            g.zero();
            g.set(0, 3f);
            g.set(5, 4f); // norm 5
            double norm = GradClip.norm(g);
            assertThat(norm).isCloseTo(5.0, within(1e-12));
            assertThat(GradClip.coefficient(norm, 10.0)).isEqualTo(1f);
            assertThat(GradClip.coefficient(norm, 0.0)).as("no clipping").isEqualTo(1f);
            assertThat((double) GradClip.coefficient(norm, 1.0)).isCloseTo(1.0 / (5.0 + 1e-6), within(1e-7));
        }
    }

    /** AdamW's gradScale is promised to give the same bits as scaling the gradients in place first. */
    @Test
    void adamwGradScaleEqualsScalingTheGradientsFirst() {
        try (FlatBuffer p1 = new FlatBuffer(LAYOUT); FlatBuffer g1 = new FlatBuffer(LAYOUT);
             FlatBuffer p2 = new FlatBuffer(LAYOUT); FlatBuffer g2 = new FlatBuffer(LAYOUT);
             AdamW folded = new AdamW(p1, g1, 0.1); AdamW scaledFirst = new AdamW(p2, g2, 0.1)) {
            fill(p1, 1);
            fill(p2, 1);
            for (int t = 1; t <= 3; t++) {
                fill(g1, 10 + t);
                fill(g2, 10 + t);
                float coef = GradClip.coefficient(GradClip.norm(g1), 0.5);
                assertThat(coef).isLessThan(1f);
                folded.step(1e-2f, t, coef);
                for (long i = 0; i < g2.numel(); i++) g2.set(i, g2.get(i) * coef);
                scaledFirst.step(1e-2f, t);
            }
            for (long i = 0; i < p1.numel(); i++) assertThat(p1.get(i)).as("param %d", i).isEqualTo(p2.get(i));
        }
    }

    @Test
    void shardedNormsSumToTheGlobalNorm() {
        try (FlatBuffer g = new FlatBuffer(LAYOUT)) {
            fill(g, 3);
            long mid = g.numel() / 3;
            double parts = GradClip.sumOfSquares(g, 0, mid) + GradClip.sumOfSquares(g, mid, g.numel());
            assertThat(Math.sqrt(parts)).isCloseTo(GradClip.norm(g), within(1e-9));
        }
    }

    @Test
    void lrScheduleFollowsNanoGpt() {
        LrSchedule s = new LrSchedule(6e-4, 6e-5, 10, 110);
        assertThat(s.lr(0)).isCloseTo(6e-4 / 11, within(1e-15));
        assertThat(s.lr(9)).isCloseTo(6e-4 * 10 / 11, within(1e-15));
        assertThat(s.lr(10)).isCloseTo(6e-4, within(1e-15));             // cosine start
        assertThat(s.lr(60)).isCloseTo((6e-4 + 6e-5) / 2, within(1e-15)); // halfway
        assertThat(s.lr(110)).isCloseTo(6e-5, within(1e-15));
        assertThat(s.lr(5000)).isEqualTo(6e-5);
    }
}
