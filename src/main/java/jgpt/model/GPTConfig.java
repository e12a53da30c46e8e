package jgpt.model;

import jgpt.util.UserError;

/**
 * Shape of a GPT-2 style model. The vocabulary is padded to a multiple of 64 for aligned
 * matmuls; padded logits are masked out of the loss and of sampling.
 *
 * @param nLayer    transformer blocks
 * @param nHead     attention heads (n_embd must divide evenly)
 * @param nEmbd     model width C
 * @param blockSize longest context (learned positions)
 * @param vocabSize real vocabulary size V
 * @param bias      biases in Linear layers and LayerNorms
 * @param tied      LM head shares the token embedding matrix wte
 */
public record GPTConfig(int nLayer, int nHead, int nEmbd, int blockSize, int vocabSize, boolean bias, boolean tied) {

    public GPTConfig {
        check(nLayer > 0, "n_layer", nLayer);
        check(nHead > 0, "n_head", nHead);
        check(nEmbd > 0 && nEmbd % nHead == 0, "n_embd (must be a multiple of n_head)", nEmbd);
        check(blockSize > 0, "block_size", blockSize);
        check(vocabSize > 0, "vocab_size", vocabSize);
    }

    private static void check(boolean ok, String field, int value) {
        if (!ok) throw new UserError("invalid model config: " + field + " = " + value);
    }

    /** Vocabulary rounded up to a multiple of 64. */
    public int paddedVocab() {
        return (vocabSize + 63) / 64 * 64;
    }

    public int headSize() {
        return nEmbd / nHead;
    }
}
