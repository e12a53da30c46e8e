package jgpt.convert;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import jgpt.model.GPTConfig;
import jgpt.model.LanguageModel;
import jgpt.util.UserError;

/**
 * Karpathy's llama2.c checkpoint ({@code run.c}, legacy version 0): seven little-endian int32
 * (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a negative vocab_size
 * means an unshared classifier), then f32 weights: token_embedding, rms_att, wq, wk, wv, wo,
 * rms_ffn, w1 (gate), w2 (down), w3 (up), rms_final, freq_cis_real and freq_cis_imag (skipped:
 * jgpt computes RoPE itself), and wcls when unshared. RMSNorm eps 1e-5, θ 10000.
 *
 * <p>llama2.c rotates interleaved pairs (2i, 2i+1) of each head; jgpt uses HF's rotate-half pairs
 * (i, i + hs/2). Rotating q and k both ways gives the same scores once the rows of wq and wk are
 * permuted per head: HF row {@code j·hs/2 + i} is llama2.c row {@code 2i + j}
 * (HF's convert_llama_weights_to_hf permute).
 */
public final class Llama2cFormat {
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Llama2cFormat() {}

    public static LanguageModel read(Path file) {
        try (Arena arena = Arena.ofConfined(); FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            if (ch.size() < 28) throw new UserError(file + ": too short for a llama2.c header");
            MemorySegment m = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            int[] h = new int[7];
            for (int i = 0; i < 7; i++) h[i] = m.get(I32, 4L * i);
            int dim = h[0], hidden = h[1], nLayer = h[2], nHead = h[3], nKv = h[4], vocab = Math.abs(h[5]), seq = h[6];
            if (dim <= 0 || hidden <= 0 || nLayer <= 0 || nHead <= 0 || nKv <= 0 || vocab == 0 || seq <= 0 || dim % nHead != 0) {
                throw new UserError(file + ": not a llama2.c checkpoint (header " + java.util.Arrays.toString(h) + ")");
            }
            GPTConfig c = GPTConfig.llama(nLayer, nHead, nKv, dim, hidden, seq, vocab, h[5] > 0, 10000, 1e-5);
            long hs = c.headSize(), kv = c.kvDim();
            long floats = (long) vocab * dim + nLayer * (2L * dim + 2L * dim * dim + 2L * kv * dim + 3L * hidden * dim)
                    + dim + seq * hs + (h[5] > 0 ? 0 : (long) vocab * dim);
            if (ch.size() != 28 + floats * 4) {
                throw new UserError(file + ": " + ch.size() + " bytes, but its header describes " + (28 + floats * 4));
            }
            LanguageModel model = LanguageModel.create(c);
            Reader r = new Reader(m, model);
            r.read("embed_tokens.weight", (long) vocab * dim);
            r.perLayer(nLayer, "input_layernorm.weight", dim, 0);
            r.perLayer(nLayer, "self_attn.q_proj.weight", (long) dim * dim, nHead);
            r.perLayer(nLayer, "self_attn.k_proj.weight", kv * dim, nKv);
            r.perLayer(nLayer, "self_attn.v_proj.weight", kv * dim, 0);
            r.perLayer(nLayer, "self_attn.o_proj.weight", (long) dim * dim, 0);
            r.perLayer(nLayer, "post_attention_layernorm.weight", dim, 0);
            r.perLayer(nLayer, "mlp.gate_proj.weight", (long) hidden * dim, 0);
            r.perLayer(nLayer, "mlp.down_proj.weight", (long) dim * hidden, 0);
            r.perLayer(nLayer, "mlp.up_proj.weight", (long) hidden * dim, 0);
            r.read("norm.weight", dim);
            r.pos += seq * hs * 4; // freq_cis_real and freq_cis_imag, [seq, hs/2] each
            if (h[5] < 0) r.read("lm_head.weight", (long) vocab * dim);
            return model;
        } catch (IOException e) {
            throw new UserError("cannot read " + file + ": " + e.getMessage());
        }
    }

    /** Reads consecutive tensors of the file into the model. */
    private static final class Reader {
        final MemorySegment m;
        final LanguageModel model;
        long pos = 28;

        Reader(MemorySegment m, LanguageModel model) {
            this.m = m;
            this.model = model;
        }

        void read(String name, long n) {
            MemorySegment.copy(m, F32, pos, model.params().view(name), ValueLayout.JAVA_FLOAT, 0, n);
            pos += n * 4;
        }

        /** One tensor per layer; with heads > 0, rows permuted from interleaved to rotate-half RoPE order. */
        void perLayer(int nLayer, String name, long n, int heads) {
            for (int l = 0; l < nLayer; l++) {
                String full = "layers." + l + "." + name;
                if (heads == 0) {
                    read(full, n);
                    continue;
                }
                MemorySegment dst = model.params().view(full);
                int cols = model.config().nEmbd(), hs = model.config().headSize(), half = hs / 2;
                for (int hd = 0; hd < heads; hd++) {
                    for (int i = 0; i < half; i++) {
                        for (int j = 0; j < 2; j++) {
                            long src = pos + ((long) hd * hs + 2L * i + j) * cols * 4;
                            long dstRow = (long) hd * hs + (long) j * half + i;
                            MemorySegment.copy(m, F32, src, dst, ValueLayout.JAVA_FLOAT, dstRow * cols * 4, cols);
                        }
                    }
                }
                pos += n * 4;
            }
        }
    }
}
