package jgpt.model;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import jgpt.util.Rng;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link LanguageModel.Hooks#takeEmbeddingGradient} and {@link LanguageModel#addEmbeddingGradient}:
 * a backward whose hook takes the embedding's gradient rows, which are then added back in two
 * clipped ranges (a shard boundary inside an embedding row), gives exactly the gradients of a plain
 * backward: the same additions in the same order, so bit for bit.
 */
class EmbeddingRowsTest {

    @ParameterizedTest(name = "arch={0} tied={1}")
    @CsvSource({"gpt2,true", "gpt2,false", "llama,true", "llama,false"})
    void rowsTakenAndAddedBackGiveThePlainBackward(String arch, boolean tied) {
        int B = 2, T = 8, V = 37, C = 32;
        GPTConfig cfg = "llama".equals(arch) ? GPTConfig.llama(2, 2, 1, C, 64, 16, V, tied, 10000, 1e-5)
                : new GPTConfig(2, 2, C, 16, V, true, tied);
        Rng r = new Rng(5);
        int[] x = new int[B * T], y = new int[B * T];
        for (int i = 0; i < x.length; i++) {
            x[i] = r.nextInt(V);
            y[i] = r.nextInt(V);
        }
        x[3] = x[11]; // a repeated token: its row gains two contributions
        try (LanguageModel model = LanguageModel.create(cfg); Arena arena = Arena.ofConfined()) {
            model.initWeights(new Rng(1));
            model.zeroGrad();
            model.forward(x, y, B, T);
            model.backward(1f);
            float[] plain = model.grads().toArray();

            MemorySegment rows = arena.allocate((long) B * T * C * 4);
            int[] taken = new int[B * T];
            model.setHooks(new LanguageModel.Hooks() {
                @Override
                public boolean takeEmbeddingGradient(MemorySegment dout, int[] tokens, int n) {
                    assertThat(n).isEqualTo(B * T);
                    MemorySegment.copy(dout, 0, rows, 0, (long) n * C * 4);
                    System.arraycopy(tokens, 0, taken, 0, n);
                    return true;
                }
            });
            model.zeroGrad();
            model.forward(x, y, B, T);
            model.backward(1f);
            model.setHooks(null);
            assertThat(model.grads().toArray()).as("the model added nothing for the taken rows").isNotEqualTo(plain);
            long mid = model.layout().tensors().get(0).offset() + (long) x[0] * C + C / 2; // inside token x[0]'s row
            model.addEmbeddingGradient(rows, taken, B * T, 0, mid);
            model.addEmbeddingGradient(rows, taken, B * T, mid, model.grads().numel());
            assertThat(model.grads().toArray()).isEqualTo(plain);
        }
    }
}
