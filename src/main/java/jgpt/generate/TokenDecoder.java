package jgpt.generate;

import jgpt.model.GPT;
import jgpt.model.GPTConfig;
import jgpt.model.LanguageModel;
import jgpt.model.Llama;

/** KV-cache inference for one sequence, whatever the architecture: what {@link Generator} drives. */
public interface TokenDecoder extends AutoCloseable {

    /** The decoder for a model's architecture, with f32 weights. */
    static TokenDecoder of(LanguageModel model) {
        return of(model, 1);
    }

    /** The decoder for a model's architecture, able to advance up to maxBatch sequences per step. */
    static TokenDecoder of(LanguageModel model, int maxBatch) {
        return model instanceof Llama llama ? new LlamaDecoder(llama, false) : new Decoder((GPT) model, maxBatch);
    }

    GPTConfig config();

    KVCache newCache();

    /** Appends tokens[off, off+n) and returns the next-token logits (real vocabulary; reused array). */
    float[] prefill(KVCache cache, int[] tokens, int off, int n);

    /** Appends one token; returns the next-token logits (reused array). */
    default float[] step(KVCache cache, int token) {
        return prefill(cache, new int[] {token}, 0, 1);
    }

    /**
     * Appends {@code tokens[i]} to {@code caches[i]} for i &lt; n and copies each sequence's
     * next-token logits to {@code out[i]}. By default one sequence after another; a decoder may
     * batch the rows (GPT-2's {@link Decoder} does), with the same results per sequence.
     */
    default void step(KVCache[] caches, int[] tokens, int n, float[][] out) {
        for (int i = 0; i < n; i++) {
            float[] logits = step(caches[i], tokens[i]);
            System.arraycopy(logits, 0, out[i], 0, config().vocabSize());
        }
    }

    @Override
    void close();
}
