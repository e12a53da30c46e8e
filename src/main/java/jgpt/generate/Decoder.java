package jgpt.generate;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import jgpt.kernels.Gelu;
import jgpt.kernels.LayerNorm;
import jgpt.kernels.Matmul;
import jgpt.kernels.Parallel;
import jgpt.kernels.Vec;
import jgpt.model.FlatBuffer;
import jgpt.model.GPT;
import jgpt.model.GPTConfig;

/**
 * Inference for one sequence with a KV cache. {@link #prefill} runs a block of new tokens through
 * the model with matrix products, {@link #step} one token with matrix-vector products; both append
 * keys and values to the cache and compute logits for the last position only, since only that
 * one is sampled from.
 */
public final class Decoder implements TokenDecoder {
    private final GPT model;
    private final GPTConfig c;
    private final FlatBuffer p;
    private final Matmul mm = new Matmul();
    private final Arena arena = Arena.ofShared();
    // Scratch for up to block_size rows.
    private final MemorySegment x, ln, qkv, atty, tmp, fc, fcg, lnMean, lnRstd, logits;
    private final float[] logitsOut;

    public Decoder(GPT model) {
        this.model = model;
        this.c = model.config();
        this.p = model.params();
        long T = c.blockSize(), C = c.nEmbd();
        x = alloc(T * C); ln = alloc(T * C); qkv = alloc(T * 3 * C); atty = alloc(T * C); tmp = alloc(T * C);
        fc = alloc(T * 4 * C); fcg = alloc(T * 4 * C); lnMean = alloc(T); lnRstd = alloc(T);
        logits = alloc(c.paddedVocab());
        logitsOut = new float[c.vocabSize()];
    }

    private MemorySegment alloc(long floats) {
        return arena.allocate(floats * 4, 64);
    }

    public GPTConfig config() {
        return c;
    }

    public KVCache newCache() {
        return new KVCache(c);
    }

    /**
     * Appends {@code tokens[off, off+n)} to the sequence in {@code cache} and returns the logits
     * (real vocabulary only) that predict the token after the last one. The returned array is
     * reused by the next call.
     */
    public float[] prefill(KVCache cache, int[] tokens, int off, int n) {
        if (n < 1) throw new IllegalArgumentException("prefill needs at least one token");
        if (cache.length + n > cache.capacity) {
            throw new IllegalArgumentException("context of " + (cache.length + n) + " tokens exceeds block_size " + cache.capacity);
        }
        int C = c.nEmbd(), NH = c.nHead(), hs = C / NH, pos0 = cache.length;
        for (int i = 0; i < n; i++) {
            int tok = tokens[off + i];
            if (tok < 0 || tok >= c.vocabSize()) throw new IllegalArgumentException("token " + tok + " outside vocabulary of " + c.vocabSize());
            MemorySegment.copy(p.view("wte"), (long) tok * C * 4, x, (long) i * C * 4, C * 4L);
            Vec.axpy(1f, p.view("wpe"), (long) (pos0 + i) * C, x, (long) i * C, C);
        }
        for (int l = 0; l < c.nLayer(); l++) {
            String h = "h." + l + ".";
            LayerNorm.forward(ln, lnMean, lnRstd, x, p.view(h + "ln_1.weight"), opt(h + "ln_1.bias"), n, C);
            linear(qkv, ln, h + "attn.c_attn", n, C, 3 * C);
            MemorySegment kc = cache.k[l], vc = cache.v[l];
            for (int i = 0; i < n; i++) {
                MemorySegment.copy(qkv, ((long) i * 3 * C + C) * 4, kc, (long) (pos0 + i) * C * 4, C * 4L);
                MemorySegment.copy(qkv, ((long) i * 3 * C + 2 * C) * 4, vc, (long) (pos0 + i) * C * 4, C * 4L);
            }
            attend(kc, vc, n, pos0, C, NH, hs);
            linear(tmp, atty, h + "attn.c_proj", n, C, C);
            Vec.addInto(x, tmp, (long) n * C);
            LayerNorm.forward(ln, lnMean, lnRstd, x, p.view(h + "ln_2.weight"), opt(h + "ln_2.bias"), n, C);
            linear(fc, ln, h + "mlp.c_fc", n, C, 4 * C);
            Gelu.forward(fcg, fc, (long) n * 4 * C);
            linear(tmp, fcg, h + "mlp.c_proj", n, 4 * C, C);
            Vec.addInto(x, tmp, (long) n * C);
        }
        cache.length += n;
        // Only the last position is sampled from: final norm and LM head on one row.
        MemorySegment last = x.asSlice((long) (n - 1) * C * 4, C * 4L);
        LayerNorm.forward(ln, lnMean, lnRstd, last, p.view("ln_f.weight"), opt("ln_f.bias"), 1, C);
        Matmul.matvec(logits, 0, ln, 0, p.view(c.tied() ? "wte" : "lm_head.weight"), null, C, c.vocabSize());
        MemorySegment.copy(logits, JAVA_FLOAT, 0, logitsOut, 0, c.vocabSize());
        return logitsOut;
    }

    /** Appends one token; returns the next-token logits (reused array). */
    public float[] step(KVCache cache, int token) {
        int[] one = {token};
        return prefill(cache, one, 0, 1);
    }

    private MemorySegment opt(String name) {
        return model.layout().has(name) ? p.view(name) : null;
    }

    /** out = inp · Wᵀ + b: matrix-vector for one row (no weight packing), matmul for a block. */
    private void linear(MemorySegment out, MemorySegment inp, String prefix, int n, int in, int outF) {
        MemorySegment w = p.view(prefix + ".weight"), b = opt(prefix + ".bias");
        if (n == 1) Matmul.matvec(out, 0, inp, 0, w, b, in, outF);
        else mm.forward(out, inp, w, b, n, in, outF);
    }

    /** Causal attention of the n new positions (at pos0..pos0+n-1) over all cached positions. */
    private void attend(MemorySegment kc, MemorySegment vc, int n, int pos0, int C, int NH, int hs) {
        float scale = (float) (1.0 / Math.sqrt(hs));
        Parallel.forRange(n * NH, 1, (s, e) -> {
            float[] att = new float[pos0 + n];
            for (int ih = s; ih < e; ih++) {
                int i = ih / NH, h = ih % NH, t = pos0 + i;
                long q = (long) i * 3 * C + (long) h * hs;
                float max = Float.NEGATIVE_INFINITY;
                for (int t2 = 0; t2 <= t; t2++) {
                    att[t2] = Vec.dot(qkv, q, kc, (long) t2 * C + (long) h * hs, hs) * scale;
                    max = Math.max(max, att[t2]);
                }
                float sum = 0;
                for (int t2 = 0; t2 <= t; t2++) {
                    att[t2] = (float) Math.exp(att[t2] - max);
                    sum += att[t2];
                }
                long o = (long) i * C + (long) h * hs;
                atty.asSlice(o * 4, hs * 4L).fill((byte) 0);
                float inv = 1f / sum;
                for (int t2 = 0; t2 <= t; t2++) Vec.axpy(att[t2] * inv, vc, (long) t2 * C + (long) h * hs, atty, o, hs);
            }
        });
    }

    @Override
    public void close() {
        arena.close();
    }
}
