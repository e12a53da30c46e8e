package jgpt.model;

import java.lang.foreign.MemorySegment;
import jgpt.util.Rng;

/**
 * GPT-2: token + learned position embeddings, pre-LN blocks, final LayerNorm, LM head tied to wte
 * by default. Forward and hand-written backward over flat off-heap buffers.
 */
public final class GPT implements AutoCloseable {
    private final GPTConfig config;
    private final ParamLayout layout;
    private final FlatBuffer params;
    private final FlatBuffer grads;

    public GPT(GPTConfig config) {
        this.config = config;
        this.layout = ParamLayout.gpt2(config);
        this.params = new FlatBuffer(layout);
        this.grads = new FlatBuffer(layout);
    }

    public GPTConfig config() { return config; }
    public ParamLayout layout() { return layout; }
    public FlatBuffer params() { return params; }
    public FlatBuffer grads() { return grads; }

    /** GPT-2 init: N(0, 0.02), residual projections N(0, 0.02/sqrt(2 n_layer)), biases 0, norms 1. */
    public void initWeights(Rng rng) { throw new UnsupportedOperationException("in progress"); }

    /**
     * Runs the model on B sequences of T tokens (row-major [B, T]). With targets, returns the mean
     * next-token cross-entropy over all B*T positions; without (null), returns NaN and only the
     * logits are computed.
     */
    public float forward(int[] inputs, int[] targets, int B, int T) { throw new UnsupportedOperationException("in progress"); }

    /**
     * Back-propagates the last forward's loss, scaled by {@code gradScale} (1/accumulation steps),
     * adding into {@link #grads()}. Overwrites the logits buffer with their gradient.
     */
    public void backward(float gradScale) { throw new UnsupportedOperationException("in progress"); }

    /** Logits of the last forward, [B*T, paddedVocab]; the padded columns are meaningless. */
    public MemorySegment logits() { throw new UnsupportedOperationException("in progress"); }

    public void zeroGrad() { grads.zero(); }

    @Override
    public void close() {
        params.close();
        grads.close();
    }
}
