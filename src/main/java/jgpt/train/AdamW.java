package jgpt.train;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import jgpt.kernels.Parallel;
import jgpt.model.FlatBuffer;
import jgpt.model.ParamTensor;

/**
 * AdamW over flat buffers, exactly PyTorch's non-fused formula (decoupled weight decay, bias
 * correction). Weight decay applies only to {@link ParamTensor#decayed() decayed} tensors. The
 * moments m and v are FlatBuffers with the parameters' layout, so a range step over a shard
 * [from, to) touches the same slice of all four buffers.
 */
public final class AdamW implements AutoCloseable {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

    private final FlatBuffer params;
    private final FlatBuffer grads;
    private final FlatBuffer m;
    private final FlatBuffer v;
    // Hyperparameters stay double, like Python floats, and are rounded to float where PyTorch's
    // kernels round them: so 1 - beta1 is 0.1f, not 1f - 0.9f.
    private final double beta1;
    private final double beta2;
    private final double eps;
    private final double weightDecay;

    public AdamW(FlatBuffer params, FlatBuffer grads, double beta1, double beta2, double eps, double weightDecay) {
        if (params.numel() != grads.numel()) {
            throw new IllegalArgumentException("params and grads differ in size");
        }
        this.params = params;
        this.grads = grads;
        this.m = new FlatBuffer(params.layout());
        this.v = new FlatBuffer(params.layout());
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
        m.zero();
        v.zero();
    }

    /** nanoGPT's defaults: betas (0.9, 0.95), eps 1e-8. */
    public AdamW(FlatBuffer params, FlatBuffer grads, double weightDecay) {
        this(params, grads, 0.9, 0.95, 1e-8, weightDecay);
    }

    public FlatBuffer m() { return m; }
    public FlatBuffer v() { return v; }

    /** One update of every parameter; t is the 1-based step count (for bias correction). */
    public void step(float lr, int t) {
        step(lr, t, 1f);
    }

    /**
     * One update of every parameter with the gradients multiplied by gradScale as they are read
     * (gradient clipping's coefficient): the same float products as scaling the gradient buffer in
     * place first, without that extra pass over it. The gradient buffer is left as it was.
     */
    public void step(float lr, int t, float gradScale) {
        step(lr, t, 0, params.numel(), gradScale);
    }

    /**
     * One update of the elements [from, to) of the flat buffer only (a rank's shard), gradients
     * multiplied by gradScale as they are read.
     */
    public void step(float lr, int t, long from, long to, float gradScale) {
        if (t < 1) throw new IllegalArgumentException("step count t must be >= 1: " + t);
        if (from < 0 || to > params.numel() || from > to) {
            throw new IllegalArgumentException("range [" + from + ", " + to + ") outside 0.." + params.numel());
        }
        // Same float expressions as torch.optim.AdamW(foreach=False).
        double bc1 = 1.0 - Math.pow(beta1, t);
        double bc2 = 1.0 - Math.pow(beta2, t);
        float stepSize = (float) (lr / bc1);
        float bc2Sqrt = (float) Math.sqrt(bc2);
        float decay = (float) (1.0 - lr * weightDecay);
        for (ParamTensor p : params.layout().tensors()) {
            long lo = Math.max(from, p.offset());
            long hi = Math.min(to, p.offset() + p.numel());
            if (lo < hi) updateParallel(lo, hi, p.decayed() ? decay : 1f, stepSize, bc2Sqrt, gradScale);
        }
    }

    /** Elements per parallel chunk of an update (each element is independent, so any split gives the same bits). */
    private static final int CHUNK = 1 << 15;

    private void updateParallel(long from, long to, float decay, float stepSize, float bc2Sqrt, float gradScale) {
        long chunks = (to - from + CHUNK - 1) / CHUNK;
        if (chunks <= 1) {
            update(from, to, decay, stepSize, bc2Sqrt, gradScale);
            return;
        }
        Parallel.forRange((int) chunks, 1, (s, e) ->
                update(from + (long) s * CHUNK, Math.min(to, from + (long) e * CHUNK), decay, stepSize, bc2Sqrt, gradScale));
    }

    private void update(long from, long to, float decay, float stepSize, float bc2Sqrt, float gradScale) {
        MemorySegment P = params.data(), G = grads.data(), M = m.data(), V = v.data();
        float b1 = (float) beta1, b2 = (float) beta2, c1 = (float) (1 - beta1), c2 = (float) (1 - beta2);
        float eps = (float) this.eps;
        boolean decays = decay != 1f;
        // Always multiplied (g · 1 is g): a branch on "clipping this step" was unswitched out of
        // the loop by C2, and the first step that changed it deoptimized update into the
        // interpreter, allocating 80 MB-1 GB of vector boxes per 124M step until it recompiled.
        FloatVector gs = FloatVector.broadcast(S, gradScale);
        long i = from;
        long vecEnd = from + (to - from) / S.length() * S.length();
        for (; i < vecEnd; i += S.length()) {
            long off = i * Float.BYTES;
            FloatVector p = FloatVector.fromMemorySegment(S, P, off, NATIVE);
            FloatVector g = FloatVector.fromMemorySegment(S, G, off, NATIVE);
            g = g.mul(gs);
            FloatVector mi = FloatVector.fromMemorySegment(S, M, off, NATIVE).mul(b1).add(g.mul(c1));
            FloatVector vi = FloatVector.fromMemorySegment(S, V, off, NATIVE).mul(b2).add(g.mul(g).mul(c2));
            if (decays) p = p.mul(decay);
            FloatVector denom = vi.sqrt().div(bc2Sqrt).add(eps);
            p = p.sub(mi.div(denom).mul(stepSize));
            p.intoMemorySegment(P, off, NATIVE);
            mi.intoMemorySegment(M, off, NATIVE);
            vi.intoMemorySegment(V, off, NATIVE);
        }
        for (; i < to; i++) {
            float p = P.getAtIndex(ValueLayout.JAVA_FLOAT, i);
            float g = G.getAtIndex(ValueLayout.JAVA_FLOAT, i);
            g = g * gradScale;
            float mi = M.getAtIndex(ValueLayout.JAVA_FLOAT, i) * b1 + g * c1;
            float vi = V.getAtIndex(ValueLayout.JAVA_FLOAT, i) * b2 + g * g * c2;
            if (decays) p = p * decay;
            float denom = (float) Math.sqrt(vi) / bc2Sqrt + eps;
            p = p - mi / denom * stepSize;
            P.setAtIndex(ValueLayout.JAVA_FLOAT, i, p);
            M.setAtIndex(ValueLayout.JAVA_FLOAT, i, mi);
            V.setAtIndex(ValueLayout.JAVA_FLOAT, i, vi);
        }
    }

    @Override
    public void close() {
        m.close();
        v.close();
    }
}
