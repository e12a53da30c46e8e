package jgpt.convert;

import jgpt.TensorCompare;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Arrays;
import jgpt.generate.KVCache;
import jgpt.generate.TokenDecoder;
import jgpt.io.SafeTensors;
import jgpt.model.GPTConfig;
import jgpt.model.LanguageModel;
import jgpt.model.ParamTensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Imported HF models against float64 PyTorch ({@code tools/gen_llama_fixture.py}): logits, loss,
 * every gradient, 20 greedy tokens through the KV-cache decoder; export round trip; llama2.c
 * import equal to the safetensors import. Errors are per tensor max|jgpt − ref| / max|ref|.
 */
class ImportReferenceTest {
    static final Path FIXTURES = Path.of("src/test/resources/fixtures");

    static Path dir(String name) {
        return FIXTURES.resolve(name);
    }

    static double relErr(float[] got, float[] ref) {
        return TensorCompare.relErr(got, ref);
    }

    static float[] rows(MemorySegment seg, int rows, int cols, int stride) {
        return TensorCompare.rows(seg, rows, cols, stride);
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama_tiny", "gpt2_hf_tiny"})
    void logitsLossGradsAndGreedyMatchPyTorch(String fixture) {
        try (LanguageModel model = HfFormat.read(dir(fixture));
             SafeTensors ref = SafeTensors.open(dir(fixture).resolve("reference.safetensors"))) {
            GPTConfig c = model.config();
            assertThat(c.isLlama()).isEqualTo(fixture.startsWith("llama"));
            int[] x = ref.ints("x");
            int B = (int) ref.info("x").shape()[0], T = (int) ref.info("x").shape()[1], V = c.vocabSize();
            float loss = model.forward(x, ref.ints("y"), B, T);
            assertThat(relErr(rows(model.logits(), B * T, V, c.paddedVocab()), ref.floats("logits"))).isLessThan(1e-5);
            assertThat(Math.abs((double) loss - ref.floats("loss")[0]) / ref.floats("loss")[0]).isLessThan(1e-5);

            model.zeroGrad();
            model.backward(1f);
            for (ParamTensor t : model.layout().tensors()) {
                float[] want = ref.floats("grad." + t.name());
                float[] got = t.shape().length == 2
                        ? rows(model.grads().view(t.name()), want.length / t.shape()[1], t.shape()[1], t.shape()[1])
                        : model.grads().toArray(t.name());
                assertThat(relErr(got, want)).as("grad.%s", t.name()).isLessThan(1e-4);
            }
            assertThat(greedy(model, ref.ints("prompt"), 20)).containsExactly(ref.ints("greedy"));
        }
    }

    /** Greedy continuation through the model's KV-cache decoder. */
    static int[] greedy(LanguageModel model, int[] prompt, int n) {
        try (TokenDecoder dec = TokenDecoder.of(model); KVCache cache = dec.newCache()) {
            return greedy(dec, cache, prompt, n);
        }
    }

    static int[] greedy(TokenDecoder dec, KVCache cache, int[] prompt, int n) {
        int[] out = new int[n];
        float[] logits = dec.prefill(cache, prompt, 0, prompt.length);
        for (int i = 0; i < n; i++) {
            out[i] = argmax(logits);
            if (i + 1 < n) logits = dec.step(cache, out[i]);
        }
        return out;
    }

    static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama_tiny", "gpt2_hf_tiny"})
    void exportThenImportGivesIdenticalLogits(String fixture, @TempDir Path tmp) {
        try (LanguageModel a = HfFormat.read(dir(fixture))) {
            HfFormat.write(a, tmp);
            try (LanguageModel b = HfFormat.read(tmp)) {
                assertThat(b.config()).isEqualTo(a.config());
                assertThat(b.params().toArray()).containsExactly(a.params().toArray());
                int[] x = {1, 2, 3, 4, 5, 6, 7, 8};
                a.forward(x, null, 1, 8);
                b.forward(x, null, 1, 8);
                assertThat(b.logits().toArray(JAVA_FLOAT))
                        .containsExactly(a.logits().toArray(JAVA_FLOAT));
            }
        }
    }

    @Test
    void llama2cImportEqualsSafetensorsImport() {
        try (LanguageModel hf = HfFormat.read(dir("llama_tiny"));
             LanguageModel l2c = Llama2cFormat.read(dir("llama_tiny").resolve("model.bin"))) {
            assertThat(l2c.config()).isEqualTo(hf.config());
            for (ParamTensor t : hf.layout().tensors()) {
                assertThat(Arrays.equals(l2c.params().toArray(t.name()), hf.params().toArray(t.name()))).as(t.name()).isTrue();
            }
        }
    }
}
