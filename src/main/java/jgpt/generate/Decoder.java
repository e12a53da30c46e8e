package jgpt.generate;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import jgpt.kernels.Gelu;
import jgpt.kernels.LayerNorm;
import jgpt.kernels.DecodeAttention;
import jgpt.kernels.Matmul;
import jgpt.kernels.Parallel;
import jgpt.kernels.Vec;
import jgpt.model.FlatBuffer;
import jgpt.model.GPT;
import jgpt.model.GPTConfig;

/**
 * Inference with a KV cache per sequence. {@link #prefill} runs a block of new tokens of one
 * sequence through the model with matrix products; {@link #step} advances several sequences by one
 * token each, their matrix-vector products done together as one [n, C]·Wᵀ product that reads each
 * weight once. Both append keys and values to the caches and compute logits for the last position
 * only, since only that one is sampled from. A sequence's step logits are bit-identical whether it
 * is stepped alone or in a batch. Not thread-safe: one thread owns a decoder.
 */
public final class Decoder implements TokenDecoder {
    private final GPT model;
    private final GPTConfig c;
    private final FlatBuffer p;
    private final Matmul mm = new Matmul();
    private final Arena arena = Arena.ofShared();
    private final int maxBatch;
    // Scratch for up to max(block_size, maxBatch) rows.
    private final MemorySegment x, ln, qkv, atty, tmp, fc, fcg, lnMean, lnRstd, logits;
    private final float[] logitsOut;
    // Which cache and position each row of the current forward belongs to.
    private final KVCache[] rowCache;
    private final int[] rowPos;

    public Decoder(GPT model) {
        this(model, 1);
    }

    /** @param maxBatch the most sequences one {@link #step} advances */
    public Decoder(GPT model, int maxBatch) {
        if (maxBatch < 1) throw new IllegalArgumentException("maxBatch must be >= 1, got " + maxBatch);
        this.model = model;
        this.c = model.config();
        this.p = model.params();
        this.maxBatch = maxBatch;
        int rows = Math.max(c.blockSize(), maxBatch);
        long T = rows, C = c.nEmbd();
        x = alloc(T * C); ln = alloc(T * C); qkv = alloc(T * 3 * C); atty = alloc(T * C); tmp = alloc(T * C);
        fc = alloc(T * 4 * C); fcg = alloc(T * 4 * C); lnMean = alloc(T); lnRstd = alloc(T);
        logits = alloc((long) maxBatch * c.vocabSize());
        logitsOut = new float[c.vocabSize()];
        rowCache = new KVCache[rows];
        rowPos = new int[rows];
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
        for (int i = 0; i < n; i++) {
            rowCache[i] = cache;
            rowPos[i] = cache.length + i;
        }
        forward(tokens, off, n, n > 1);
        cache.length += n;
        // Only the last position is sampled from: final norm and LM head on one row.
        head(n - 1, 1);
        MemorySegment.copy(logits, JAVA_FLOAT, 0, logitsOut, 0, c.vocabSize());
        return logitsOut;
    }

    /** Appends one token; returns the next-token logits (reused array). */
    public float[] step(KVCache cache, int token) {
        int[] one = {token};
        return prefill(cache, one, 0, 1);
    }

    /**
     * Appends {@code tokens[i]} to {@code caches[i]} for i &lt; n and writes each sequence's
     * next-token logits (real vocabulary) to {@code out[i]}.
     */
    public void step(KVCache[] caches, int[] tokens, int n, float[][] out) {
        if (n < 1 || n > maxBatch) throw new IllegalArgumentException("batch of " + n + " outside [1, " + maxBatch + "]");
        for (int i = 0; i < n; i++) {
            if (caches[i].length >= caches[i].capacity) throw new IllegalArgumentException("sequence " + i + " has a full cache");
            rowCache[i] = caches[i];
            rowPos[i] = caches[i].length;
        }
        forward(tokens, 0, n, false);
        for (int i = 0; i < n; i++) caches[i].length++;
        head(0, n);
        int V = c.vocabSize();
        for (int i = 0; i < n; i++) MemorySegment.copy(logits, JAVA_FLOAT, (long) i * V * 4, out[i], 0, V);
    }

    /** The transformer blocks over n rows; row i is token {@code tokens[off+i]} at rowPos[i] of rowCache[i]. */
    private void forward(int[] tokens, int off, int n, boolean gemm) {
        int C = c.nEmbd(), NH = c.nHead(), hs = C / NH;
        for (int i = 0; i < n; i++) {
            int tok = tokens[off + i];
            if (tok < 0 || tok >= c.vocabSize()) throw new IllegalArgumentException("token " + tok + " outside vocabulary of " + c.vocabSize());
            MemorySegment.copy(p.view("wte"), (long) tok * C * 4, x, (long) i * C * 4, C * 4L);
            Vec.axpy(1f, p.view("wpe"), (long) rowPos[i] * C, x, (long) i * C, C);
        }
        for (int l = 0; l < c.nLayer(); l++) {
            String h = "h." + l + ".";
            LayerNorm.forward(ln, lnMean, lnRstd, x, p.view(h + "ln_1.weight"), opt(h + "ln_1.bias"), n, C);
            linear(qkv, ln, h + "attn.c_attn", n, C, 3 * C, gemm);
            for (int i = 0; i < n; i++) {
                long at = (long) rowPos[i] * C * 4;
                MemorySegment.copy(qkv, ((long) i * 3 * C + C) * 4, rowCache[i].k[l], at, C * 4L);
                MemorySegment.copy(qkv, ((long) i * 3 * C + 2 * C) * 4, rowCache[i].v[l], at, C * 4L);
            }
            attend(l, n, C, NH, hs);
            linear(tmp, atty, h + "attn.c_proj", n, C, C, gemm);
            Vec.addInto(x, tmp, (long) n * C);
            LayerNorm.forward(ln, lnMean, lnRstd, x, p.view(h + "ln_2.weight"), opt(h + "ln_2.bias"), n, C);
            linear(fc, ln, h + "mlp.c_fc", n, C, 4 * C, gemm);
            Gelu.forward(fcg, fc, (long) n * 4 * C);
            linear(tmp, fcg, h + "mlp.c_proj", n, 4 * C, C, gemm);
            Vec.addInto(x, tmp, (long) n * C);
        }
    }

    /** Final norm and LM head for rows [first, first+n) of x into logits [n, V]. */
    private void head(int first, int n) {
        int C = c.nEmbd();
        MemorySegment rows = x.asSlice((long) first * C * 4, (long) n * C * 4);
        LayerNorm.forward(ln, lnMean, lnRstd, rows, p.view("ln_f.weight"), opt("ln_f.bias"), n, C);
        Matmul.matvecRows(logits, ln, p.view(c.tied() ? "wte" : "lm_head.weight"), null, n, C, c.vocabSize());
    }

    private MemorySegment opt(String name) {
        return model.layout().has(name) ? p.view(name) : null;
    }

    /** out = inp · Wᵀ + b: a tiled matmul for a prefill block, per-row dot products otherwise. */
    private void linear(MemorySegment out, MemorySegment inp, String prefix, int n, int in, int outF, boolean gemm) {
        MemorySegment w = p.view(prefix + ".weight"), b = opt(prefix + ".bias");
        if (gemm) mm.forward(out, inp, w, b, n, in, outF);
        else Matmul.matvecRows(out, inp, w, b, n, in, outF);
    }

    /** Causal attention of each row (at rowPos[i] of rowCache[i]) over its cached positions 0..rowPos[i]. */
    private void attend(int layer, int n, int C, int NH, int hs) {
        float scale = (float) (1.0 / Math.sqrt(hs));
        Parallel.forRange(n * NH, 1, (s, e) -> {
            for (int ih = s; ih < e; ih++) {
                int i = ih / NH, h = ih % NH;
                DecodeAttention.head(qkv, (long) i * 3 * C + (long) h * hs, rowCache[i].k[layer], rowCache[i].v[layer],
                        (long) h * hs, C, rowPos[i] + 1, hs, scale, atty, (long) i * C + (long) h * hs);
            }
        });
    }

    @Override
    public void close() {
        arena.close();
    }
}
