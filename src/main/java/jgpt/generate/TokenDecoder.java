package jgpt.generate;

import jgpt.model.GPT;
import jgpt.model.GPTConfig;
import jgpt.model.LanguageModel;
import jgpt.model.Llama;

/** KV-cache inference for one sequence, whatever the architecture: what {@link Generator} drives. */
public interface TokenDecoder extends AutoCloseable {

    /** The decoder for a model's architecture, with f32 weights. */
    static TokenDecoder of(LanguageModel model) {
        return model instanceof Llama llama ? new LlamaDecoder(llama, false) : new Decoder((GPT) model);
    }

    GPTConfig config();

    KVCache newCache();

    /** Appends tokens[off, off+n) and returns the next-token logits (real vocabulary; reused array). */
    float[] prefill(KVCache cache, int[] tokens, int off, int n);

    /** Appends one token; returns the next-token logits (reused array). */
    default float[] step(KVCache cache, int token) {
        return prefill(cache, new int[] {token}, 0, 1);
    }

    @Override
    void close();
}
