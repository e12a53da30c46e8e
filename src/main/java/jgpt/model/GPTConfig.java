package jgpt.model;

import jgpt.util.UserError;

/**
 * Shape of a decoder-only transformer: GPT-2 ({@code arch "gpt2"}) or Llama ({@code "llama"}). The
 * vocabulary is padded to a multiple of 64 for aligned matmuls; padded logits are masked out of the
 * loss and of sampling.
 *
 * @param nLayer    transformer blocks
 * @param nHead     attention (query) heads (n_embd must divide evenly)
 * @param nEmbd     model width C
 * @param blockSize longest context (GPT-2: learned positions; Llama: RoPE table and KV cache)
 * @param vocabSize real vocabulary size V
 * @param bias      biases in Linear layers and LayerNorms (GPT-2 only; Llama has none)
 * @param tied      LM head shares the token embedding matrix
 * @param arch      {@code "gpt2"} or {@code "llama"}
 * @param nKvHead   key/value heads (Llama GQA; divides n_head); n_head for GPT-2
 * @param ffnHidden MLP hidden width: 4·C for GPT-2, the SwiGLU width for Llama (0 = llama2.c's rule)
 * @param ropeTheta RoPE base (Llama)
 * @param normEps   LayerNorm / RMSNorm epsilon
 */
public record GPTConfig(int nLayer, int nHead, int nEmbd, int blockSize, int vocabSize, boolean bias, boolean tied,
                        String arch, int nKvHead, int ffnHidden, double ropeTheta, double normEps) {
    public static final String GPT2 = "gpt2";
    public static final String LLAMA = "llama";

    public GPTConfig {
        check(nLayer > 0, "n_layer", nLayer);
        check(nHead > 0, "n_head", nHead);
        check(nEmbd > 0 && nEmbd % nHead == 0, "n_embd (must be a multiple of n_head)", nEmbd);
        check(blockSize > 0, "block_size", blockSize);
        check(vocabSize > 0, "vocab_size", vocabSize);
        if (!GPT2.equals(arch) && !LLAMA.equals(arch)) throw new UserError("invalid model config: arch = " + arch + " (expected gpt2 or llama)");
        if (nKvHead == 0) nKvHead = nHead;
        check(nKvHead > 0 && nHead % nKvHead == 0, "n_kv_head (must divide n_head)", nKvHead);
        if (ffnHidden == 0) ffnHidden = GPT2.equals(arch) ? 4 * nEmbd : llamaHidden(nEmbd);
        if (GPT2.equals(arch)) {
            check(nKvHead == nHead, "n_kv_head (gpt2 has no GQA)", nKvHead);
            check(ffnHidden == 4 * nEmbd, "ffn_hidden (gpt2 uses 4*n_embd)", ffnHidden);
        } else {
            check(!bias, "bias (llama has no biases)", 1);
            check((nEmbd / nHead) % 2 == 0, "head size (RoPE rotates pairs)", nEmbd / nHead);
        }
        check(ffnHidden > 0, "ffn_hidden", ffnHidden);
        if (!(ropeTheta > 0)) throw new UserError("invalid model config: rope_theta = " + ropeTheta);
        if (!(normEps > 0)) throw new UserError("invalid model config: norm_eps = " + normEps);
    }

    /** GPT-2 with the given shape (the original constructor). */
    public GPTConfig(int nLayer, int nHead, int nEmbd, int blockSize, int vocabSize, boolean bias, boolean tied) {
        this(nLayer, nHead, nEmbd, blockSize, vocabSize, bias, tied, GPT2, nHead, 4 * nEmbd, 10000, 1e-5);
    }

    /** A Llama (no biases); ffnHidden 0 applies llama2.c's rule. */
    public static GPTConfig llama(int nLayer, int nHead, int nKvHead, int nEmbd, int ffnHidden, int blockSize,
                                  int vocabSize, boolean tied, double ropeTheta, double normEps) {
        return new GPTConfig(nLayer, nHead, nEmbd, blockSize, vocabSize, false, tied, LLAMA, nKvHead, ffnHidden, ropeTheta, normEps);
    }

    /** llama2.c / Meta: 2/3 of 4·C, rounded up to a multiple of 256. */
    public static int llamaHidden(int nEmbd) {
        int h = 2 * (4 * nEmbd) / 3;
        return (h + 255) / 256 * 256;
    }

    private static void check(boolean ok, String field, int value) {
        if (!ok) throw new UserError("invalid model config: " + field + " = " + value);
    }

    public boolean isLlama() {
        return LLAMA.equals(arch);
    }

    /** Vocabulary rounded up to a multiple of 64. */
    public int paddedVocab() {
        return (vocabSize + 63) / 64 * 64;
    }

    public int headSize() {
        return nEmbd / nHead;
    }

    /** Width of the keys (and of the values): n_kv_head · head size. */
    public int kvDim() {
        return nKvHead * headSize();
    }
}
