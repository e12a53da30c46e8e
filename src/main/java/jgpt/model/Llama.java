package jgpt.model;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import jgpt.kernels.Attention;
import jgpt.kernels.CrossEntropy;
import jgpt.kernels.Embedding;
import jgpt.kernels.Matmul;
import jgpt.kernels.Parallel;
import jgpt.kernels.RMSNorm;
import jgpt.kernels.Rope;
import jgpt.kernels.SwiGlu;
import jgpt.kernels.Vec;
import jgpt.util.Rng;

/**
 * Llama: token embedding, pre-norm blocks
 * ({@code x += o_proj(attn(rope(q), rope(k), v)); x += down(silu(gate(n)) · up(n))} with RMSNorm
 * n), final RMSNorm and LM head; no biases, no learned positions, grouped-query attention. Matches
 * Hugging Face's LlamaForCausalLM (rotate-half RoPE, see {@link Rope}). Forward and hand-written
 * backward over flat buffers like {@link GPT}; q/k/v and gate/up each run as one fused matmul over
 * their adjacent weights in the layout.
 */
public final class Llama implements LanguageModel {
    private final GPTConfig config;
    private final ParamLayout layout;
    private final FlatBuffer params;
    private final FlatBuffer grads;
    private final Matmul mm = new Matmul();
    private final Rope rope;
    private final int C, NH, NKV, hs, H, QKV;
    private final float eps;
    private Activations act;
    private int[] inputs = new int[0];
    private int[] targets = new int[0];
    private int curB, curT;
    private boolean haveTargets;
    private Hooks hooks = Hooks.NONE;

    public Llama(GPTConfig config) {
        if (!config.isLlama()) throw new IllegalArgumentException("Llama needs a llama config; use LanguageModel.create");
        this.config = config;
        this.layout = ParamLayout.llama(config);
        this.params = new FlatBuffer(layout);
        this.grads = new FlatBuffer(layout);
        C = config.nEmbd();
        NH = config.nHead();
        NKV = config.nKvHead();
        hs = config.headSize();
        H = config.ffnHidden();
        QKV = C + 2 * config.kvDim();
        eps = (float) config.normEps();
        rope = new Rope(hs, config.blockSize(), config.ropeTheta());
    }

    @Override
    public void setHooks(Hooks hooks) {
        this.hooks = hooks == null ? Hooks.NONE : hooks;
    }

    @Override public GPTConfig config() { return config; }
    @Override public ParamLayout layout() { return layout; }
    @Override public FlatBuffer params() { return params; }
    @Override public FlatBuffer grads() { return grads; }

    /** The RoPE tables of this model (shared with the decoder). */
    public Rope rope() { return rope; }

    /** N(0, 0.02), residual projections (o_proj, down_proj) N(0, 0.02/√(2·n_layer)), norms 1. */
    @Override
    public void initWeights(Rng rng) {
        params.zero();
        float residStd = (float) (0.02 / Math.sqrt(2.0 * config.nLayer()));
        for (ParamTensor t : layout.tensors()) {
            MemorySegment v = params.view(t.name());
            if (t.shape().length == 1) {
                for (long i = 0; i < t.numel(); i++) v.setAtIndex(JAVA_FLOAT, i, 1f);
                continue;
            }
            String n = t.name();
            float std = n.endsWith("o_proj.weight") || n.endsWith("down_proj.weight") ? residStd : 0.02f;
            // Padded vocabulary rows stay zero: never looked up and masked from the loss.
            long rows = n.equals("embed_tokens.weight") || n.equals("lm_head.weight") ? config.vocabSize() : t.shape()[0];
            for (long i = 0; i < rows * t.shape()[1]; i++) v.setAtIndex(JAVA_FLOAT, i, (float) (rng.nextGaussian() * std));
        }
    }

    private MemorySegment p(String name) { return params.view(name); }
    private MemorySegment g(String name) { return grads.view(name); }
    private String head() { return config.tied() ? "embed_tokens.weight" : "lm_head.weight"; }

    @Override
    public float forward(int[] inputs, int[] targets, int B, int T) {
        int V = config.vocabSize(), Vp = config.paddedVocab(), BT = B * T;
        if (T < 1 || T > config.blockSize()) throw new IllegalArgumentException("sequence length " + T + " outside 1.." + config.blockSize());
        if (inputs.length < BT) throw new IllegalArgumentException("inputs hold " + inputs.length + " tokens, need " + BT);
        ensureActivations(B, T);
        if (this.inputs.length != BT) {
            this.inputs = new int[BT];
            this.targets = new int[BT];
        }
        for (int i = 0; i < BT; i++) {
            if (inputs[i] < 0 || inputs[i] >= V) throw new IllegalArgumentException("token " + inputs[i] + " outside vocabulary of " + V);
            this.inputs[i] = inputs[i];
        }
        haveTargets = targets != null;
        if (haveTargets) System.arraycopy(targets, 0, this.targets, 0, BT);

        Activations a = act;
        int L = config.nLayer();
        hooks.beforeForward(-1);
        MemorySegment emb = p("embed_tokens.weight");
        Parallel.forRange(BT, 16, (s, e) -> {
            for (int n = s; n < e; n++) MemorySegment.copy(emb, (long) this.inputs[n] * C * 4, a.resid[0], (long) n * C * 4, C * 4L);
        });
        hooks.afterForward(-1);
        for (int l = 0; l < L; l++) {
            String h = "layers." + l + ".";
            hooks.beforeForward(l);
            RMSNorm.forward(a.xn1[l], a.rstd1[l], a.resid[l], p(h + "input_layernorm.weight"), BT, C, eps);
            mm.forward(a.qkv[l], a.xn1[l], params.span(h + "self_attn.q_proj.weight", (long) QKV * C), null, BT, C, QKV);
            rope.forward(a.qkv[l], BT, T, 0, QKV, NH + NKV);
            Attention.forward(a.atty[l], a.att[l], a.qkv[l], B, T, NH, NKV, hs);
            hooks.progress();
            mm.forward(a.tmp, a.atty[l], p(h + "self_attn.o_proj.weight"), null, BT, C, C);
            Vec.add(a.resid2[l], a.resid[l], a.tmp, (long) BT * C);
            RMSNorm.forward(a.xn2[l], a.rstd2[l], a.resid2[l], p(h + "post_attention_layernorm.weight"), BT, C, eps);
            hooks.progress();
            mm.forward(a.gu[l], a.xn2[l], params.span(h + "mlp.gate_proj.weight", 2L * H * C), null, BT, C, 2 * H);
            SwiGlu.forward(a.hid[l], a.gu[l], BT, H);
            mm.forward(a.tmp, a.hid[l], p(h + "mlp.down_proj.weight"), null, BT, H, C);
            Vec.add(a.resid[l + 1], a.resid2[l], a.tmp, (long) BT * C);
            hooks.afterForward(l);
        }
        hooks.beforeForward(L);
        RMSNorm.forward(a.xnf, a.rstdf, a.resid[L], p("norm.weight"), BT, C, eps);
        mm.forward(a.logits, a.xnf, p(head()), null, BT, C, Vp);
        hooks.afterForward(L);
        if (!haveTargets) return Float.NaN;
        return CrossEntropy.forward(a.losses, a.ceStats, a.logits, this.targets, BT, V, Vp);
    }

    @Override
    public void backward(float gradScale) {
        if (act == null || !haveTargets) throw new IllegalStateException("backward needs a forward with targets first");
        int B = curB, T = curT, BT = B * T, V = config.vocabSize(), Vp = config.paddedVocab();
        Activations a = act;
        int L = config.nLayer();
        CrossEntropy.backward(a.logits, a.ceStats, targets, gradScale / BT, BT, V, Vp);
        hooks.beforeBackward(L);
        mm.backward(a.dxn, g(head()), null, a.logits, a.xnf, p(head()), BT, C, Vp);
        a.dresid.fill((byte) 0);
        RMSNorm.backward(a.dresid, g("norm.weight"), a.dxn, a.resid[L], p("norm.weight"), a.rstdf, BT, C);
        hooks.afterBackward(L);
        for (int l = L - 1; l >= 0; l--) {
            String h = "layers." + l + ".";
            hooks.beforeBackward(l);
            // MLP branch: resid[l+1] = resid2 + down(swiglu(gate|up(norm(resid2))))
            mm.backward(a.dhid, g(h + "mlp.down_proj.weight"), null, a.dresid, a.hid[l], p(h + "mlp.down_proj.weight"), BT, H, C);
            SwiGlu.backward(a.dgu, a.dhid, a.gu[l], BT, H);
            hooks.progress();
            mm.backward(a.dxn, grads.span(h + "mlp.gate_proj.weight", 2L * H * C), null, a.dgu, a.xn2[l],
                    params.span(h + "mlp.gate_proj.weight", 2L * H * C), BT, C, 2 * H);
            RMSNorm.backward(a.dresid, g(h + "post_attention_layernorm.weight"), a.dxn, a.resid2[l],
                    p(h + "post_attention_layernorm.weight"), a.rstd2[l], BT, C);
            hooks.progress();
            // Attention branch: resid2 = resid[l] + o_proj(attn(rope(q|k|v(norm(resid[l])))))
            mm.backward(a.datty, g(h + "self_attn.o_proj.weight"), null, a.dresid, a.atty[l], p(h + "self_attn.o_proj.weight"), BT, C, C);
            Attention.backward(a.dqkv, a.datty, a.qkv[l], a.att[l], B, T, NH, NKV, hs);
            rope.backward(a.dqkv, BT, T, 0, QKV, NH + NKV);
            hooks.progress();
            mm.backward(a.dxn, grads.span(h + "self_attn.q_proj.weight", (long) QKV * C), null, a.dqkv, a.xn1[l],
                    params.span(h + "self_attn.q_proj.weight", (long) QKV * C), BT, C, QKV);
            RMSNorm.backward(a.dresid, g(h + "input_layernorm.weight"), a.dxn, a.resid[l], p(h + "input_layernorm.weight"), a.rstd1[l], BT, C);
            hooks.afterBackward(l);
        }
        hooks.beforeBackward(-1);
        if (!hooks.takeEmbeddingGradient(a.dresid, inputs, BT)) {
            // Serial: a token can repeat, so rows would collide across threads.
            MemorySegment demb = g("embed_tokens.weight");
            for (int n = 0; n < BT; n++) Vec.axpy(1f, a.dresid, (long) n * C, demb, (long) inputs[n] * C, C);
        }
        hooks.afterBackward(-1);
    }

    @Override
    public void addEmbeddingGradient(MemorySegment dout, int[] tokens, int rows, long from, long to) {
        Embedding.backwardClipped(grads.data(), layout.tensor("embed_tokens.weight").offset(), -1, dout, tokens, rows, curT, C, from, to);
    }

    @Override
    public MemorySegment logits() {
        if (act == null) throw new IllegalStateException("no forward yet");
        return act.logits.asSlice(0, (long) curB * curT * config.paddedVocab() * 4);
    }

    @Override
    public MemorySegment losses() {
        return act.losses.asSlice(0, (long) curB * curT * 4);
    }

    @Override
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
        final MemorySegment[] resid, xn1, rstd1, qkv, att, atty, resid2, xn2, rstd2, gu, hid;
        final MemorySegment xnf, rstdf, logits, losses, ceStats, tmp, dresid, dxn, dqkv, datty, dgu, dhid;

        static long floats(GPTConfig c, int B, int T) {
            long BT = (long) B * T, C = c.nEmbd(), QKV = C + 2L * c.kvDim(), H = c.ffnHidden(), Lyr = c.nLayer();
            long perLayer = BT * (C + 1 + QKV + C + C + C + 1 + 2 * H + H) + (long) B * c.nHead() * T * T;
            return (Lyr + 1) * BT * C + Lyr * perLayer + BT * (C + 1 + c.paddedVocab() + 1 + 4 + C)
                    + BT * (C + C + QKV + C + 2 * H + H);
        }

        Activations(GPTConfig c, int B, int T) {
            int Lyr = c.nLayer();
            long BT = (long) B * T, C = c.nEmbd(), QKV = C + 2L * c.kvDim(), H = c.ffnHidden();
            resid = many(Lyr + 1, BT * C);
            xn1 = many(Lyr, BT * C); rstd1 = many(Lyr, BT); qkv = many(Lyr, BT * QKV);
            att = many(Lyr, (long) B * c.nHead() * T * T); atty = many(Lyr, BT * C); resid2 = many(Lyr, BT * C);
            xn2 = many(Lyr, BT * C); rstd2 = many(Lyr, BT); gu = many(Lyr, BT * 2 * H); hid = many(Lyr, BT * H);
            xnf = alloc(BT * C); rstdf = alloc(BT); logits = alloc(BT * c.paddedVocab()); losses = alloc(BT); ceStats = alloc(4L * BT); tmp = alloc(BT * C);
            dresid = alloc(BT * C); dxn = alloc(BT * C); dqkv = alloc(BT * QKV); datty = alloc(BT * C);
            dgu = alloc(BT * 2 * H); dhid = alloc(BT * H);
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
