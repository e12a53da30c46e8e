package jgpt.model;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import jgpt.kernels.Attention;
import jgpt.kernels.CrossEntropy;
import jgpt.kernels.Embedding;
import jgpt.kernels.Gelu;
import jgpt.kernels.LayerNorm;
import jgpt.kernels.Matmul;
import jgpt.kernels.Vec;
import jgpt.util.Rng;

/**
 * GPT-2: token + learned position embeddings, pre-LN blocks
 * ({@code x += attn(ln_1(x)); x += mlp(ln_2(x))}), final LayerNorm, and an LM head that is the
 * token embedding matrix wte itself when tied (logits = h · wteᵀ). Forward and hand-written backward
 * over flat off-heap buffers, in the style of llm.c's train_gpt2.c.
 */
public final class GPT implements LanguageModel {
    private final GPTConfig config;
    private final ParamLayout layout;
    private final FlatBuffer params;
    private final FlatBuffer grads;
    private final Matmul mm = new Matmul();
    private Activations act;
    private int[] inputs = new int[0];
    private int[] targets = new int[0];
    private int curB, curT;
    private boolean haveTargets;
    private Hooks hooks = Hooks.NONE;
    /** See {@link #zeroAllButMatmulWeights}. */
    private final long[] notOverwritten;

    public GPT(GPTConfig config) {
        this.config = config;
        if (config.isLlama()) throw new IllegalArgumentException("GPT needs a gpt2 config; use LanguageModel.create");
        this.layout = ParamLayout.gpt2(config);
        this.params = new FlatBuffer(layout);
        this.grads = new FlatBuffer(layout);
        this.notOverwritten = notOverwritten(config, layout, head());
    }

    @Override
    public void setHooks(Hooks hooks) {
        this.hooks = hooks == null ? Hooks.NONE : hooks;
    }

    public GPTConfig config() { return config; }
    public ParamLayout layout() { return layout; }
    public FlatBuffer params() { return params; }
    public FlatBuffer grads() { return grads; }

    /** Number of parameters, counting padded vocabulary rows. */
    public long numParams() { return layout.numel(); }

    /** GPT-2 init: N(0, 0.02), residual projections N(0, 0.02/√(2·n_layer)), biases 0, norms 1. */
    public void initWeights(Rng rng) {
        params.zero();
        float residStd = (float) (0.02 / Math.sqrt(2.0 * config.nLayer()));
        for (ParamTensor t : layout.tensors()) {
            String n = t.name();
            MemorySegment v = params.view(n);
            if (n.endsWith("ln_1.weight") || n.endsWith("ln_2.weight") || n.equals("ln_f.weight")) {
                for (long i = 0; i < t.numel(); i++) v.setAtIndex(JAVA_FLOAT, i, 1f);
            } else if (t.shape().length == 2) {
                float std = n.endsWith("c_proj.weight") ? residStd : 0.02f;
                // Padded vocabulary rows stay zero: they are never looked up and masked from the loss.
                long rows = (n.equals("wte") || n.equals("lm_head.weight")) ? config.vocabSize() : t.shape()[0];
                long count = rows * t.shape()[1];
                for (long i = 0; i < count; i++) v.setAtIndex(JAVA_FLOAT, i, (float) (rng.nextGaussian() * std));
            }
        }
    }

    private MemorySegment p(String name) { return params.view(name); }
    private MemorySegment g(String name) { return grads.view(name); }
    private MemorySegment pOpt(String name) { return layout.has(name) ? params.view(name) : null; }
    private MemorySegment gOpt(String name) { return layout.has(name) ? grads.view(name) : null; }
    private String head() { return config.tied() ? "wte" : "lm_head.weight"; }

    /**
     * Runs the model on B sequences of T tokens (row-major [B, T]). With targets, returns the mean
     * next-token cross-entropy over all B*T positions; without (null), returns NaN and only the
     * logits are computed.
     */
    public float forward(int[] inputs, int[] targets, int B, int T) {
        int C = config.nEmbd(), NH = config.nHead(), V = config.vocabSize(), Vp = config.paddedVocab();
        int BT = B * T;
        if (T < 1 || T > config.blockSize()) throw new IllegalArgumentException("sequence length " + T + " outside 1.." + config.blockSize());
        if (inputs.length < BT) throw new IllegalArgumentException("inputs hold " + inputs.length + " tokens, need " + BT);
        ensureActivations(B, T);
        if (this.inputs.length != BT) {
            this.inputs = new int[BT];
            this.targets = new int[BT];
        }
        for (int i = 0; i < BT; i++) {
            int tok = inputs[i];
            if (tok < 0 || tok >= V) throw new IllegalArgumentException("token " + tok + " outside vocabulary of " + V);
            this.inputs[i] = tok;
        }
        haveTargets = targets != null;
        if (haveTargets) System.arraycopy(targets, 0, this.targets, 0, BT);

        Activations a = act;
        int L = config.nLayer();
        hooks.beforeForward(-1);
        Embedding.forward(a.resid[0], this.inputs, p("wte"), p("wpe"), B, T, C);
        hooks.afterForward(-1);
        for (int l = 0; l < config.nLayer(); l++) {
            String h = "h." + l + ".";
            hooks.beforeForward(l);
            MemorySegment x = a.resid[l];
            LayerNorm.forward(a.ln1[l], a.ln1Mean[l], a.ln1Rstd[l], x, p(h + "ln_1.weight"), pOpt(h + "ln_1.bias"), BT, C);
            mm.forward(a.qkv[l], a.ln1[l], p(h + "attn.c_attn.weight"), pOpt(h + "attn.c_attn.bias"), BT, C, 3 * C);
            Attention.forward(a.atty[l], a.att[l], a.qkv[l], B, T, C, NH);
            hooks.progress();
            mm.forward(a.tmp, a.atty[l], p(h + "attn.c_proj.weight"), pOpt(h + "attn.c_proj.bias"), BT, C, C);
            Vec.add(a.resid2[l], x, a.tmp, (long) BT * C);
            LayerNorm.forward(a.ln2[l], a.ln2Mean[l], a.ln2Rstd[l], a.resid2[l], p(h + "ln_2.weight"), pOpt(h + "ln_2.bias"), BT, C);
            hooks.progress();
            mm.forward(a.fch[l], a.ln2[l], p(h + "mlp.c_fc.weight"), pOpt(h + "mlp.c_fc.bias"), BT, C, 4 * C);
            Gelu.forward(a.fchGelu[l], a.fch[l], (long) BT * 4 * C);
            mm.forward(a.tmp, a.fchGelu[l], p(h + "mlp.c_proj.weight"), pOpt(h + "mlp.c_proj.bias"), BT, 4 * C, C);
            Vec.add(a.resid[l + 1], a.resid2[l], a.tmp, (long) BT * C);
            hooks.afterForward(l);
        }
        MemorySegment last = a.resid[config.nLayer()];
        hooks.beforeForward(L);
        LayerNorm.forward(a.lnf, a.lnfMean, a.lnfRstd, last, p("ln_f.weight"), pOpt("ln_f.bias"), BT, C);
        mm.forward(a.logits, a.lnf, p(head()), null, BT, C, Vp);
        hooks.afterForward(L);
        if (!haveTargets) return Float.NaN;
        return CrossEntropy.forward(a.losses, a.ceStats, a.logits, this.targets, BT, V, Vp);
    }

    /**
     * Back-propagates the last forward's loss, scaled by {@code gradScale} (1/accumulation steps),
     * adding into {@link #grads()}. Overwrites the logits buffer with their gradient.
     */
    public void backward(float gradScale) {
        backward(gradScale, true);
    }

    /**
     * Without {@code accumulate}, the weight matrices' gradient products write their tiles from
     * zeros (fma(a, b, +0) is a·b rounded, as into a zeroed buffer: the same bits) and only the
     * rest of the buffer is zeroed first: norms, biases, wpe (and wte when untied: the embedding
     * scatters into it). That skips the pass zeroing all of it and the products' reads of it.
     */
    @Override
    public void backward(float gradScale, boolean accumulate) {
        if (act == null || !haveTargets) throw new IllegalStateException("backward needs a forward with targets first");
        if (!accumulate) zeroAllButMatmulWeights();
        int B = curB, T = curT, BT = B * T;
        int C = config.nEmbd(), NH = config.nHead(), V = config.vocabSize(), Vp = config.paddedVocab();
        Activations a = act;

        int L = config.nLayer();
        CrossEntropy.backward(a.logits, a.ceStats, targets, gradScale / BT, BT, V, Vp);
        hooks.beforeBackward(L);
        mm.backward(a.dln, g(head()), null, a.logits, a.lnf, p(head()), BT, C, Vp, accumulate);
        a.dresid.fill((byte) 0);
        LayerNorm.backward(a.dresid, g("ln_f.weight"), gOpt("ln_f.bias"), a.dln, a.resid[config.nLayer()],
                p("ln_f.weight"), a.lnfMean, a.lnfRstd, BT, C);
        hooks.afterBackward(L);
        for (int l = config.nLayer() - 1; l >= 0; l--) {
            String h = "h." + l + ".";
            hooks.beforeBackward(l);
            // MLP branch: resid[l+1] = resid2 + c_proj(gelu(c_fc(ln_2(resid2))))
            mm.backward(a.dfch, g(h + "mlp.c_proj.weight"), gOpt(h + "mlp.c_proj.bias"), a.dresid, a.fchGelu[l],
                    p(h + "mlp.c_proj.weight"), BT, 4 * C, C, accumulate);
            hooks.progress();
            Gelu.backward(a.dfch, a.fch[l], a.dfch, (long) BT * 4 * C);
            mm.backward(a.dln, g(h + "mlp.c_fc.weight"), gOpt(h + "mlp.c_fc.bias"), a.dfch, a.ln2[l],
                    p(h + "mlp.c_fc.weight"), BT, C, 4 * C, accumulate);
            LayerNorm.backward(a.dresid, g(h + "ln_2.weight"), gOpt(h + "ln_2.bias"), a.dln, a.resid2[l],
                    p(h + "ln_2.weight"), a.ln2Mean[l], a.ln2Rstd[l], BT, C);
            hooks.progress();
            // Attention branch: resid2 = resid[l] + c_proj(attn(c_attn(ln_1(resid[l]))))
            mm.backward(a.datty, g(h + "attn.c_proj.weight"), gOpt(h + "attn.c_proj.bias"), a.dresid, a.atty[l],
                    p(h + "attn.c_proj.weight"), BT, C, C, accumulate);
            Attention.backward(a.dqkv, a.datty, a.qkv[l], a.att[l], B, T, C, NH);
            hooks.progress();
            mm.backward(a.dln, g(h + "attn.c_attn.weight"), gOpt(h + "attn.c_attn.bias"), a.dqkv, a.ln1[l],
                    p(h + "attn.c_attn.weight"), BT, C, 3 * C, accumulate);
            LayerNorm.backward(a.dresid, g(h + "ln_1.weight"), gOpt(h + "ln_1.bias"), a.dln, a.resid[l],
                    p(h + "ln_1.weight"), a.ln1Mean[l], a.ln1Rstd[l], BT, C);
            hooks.afterBackward(l);
        }
        hooks.beforeBackward(-1);
        if (!hooks.takeEmbeddingGradient(a.dresid, inputs, BT)) Embedding.backward(g("wte"), g("wpe"), a.dresid, inputs, B, T, C);
        hooks.afterBackward(-1);
    }

    @Override
    public void addEmbeddingGradient(MemorySegment dout, int[] tokens, int rows, long from, long to) {
        Embedding.backwardClipped(grads.data(), layout.tensor("wte").offset(), layout.tensor("wpe").offset(), dout, tokens, rows,
                curT, config.nEmbd(), from, to);
    }

    /** Logits of the last forward, [B*T, paddedVocab]; the padded columns are meaningless. */
    public MemorySegment logits() {
        if (act == null) throw new IllegalStateException("no forward yet");
        return act.logits.asSlice(0, (long) curB * curT * config.paddedVocab() * 4);
    }

    /** Per-position losses of the last forward with targets, [B*T]. */
    public MemorySegment losses() {
        return act.losses.asSlice(0, (long) curB * curT * 4);
    }

    public void zeroGrad() { grads.zero(); }

    /** Zeros the gradient buffer except the weight matrices that backward's products overwrite. */
    private void zeroAllButMatmulWeights() {
        for (int i = 0; i < notOverwritten.length; i += 2) Vec.zero(grads.data(), notOverwritten[i], notOverwritten[i + 1]);
    }

    /** [from, to) pairs of the gradient buffer outside the weight matrices that backward's products overwrite. */
    private static long[] notOverwritten(GPTConfig config, ParamLayout layout, String head) {
        List<ParamTensor> written = new ArrayList<>();
        written.add(layout.tensor(head));
        for (int l = 0; l < config.nLayer(); l++) {
            for (String w : new String[] {"attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"}) {
                written.add(layout.tensor("h." + l + "." + w + ".weight"));
            }
        }
        written.sort(Comparator.comparingLong(ParamTensor::offset));
        long[] ranges = new long[2 * written.size() + 2];
        long from = 0;
        int n = 0;
        for (ParamTensor t : written) {
            ranges[n++] = from;
            ranges[n++] = t.offset();
            from = t.offset() + t.numel();
        }
        ranges[n++] = from;
        ranges[n] = layout.numel();
        return ranges;
    }

    /** Bytes of activation memory for batch B and length T. */
    public long activationBytes(int B, int T) {
        return Activations.floats(config, B, T) * 4;
    }

    private void ensureActivations(int B, int T) {
        if (act != null && curB == B && curT == T) return;
        if (act != null) act.close();
        act = new Activations(config, B, T);
        curB = B;
        curT = T;
    }

    @Override
    public void close() {
        if (act != null) act.close();
        params.close();
        grads.close();
    }

    /** Everything forward saves for backward, plus backward's scratch: sized once per (B, T). */
    private static final class Activations implements AutoCloseable {
        final Arena arena = Arena.ofShared();
        final MemorySegment[] resid, ln1, ln1Mean, ln1Rstd, qkv, att, atty, resid2, ln2, ln2Mean, ln2Rstd, fch, fchGelu;
        final MemorySegment lnf, lnfMean, lnfRstd, logits, losses, ceStats, tmp;
        final MemorySegment dresid, dln, dqkv, datty, dfch;

        static long floats(GPTConfig c, int B, int T) {
            long BT = (long) B * T, C = c.nEmbd(), Lyr = c.nLayer();
            long perLayer = BT * (C + 3 * C + C + C + C + 8 * C + 4) + (long) B * c.nHead() * T * T;
            return (Lyr + 1) * BT * C + Lyr * perLayer + BT * (C + 2 + c.paddedVocab() + 1 + 4 + C)
                    + BT * (C + C + 3 * C + C + 4 * C);
        }

        Activations(GPTConfig c, int B, int T) {
            int Lyr = c.nLayer();
            long BT = (long) B * T, C = c.nEmbd();
            resid = new MemorySegment[Lyr + 1];
            for (int l = 0; l <= Lyr; l++) resid[l] = alloc(BT * C);
            ln1 = many(Lyr, BT * C); ln1Mean = many(Lyr, BT); ln1Rstd = many(Lyr, BT);
            qkv = many(Lyr, BT * 3 * C); att = many(Lyr, (long) B * c.nHead() * T * T); atty = many(Lyr, BT * C);
            resid2 = many(Lyr, BT * C); ln2 = many(Lyr, BT * C); ln2Mean = many(Lyr, BT); ln2Rstd = many(Lyr, BT);
            fch = many(Lyr, BT * 4 * C); fchGelu = many(Lyr, BT * 4 * C);
            lnf = alloc(BT * C); lnfMean = alloc(BT); lnfRstd = alloc(BT);
            logits = alloc(BT * c.paddedVocab()); losses = alloc(BT); ceStats = alloc(4L * BT); tmp = alloc(BT * C);
            dresid = alloc(BT * C); dln = alloc(BT * C); dqkv = alloc(BT * 3 * C); datty = alloc(BT * C); dfch = alloc(BT * 4 * C);
        }

        private MemorySegment alloc(long floats) {
            return arena.allocate(floats * 4, 64);
        }

        private MemorySegment[] many(int n, long floats) {
            MemorySegment[] m = new MemorySegment[n];
            for (int i = 0; i < n; i++) m[i] = alloc(floats);
            return m;
        }

        @Override
        public void close() {
            arena.close();
        }
    }
}
