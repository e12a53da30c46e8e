package jgpt.model;

import java.lang.foreign.MemorySegment;
import jgpt.util.Rng;

/**
 * What the trainer, checkpoints and generation need from a model, whatever its architecture:
 * parameters and gradients in flat buffers laid out by {@link ParamLayout#of}, a forward that
 * computes logits (and the loss with targets), and a backward that adds into the gradients.
 */
public interface LanguageModel extends AutoCloseable {

    /** A new model of the config's architecture (weights zero until init or load). */
    static LanguageModel create(GPTConfig config) {
        return config.isLlama() ? new Llama(config) : new GPT(config);
    }

    GPTConfig config();

    ParamLayout layout();

    FlatBuffer params();

    FlatBuffer grads();

    /** Number of parameters, counting padded vocabulary rows. */
    default long numParams() {
        return layout().numel();
    }

    void initWeights(Rng rng);

    /**
     * Runs B sequences of T tokens (row-major [B, T]); with targets returns the mean next-token
     * cross-entropy, without (null) NaN and only the logits.
     */
    float forward(int[] inputs, int[] targets, int B, int T);

    /** Back-propagates the last forward's loss scaled by gradScale, adding into {@link #grads()}. */
    void backward(float gradScale);

    /**
     * Without {@code accumulate}, the gradients are overwritten: the same bits as
     * {@link #zeroGrad()} then {@link #backward(float)}, which is what this default does; a model
     * may do it without the pass that zeroes the whole gradient buffer.
     */
    default void backward(float gradScale, boolean accumulate) {
        if (!accumulate) zeroGrad();
        backward(gradScale);
    }

    /** Logits of the last forward, [B*T, paddedVocab]. */
    MemorySegment logits();

    /** Per-position losses of the last forward with targets, [B*T]. */
    MemorySegment losses();

    default void zeroGrad() {
        grads().zero();
    }

    /** Bytes of activation memory for batch B and length T. */
    long activationBytes(int B, int T);

    @Override
    void close();
}
