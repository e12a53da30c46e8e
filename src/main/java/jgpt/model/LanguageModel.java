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

    /**
     * Calls around each unit of forward and backward, for parallelism applied from outside (FSDP
     * gathers a unit's parameters before it runs; DDP starts reducing gradients once they are
     * final). Units follow {@link ParamLayout}'s blocks: {@code -1} the embeddings (everything
     * before block 0), {@code 0..n_layer-1} the blocks, {@code n_layer} the final norm and LM head
     * (which reads the token embedding when tied). Defaults do nothing.
     */
    interface Hooks {
        Hooks NONE = new Hooks() {};

        /** Unit's parameters are about to be read by forward. */
        default void beforeForward(int unit) {}

        /** Unit's forward is done. */
        default void afterForward(int unit) {}

        /** Unit's parameters are about to be read by backward. */
        default void beforeBackward(int unit) {}

        /** Unit's backward is done: its gradients of this backward are all added in. */
        default void afterBackward(int unit) {}

        /**
         * Called between the large kernels inside a unit: a moment to let communication in flight
         * progress (MPI moves a non-blocking collective only while the rank is inside an MPI call).
         */
        default void progress() {}

        /**
         * Unit -1's backward is about to add the gradient at the embedding's output, one row of C
         * floats per position ({@code dout} [rows, C], token ids {@code tokens}), into the
         * embedding rows those tokens (and GPT-2's positions) read. Returning true means the hook
         * takes the rows and adds them itself, later, with {@link #addEmbeddingGradient}; the model
         * then adds nothing. Sharded data parallelism exchanges these rows (the batch's size)
         * instead of reduce-scattering a vocabulary-sized gradient at the end of backward.
         */
        default boolean takeEmbeddingGradient(MemorySegment dout, int[] tokens, int rows) {
            return false;
        }
    }

    /**
     * What the embedding's backward adds for gradient rows {@code dout} [rows, C] at {@code tokens}
     * (GPT-2: and at positions n % T of the last forward), restricted to the floats [from, to) of
     * {@link #grads()}'s buffer, in row order. See {@link Hooks#takeEmbeddingGradient}.
     */
    void addEmbeddingGradient(MemorySegment dout, int[] tokens, int rows, long from, long to);

    /**
     * Installs hooks (null: none). The model reads parameters and writes gradients only through
     * its buffers' views ({@link FlatBuffer#view}, {@link FlatBuffer#span}), so a hook may
     * {@link FlatBuffer#redirect redirect} a unit to other storage while it runs.
     */
    void setHooks(Hooks hooks);

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
