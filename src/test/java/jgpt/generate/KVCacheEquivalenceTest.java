package jgpt.generate;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import java.util.List;
import jgpt.model.GPT;
import jgpt.model.GPTConfig;
import jgpt.tokenizer.CharTokenizer;
import jgpt.util.Rng;
import org.junit.jupiter.api.Test;

/** Generation with the KV cache must equal recomputing the (cropped) context from scratch each step. */
class KVCacheEquivalenceTest {
    static final String ALPHABET = "abcdefghijklmnopqrstuvwxyz .,;!?ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\n";

    static GPT randomModel(GPTConfig cfg, long seed) {
        GPT model = new GPT(cfg);
        model.initWeights(new Rng(seed));
        Rng r = new Rng(seed + 1);
        // Weights far from init so the distribution is peaked and varied (argmax ties impossible).
        for (long i = 0; i < model.params().numel(); i++) {
            model.params().set(i, model.params().get(i) + (float) (0.3 * r.nextGaussian()));
        }
        return model;
    }

    /** nanoGPT's loop: crop to the last block_size tokens, full forward, argmax of the last position. */
    static int[] recomputeGreedy(GPT model, int[] prompt, int n) {
        GPTConfig c = model.config();
        int[] seq = Arrays.copyOf(prompt, prompt.length + n);
        int len = prompt.length;
        for (int s = 0; s < n; s++) {
            int start = Math.max(0, len - c.blockSize()), T = len - start;
            model.forward(Arrays.copyOfRange(seq, start, len), null, 1, T);
            long row = (long) (T - 1) * c.paddedVocab();
            int best = 0;
            for (int v = 1; v < c.vocabSize(); v++) {
                if (model.logits().getAtIndex(JAVA_FLOAT, row + v) > model.logits().getAtIndex(JAVA_FLOAT, row + best)) best = v;
            }
            seq[len++] = best;
        }
        return Arrays.copyOfRange(seq, prompt.length, len);
    }

    @Test
    void greedyTokensEqualFullRecomputeIncludingPastBlockSize() {
        CharTokenizer tok = CharTokenizer.fromText(ALPHABET);
        for (boolean tied : new boolean[] {true, false}) {
            GPTConfig cfg = new GPTConfig(2, 2, 32, 8, tok.vocabSize(), true, tied);
            try (GPT model = randomModel(cfg, tied ? 11 : 12); Generator gen = new Generator(model, tok)) {
                int[] prompt = tok.encode("Hello");
                int n = 20; // 5 + 20 tokens: the context overflows block_size 8 several times
                int[] expected = recomputeGreedy(model, prompt, n);
                Generator.Result r = gen.generate(prompt, n, SamplingParams.defaults().withTemperature(0), List.of(), null);
                assertThat(r.tokens()).as("tied=%s", tied).containsExactly(expected);
                assertThat(r.text()).isEqualTo(tok.decode(expected));
            }
        }
    }

    @Test
    void decoderLogitsEqualFullForwardAtEveryPosition() {
        GPTConfig cfg = new GPTConfig(2, 2, 32, 16, 67, true, true);
        try (GPT model = randomModel(cfg, 21); Decoder dec = new Decoder(model); KVCache cache = dec.newCache()) {
            Rng r = new Rng(5);
            int[] seq = new int[16];
            for (int i = 0; i < seq.length; i++) seq[i] = r.nextInt(67);
            model.forward(seq, null, 1, 16);
            // Prefill 6 tokens as a block, then single steps: every step's logits vs the full forward.
            float[] got = dec.prefill(cache, seq, 0, 6);
            for (int t = 5; t < 16; t++) {
                if (t > 5) got = dec.step(cache, seq[t]);
                for (int v = 0; v < 67; v++) {
                    float want = model.logits().getAtIndex(JAVA_FLOAT, (long) t * cfg.paddedVocab() + v);
                    // Same math, different summation order (matvec vs tiled matmul): float32 rounding only.
                    assertThat(got[v]).as("position %d token %d", t, v).isCloseTo(want, org.assertj.core.data.Offset.offset(1e-4f * Math.max(1f, Math.abs(want))));
                }
            }
        }
    }
}
