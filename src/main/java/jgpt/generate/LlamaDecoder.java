package jgpt.generate;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import jgpt.kernels.DecodeAttention;
import jgpt.kernels.Matmul;
import jgpt.kernels.MatvecQ8;
import jgpt.kernels.Parallel;
import jgpt.kernels.Q8Tensor;
import jgpt.kernels.RMSNorm;
import jgpt.kernels.Rope;
import jgpt.kernels.SwiGlu;
import jgpt.kernels.Vec;
import jgpt.model.FlatBuffer;
import jgpt.model.GPTConfig;
import jgpt.model.Llama;
import jgpt.model.ParamTensor;

/**
 * KV-cache inference for a {@link Llama}, like {@link Decoder}: the cache holds only the n_kv_head
 * key/value heads, RoPE is applied to q and k at their absolute positions before k is cached. With
 * {@code q8} the linear weights and the LM head are quantized to Q8_0 once, here, and every
 * product reads int8 ({@link MatvecQ8}); embeddings and norms stay f32.
 */
public final class LlamaDecoder implements TokenDecoder {
    /** out[n, outF] = inp[n, in] · Wᵀ for one weight, f32 or Q8_0. */
    private interface Linear {
        void apply(MemorySegment out, MemorySegment inp, int n);
    }

    private final GPTConfig c;
    private final FlatBuffer p;
    private final Rope rope;
    private final Matmul mm = new Matmul();
    private final Arena arena = Arena.ofShared();
    private final Linear[] qkv, o, gateUp, down;
    private final Linear head;
    /** Norm weights per layer, looked up once (a name lookup per layer and step showed in decode profiles). */
    private final MemorySegment[] inNorm, postNorm;
    private final MemorySegment finalNorm;
    private final int C, NH, NKV, hs, KV, QKV, H;
    private final float eps;
    private final MemorySegment x, xn, rstd, qkvBuf, atty, tmp, gu, hid, logits;
    private final float[] logitsOut;
    private final Map<String, Q8Tensor> quantized;

    /** A weight matrix the decoder multiplies by: rows x cols floats from tensor {@code first} on. */
    public record Weight(String first, int rows, int cols) {}

    /**
     * The decoder's linear weights in order: per layer fused q|k|v, o_proj, fused gate|up,
     * down_proj, then the LM head (vocab rows of embed_tokens when tied). With q8 these are the
     * tensors held as Q8_0.
     */
    public static List<Weight> weights(GPTConfig c) {
        int C = c.nEmbd(), QKV = C + 2 * c.kvDim(), H = c.ffnHidden();
        List<Weight> w = new ArrayList<>();
        for (int l = 0; l < c.nLayer(); l++) {
            String h = "layers." + l + ".";
            w.add(new Weight(h + "self_attn.q_proj.weight", QKV, C));
            w.add(new Weight(h + "self_attn.o_proj.weight", C, C));
            w.add(new Weight(h + "mlp.gate_proj.weight", 2 * H, C));
            w.add(new Weight(h + "mlp.down_proj.weight", C, H));
        }
        w.add(new Weight(c.tied() ? "embed_tokens.weight" : "lm_head.weight", c.vocabSize(), C));
        return w;
    }

    public LlamaDecoder(Llama model, boolean q8) {
        this(model, q8, null);
    }

    /**
     * Decodes with Q8_0 weights quantized earlier (a {@code jgpt quantize} file), one per entry of
     * {@link #weights}, keyed by its first tensor; the model supplies embeddings and norms. The
     * tensors' memory stays the caller's and must outlive the decoder.
     */
    public LlamaDecoder(Llama model, Map<String, Q8Tensor> quantized) {
        this(model, true, quantized);
    }

    private LlamaDecoder(Llama model, boolean q8, Map<String, Q8Tensor> quantized) {
        this.quantized = quantized;
        c = model.config();
        p = model.params();
        rope = model.rope();
        C = c.nEmbd(); NH = c.nHead(); NKV = c.nKvHead(); hs = c.headSize(); KV = c.kvDim(); QKV = C + 2 * KV; H = c.ffnHidden();
        eps = (float) c.normEps();
        int Lyr = c.nLayer();
        qkv = new Linear[Lyr]; o = new Linear[Lyr]; gateUp = new Linear[Lyr]; down = new Linear[Lyr];
        List<Weight> ws = weights(c);
        for (int l = 0; l < Lyr; l++) {
            qkv[l] = linear(ws.get(4 * l), q8);
            o[l] = linear(ws.get(4 * l + 1), q8);
            gateUp[l] = linear(ws.get(4 * l + 2), q8);
            down[l] = linear(ws.get(4 * l + 3), q8);
        }
        head = linear(ws.get(4 * Lyr), q8);
        inNorm = new MemorySegment[Lyr];
        postNorm = new MemorySegment[Lyr];
        for (int l = 0; l < Lyr; l++) {
            inNorm[l] = p.view("layers." + l + ".input_layernorm.weight");
            postNorm[l] = p.view("layers." + l + ".post_attention_layernorm.weight");
        }
        finalNorm = p.view("norm.weight");
        long T = c.blockSize();
        x = alloc(T * C); xn = alloc(T * C); rstd = alloc(T); qkvBuf = alloc(T * QKV); atty = alloc(T * C); tmp = alloc(T * C);
        gu = alloc(T * 2 * H); hid = alloc(T * H); logits = alloc(c.vocabSize());
        logitsOut = new float[c.vocabSize()];
    }

    /** rows x cols weights starting at a tensor (running on into adjacent ones for the fused q|k|v and gate|up). */
    private Linear linear(Weight spec, boolean q8) {
        int rows = spec.rows(), cols = spec.cols();
        ParamTensor t = p.layout().tensor(spec.first());
        MemorySegment w = p.data().asSlice(t.offset() * 4, (long) rows * cols * 4);
        if (q8) {
            Q8Tensor qw = quantized == null ? Q8Tensor.quantize(w, rows, cols, arena) : quantized.get(spec.first());
            if (qw == null || qw.rows() != rows || qw.cols() != cols) {
                throw new IllegalArgumentException("no " + rows + "x" + cols + " Q8_0 tensor for " + spec.first());
            }
            return (out, inp, n) -> {
                for (int i = 0; i < n; i++) MatvecQ8.matvec(out, (long) i * rows, qw, inp, (long) i * cols);
            };
        }
        return (out, inp, n) -> {
            if (n == 1) Matmul.matvec(out, 0, inp, 0, w, null, cols, rows);
            else mm.forward(out, inp, w, null, n, cols, rows);
        };
    }

    private MemorySegment alloc(long floats) {
        return arena.allocate(floats * 4, 64);
    }

    @Override
    public GPTConfig config() {
        return c;
    }

    @Override
    public KVCache newCache() {
        return new KVCache(c);
    }

    @Override
    public float[] prefill(KVCache cache, int[] tokens, int off, int n) {
        if (n < 1) throw new IllegalArgumentException("prefill needs at least one token");
        if (cache.length + n > cache.capacity) {
            throw new IllegalArgumentException("context of " + (cache.length + n) + " tokens exceeds block_size " + cache.capacity);
        }
        int pos0 = cache.length;
        MemorySegment emb = p.view("embed_tokens.weight");
        for (int i = 0; i < n; i++) {
            int tok = tokens[off + i];
            if (tok < 0 || tok >= c.vocabSize()) throw new IllegalArgumentException("token " + tok + " outside vocabulary of " + c.vocabSize());
            MemorySegment.copy(emb, (long) tok * C * 4, x, (long) i * C * 4, C * 4L);
        }
        for (int l = 0; l < c.nLayer(); l++) {
            RMSNorm.forward(xn, rstd, x, inNorm[l], n, C, eps);
            qkv[l].apply(qkvBuf, xn, n);
            rope.forward(qkvBuf, n, n, pos0, QKV, NH + NKV);
            MemorySegment kc = cache.k[l], vc = cache.v[l];
            for (int i = 0; i < n; i++) {
                MemorySegment.copy(qkvBuf, ((long) i * QKV + C) * 4, kc, (long) (pos0 + i) * KV * 4, KV * 4L);
                MemorySegment.copy(qkvBuf, ((long) i * QKV + C + KV) * 4, vc, (long) (pos0 + i) * KV * 4, KV * 4L);
            }
            attend(kc, vc, n, pos0);
            o[l].apply(tmp, atty, n);
            Vec.addInto(x, tmp, (long) n * C);
            RMSNorm.forward(xn, rstd, x, postNorm[l], n, C, eps);
            gateUp[l].apply(gu, xn, n);
            SwiGlu.forward(hid, gu, n, H);
            down[l].apply(tmp, hid, n);
            Vec.addInto(x, tmp, (long) n * C);
        }
        cache.length += n;
        // Only the last position is sampled from: final norm and LM head on one row.
        RMSNorm.forward(xn, rstd, x.asSlice((long) (n - 1) * C * 4, C * 4L), finalNorm, 1, C, eps);
        head.apply(logits, xn, 1);
        MemorySegment.copy(logits, JAVA_FLOAT, 0, logitsOut, 0, c.vocabSize());
        return logitsOut;
    }

    /** Causal attention of the n new positions over all cached ones; query head h reads kv head h / (NH/NKV). */
    private void attend(MemorySegment kc, MemorySegment vc, int n, int pos0) {
        float scale = (float) (1.0 / Math.sqrt(hs));
        int group = NH / NKV;
        Parallel.forRange(n * NH, 1, (s, e) -> {
            for (int ih = s; ih < e; ih++) {
                int i = ih / NH, h = ih % NH;
                DecodeAttention.head(qkvBuf, (long) i * QKV + (long) h * hs, kc, vc, (long) (h / group) * hs, KV,
                        pos0 + i + 1, hs, scale, atty, (long) i * C + (long) h * hs);
            }
        });
    }

    @Override
    public void close() {
        arena.close();
    }
}
