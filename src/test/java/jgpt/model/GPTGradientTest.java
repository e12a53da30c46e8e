package jgpt.model;

import static org.assertj.core.api.Assertions.assertThat;

import jgpt.GradCheck;
import jgpt.util.Rng;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The whole model's hand-written backward against central finite differences, tensor by tensor. */
class GPTGradientTest {

    @ParameterizedTest(name = "tied={0} bias={1}")
    @CsvSource({"true,true", "false,true", "true,false"})
    void everyParameterTensorMatchesFiniteDifferences(boolean tied, boolean bias) {
        GPTConfig cfg = new GPTConfig(2, 2, 32, 8, 67, bias, tied);
        int B = 2, T = 8;
        try (GPT model = new GPT(cfg)) {
            model.initWeights(new Rng(1));
            // Larger-than-init weights so every path (attention, LN gains) carries real gradient.
            Rng r = new Rng(2);
            for (long i = 0; i < model.params().numel(); i++) {
                model.params().set(i, model.params().get(i) + (float) (0.05 * r.nextGaussian()));
            }
            int[][] xy = tokens(r, B * T);
            int[] x = xy[0], y = xy[1];
            model.zeroGrad();
            model.forward(x, y, B, T);
            model.backward(1f);
            Rng dir = new Rng(3);
            int checked = 0;
            for (ParamTensor t : model.layout().tensors()) {
                long n = t.name().equals("wte") || t.name().equals("lm_head.weight") ? 67L * 32 : t.numel();
                double[] na = GradCheck.directionalExtrapolated(model.params().data(), t.offset(), n,
                        model.grads().data(), t.offset(), () -> model.forward(x, y, B, T), 4e-3, dir);
                // The loss is computed in float32 (~1e-6 absolute noise). A plain central quotient at
                // step 1e-3 carried up to ~3e-4 of noise and h² truncation together (a different token
                // draw once missed 5e-4); extrapolated from steps 4e-3 and 8e-3 the worst miss over 6
                // draws x 3 directions x every tensor was 7.5e-5 beyond 0.2%. A wrong or missing term
                // shifts the directional derivative (0.01..3 here) by far more than 2.5e-4 + 0.2%.
                assertThat(Math.abs(na[0] - na[1])).as("%s numeric %g analytic %g", t.name(), na[0], na[1])
                        .isLessThan(2.5e-4 + 2e-3 * Math.abs(na[1]));
                checked++;
            }
            assertThat(checked).isEqualTo(model.layout().tensors().size());
        }
    }

    /**
     * backward without accumulate promises the bits of zeroGrad then backward: the gradient buffer
     * starts as NaN everywhere, so any element it fails to overwrite (a missed tensor, wpe's
     * unused rows past T, the vocabulary's padding rows) shows.
     */
    @ParameterizedTest(name = "tied={0} bias={1}")
    @CsvSource({"true,true", "false,true", "true,false"})
    void overwritingBackwardEqualsZeroingFirst(boolean tied, boolean bias) {
        GPTConfig cfg = new GPTConfig(2, 2, 32, 16, 67, bias, tied);
        int B = 2, T = 8;
        try (GPT model = new GPT(cfg)) {
            model.initWeights(new Rng(11));
            Rng r = new Rng(12);
            int[][] xy = tokens(r, B * T);
            int[] x = xy[0], y = xy[1];
            model.forward(x, y, B, T);
            model.zeroGrad();
            model.backward(0.5f);
            float[] zeroedFirst = new float[(int) model.grads().numel()];
            for (int i = 0; i < zeroedFirst.length; i++) zeroedFirst[i] = model.grads().get(i);
            for (long i = 0; i < model.grads().numel(); i++) model.grads().set(i, Float.NaN);
            model.forward(x, y, B, T);
            model.backward(0.5f, false);
            for (int i = 0; i < zeroedFirst.length; i++) {
                assertThat(model.grads().get(i)).as("gradient element %d", i).isEqualTo(zeroedFirst[i]);
            }
        }
    }

    @Test
    void gradientAccumulationAddsScaledMicroBatches() {
        GPTConfig cfg = new GPTConfig(1, 2, 32, 8, 67, true, true);
        try (GPT model = new GPT(cfg)) {
            model.initWeights(new Rng(5));
            Rng r = new Rng(6);
            int[][] xy = tokens(r, 16);
            int[] x = xy[0], y = xy[1];
            model.zeroGrad();
            model.forward(x, y, 2, 8);
            model.backward(1f);
            float[] once = model.grads().toArray();
            model.zeroGrad();
            for (int k = 0; k < 2; k++) {
                model.forward(x, y, 2, 8);
                model.backward(0.5f);
            }
            float[] twice = model.grads().toArray();
            for (int i = 0; i < once.length; i++) assertThat(twice[i]).isCloseTo(once[i], org.assertj.core.data.Offset.offset(1e-6f + 1e-5f * Math.abs(once[i])));
        }
    }

    /** n (input, target) token pairs below the tests' vocabulary of 67, drawn pair by pair. */
    private static int[][] tokens(Rng r, int n) {
        int[] x = new int[n], y = new int[n];
        for (int i = 0; i < n; i++) {
            x[i] = r.nextInt(67);
            y[i] = r.nextInt(67);
        }
        return new int[][] {x, y};
    }
}
