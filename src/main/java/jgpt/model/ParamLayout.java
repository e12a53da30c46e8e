package jgpt.model;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where every parameter of a model lives in its flat buffer. Tensors of one transformer block are
 * contiguous (FSDP gathers a block as one slice); names follow Hugging Face's GPT-2 and Llama
 * (without the {@code transformer.} / {@code model.} prefixes).
 */
public final class ParamLayout {
    private final List<ParamTensor> tensors = new ArrayList<>();
    private final Map<String, ParamTensor> byName = new LinkedHashMap<>();
    private final long[] blockStart;
    private final long[] blockEnd;
    private long numel;

    private ParamLayout(int nLayer) {
        blockStart = new long[nLayer];
        blockEnd = new long[nLayer];
    }

    private void add(String name, int... shape) {
        ParamTensor t = new ParamTensor(name, numel, shape);
        tensors.add(t);
        byName.put(name, t);
        numel += t.numel();
    }

    /** The layout of the config's architecture. */
    public static ParamLayout of(GPTConfig c) {
        return c.isLlama() ? llama(c) : gpt2(c);
    }

    /**
     * Llama layout with HF names: embed_tokens, blocks layers.0 .. layers.{L-1}, norm, lm_head when
     * untied. Within a block q/k/v_proj are adjacent (one fused [q|k|v] matmul reads them as one
     * weight) and so are gate/up_proj (one fused [gate|up] matmul).
     */
    public static ParamLayout llama(GPTConfig c) {
        ParamLayout p = new ParamLayout(c.nLayer());
        int C = c.nEmbd(), KV = c.kvDim(), H = c.ffnHidden();
        p.add("embed_tokens.weight", c.paddedVocab(), C);
        for (int l = 0; l < c.nLayer(); l++) {
            String h = "layers." + l + ".";
            p.blockStart[l] = p.numel;
            p.add(h + "input_layernorm.weight", C);
            p.add(h + "self_attn.q_proj.weight", C, C);
            p.add(h + "self_attn.k_proj.weight", KV, C);
            p.add(h + "self_attn.v_proj.weight", KV, C);
            p.add(h + "self_attn.o_proj.weight", C, C);
            p.add(h + "post_attention_layernorm.weight", C);
            p.add(h + "mlp.gate_proj.weight", H, C);
            p.add(h + "mlp.up_proj.weight", H, C);
            p.add(h + "mlp.down_proj.weight", C, H);
            p.blockEnd[l] = p.numel;
        }
        p.add("norm.weight", C);
        if (!c.tied()) p.add("lm_head.weight", c.paddedVocab(), C);
        return p;
    }

    /** GPT-2 layout: wte, wpe, blocks h.0 .. h.{L-1}, ln_f, and lm_head when untied. */
    public static ParamLayout gpt2(GPTConfig c) {
        ParamLayout p = new ParamLayout(c.nLayer());
        int C = c.nEmbd();
        p.add("wte", c.paddedVocab(), C);
        p.add("wpe", c.blockSize(), C);
        for (int l = 0; l < c.nLayer(); l++) {
            String h = "h." + l + ".";
            p.blockStart[l] = p.numel;
            p.add(h + "ln_1.weight", C);
            if (c.bias()) p.add(h + "ln_1.bias", C);
            p.add(h + "attn.c_attn.weight", 3 * C, C);
            if (c.bias()) p.add(h + "attn.c_attn.bias", 3 * C);
            p.add(h + "attn.c_proj.weight", C, C);
            if (c.bias()) p.add(h + "attn.c_proj.bias", C);
            p.add(h + "ln_2.weight", C);
            if (c.bias()) p.add(h + "ln_2.bias", C);
            p.add(h + "mlp.c_fc.weight", 4 * C, C);
            if (c.bias()) p.add(h + "mlp.c_fc.bias", 4 * C);
            p.add(h + "mlp.c_proj.weight", C, 4 * C);
            if (c.bias()) p.add(h + "mlp.c_proj.bias", C);
            p.blockEnd[l] = p.numel;
        }
        p.add("ln_f.weight", C);
        if (c.bias()) p.add("ln_f.bias", C);
        if (!c.tied()) p.add("lm_head.weight", c.paddedVocab(), C);
        return p;
    }

    public List<ParamTensor> tensors() {
        return tensors;
    }

    public ParamTensor tensor(String name) {
        ParamTensor t = byName.get(name);
        if (t == null) throw new IllegalArgumentException("no tensor named '" + name + "'");
        return t;
    }

    public boolean has(String name) {
        return byName.containsKey(name);
    }

    /** Total floats. */
    public long numel() {
        return numel;
    }

    /** First float of block l (inclusive). */
    public long blockStart(int l) {
        return blockStart[l];
    }

    /** End of block l (exclusive). */
    public long blockEnd(int l) {
        return blockEnd[l];
    }
}
