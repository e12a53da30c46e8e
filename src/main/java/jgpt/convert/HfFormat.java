package jgpt.convert;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import jgpt.io.SafeTensors;
import jgpt.model.FlatBuffer;
import jgpt.model.GPTConfig;
import jgpt.model.LanguageModel;
import jgpt.model.ParamTensor;
import jgpt.util.UserError;

/**
 * Hugging Face model directories ({@code config.json} + {@code model.safetensors}) in and out, for
 * GPT2LMHeadModel and LlamaForCausalLM. jgpt's tensor names are HF's without the
 * {@code transformer.} / {@code model.} prefix. GPT-2's Conv1D weights are stored [in, out] and are
 * transposed to jgpt's [out, in]. HF Llama q/k_proj rows are already in the rotate-half order jgpt's
 * RoPE uses (llama2.c's are not: see {@link Llama2cFormat}). f16/bf16 files are widened to f32.
 * Padded vocabulary rows stay zero on import and are dropped on export.
 */
public final class HfFormat {
    public static final String CONFIG = "config.json";
    public static final String WEIGHTS = "model.safetensors";
    private static final ObjectMapper JSON = new ObjectMapper();

    private HfFormat() {}

    // ---------------------------------------------------------------- import

    /** Reads a HF model directory into a new model. */
    public static LanguageModel read(Path dir) {
        JsonNode cfg = readConfig(dir.resolve(CONFIG));
        String type = cfg.path("model_type").asText("");
        GPTConfig c = switch (type) {
            case "gpt2" -> new GPTConfig(num(cfg, "n_layer"), num(cfg, "n_head"), num(cfg, "n_embd"), num(cfg, "n_positions"),
                    num(cfg, "vocab_size"), true, cfg.path("tie_word_embeddings").asBoolean(true), GPTConfig.GPT2, 0, 0, 10000,
                    cfg.path("layer_norm_epsilon").asDouble(1e-5));
            case "llama" -> GPTConfig.llama(num(cfg, "num_hidden_layers"), num(cfg, "num_attention_heads"),
                    cfg.path("num_key_value_heads").asInt(num(cfg, "num_attention_heads")), num(cfg, "hidden_size"),
                    num(cfg, "intermediate_size"), num(cfg, "max_position_embeddings"), num(cfg, "vocab_size"),
                    cfg.path("tie_word_embeddings").asBoolean(false), cfg.path("rope_theta").asDouble(10000),
                    cfg.path("rms_norm_eps").asDouble(1e-6));
            default -> throw new UserError(dir.resolve(CONFIG) + ": model_type '" + type + "' is not gpt2 or llama");
        };
        LanguageModel model = LanguageModel.create(c);
        try (SafeTensors st = SafeTensors.open(dir.resolve(WEIGHTS))) {
            String prefix = c.isLlama() ? "model." : st.contains("transformer.wte.weight") ? "transformer." : "";
            for (ParamTensor t : model.layout().tensors()) {
                String name = hfName(c, t.name(), prefix);
                int[] shape = realShape(c, t);
                if (transposed(c, t.name())) {
                    expectShape(st, name, shape[1], shape[0]);
                    float[] w = st.floats(name);
                    MemorySegment v = model.params().view(t.name());
                    for (int r = 0; r < shape[0]; r++) {
                        for (int k = 0; k < shape[1]; k++) v.setAtIndex(JAVA_FLOAT, (long) r * shape[1] + k, w[k * shape[0] + r]);
                    }
                } else {
                    expectShape(st, name, shape);
                    st.copyFloats(name, model.params().view(t.name()), 0);
                }
            }
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
        return model;
    }

    private static JsonNode readConfig(Path file) {
        try {
            return JSON.readTree(Files.readString(file));
        } catch (IOException e) {
            throw new UserError("cannot read " + file + ": " + e.getMessage());
        }
    }

    private static int num(JsonNode cfg, String field) {
        if (!cfg.path(field).canConvertToInt()) throw new UserError("config.json has no integer '" + field + "'");
        return cfg.get(field).asInt();
    }

    /** The file's name for a jgpt tensor. lm_head is outside the transformer / model prefix in both. */
    private static String hfName(GPTConfig c, String jgpt, String prefix) {
        if (jgpt.equals("lm_head.weight")) return jgpt;
        if (!c.isLlama() && (jgpt.equals("wte") || jgpt.equals("wpe"))) return prefix + jgpt + ".weight";
        return prefix + jgpt;
    }

    /** Conv1D weights of GPT-2: [in, out] in the file. */
    private static boolean transposed(GPTConfig c, String name) {
        return !c.isLlama() && (name.endsWith("c_attn.weight") || name.endsWith("c_proj.weight") || name.endsWith("c_fc.weight"));
    }

    /** jgpt's shape without vocabulary padding. */
    private static int[] realShape(GPTConfig c, ParamTensor t) {
        int[] s = t.shape().clone();
        if (s.length == 2 && s[0] == c.paddedVocab() && isVocab(t.name())) s[0] = c.vocabSize();
        return s;
    }

    private static boolean isVocab(String name) {
        return name.equals("wte") || name.equals("embed_tokens.weight") || name.equals("lm_head.weight");
    }

    private static void expectShape(SafeTensors st, String name, int... shape) {
        long[] have = st.info(name).shape();
        long[] want = Arrays.stream(shape).asLongStream().toArray();
        if (!Arrays.equals(have, want)) {
            throw new UserError(st.path() + ": tensor '" + name + "' has shape " + Arrays.toString(have) + ", expected " + Arrays.toString(want));
        }
    }

    // ---------------------------------------------------------------- export

    /** Writes config.json and model.safetensors (f32) that transformers' from_pretrained loads. */
    public static void write(LanguageModel model, Path dir) {
        GPTConfig c = model.config();
        if (!c.isLlama() && !c.bias()) throw new UserError("HF GPT-2 has biases: a model trained with --no-bias cannot be exported to it");
        try {
            Files.createDirectories(dir);
            JSON.writerWithDefaultPrettyPrinter().writeValue(dir.resolve(CONFIG).toFile(), config(c));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + dir.resolve(CONFIG), e);
        }
        FlatBuffer p = model.params();
        SafeTensors.Writer w = new SafeTensors.Writer().metadata("format", "pt");
        String prefix = c.isLlama() ? "model." : "transformer.";
        for (ParamTensor t : model.layout().tensors()) {
            int[] s = realShape(c, t);
            String name = hfName(c, t.name(), prefix);
            if (transposed(c, t.name())) {
                float[] src = p.toArray(t.name()), dst = new float[src.length];
                for (int r = 0; r < s[0]; r++) for (int k = 0; k < s[1]; k++) dst[k * s[0] + r] = src[r * s[1] + k];
                w.floats(name, dst, s[1], s[0]);
            } else {
                long n = 1;
                for (int d : s) n *= d;
                w.floats(name, p.view(t.name()).asSlice(0, n * 4), Arrays.stream(s).asLongStream().toArray());
            }
        }
        w.write(dir.resolve(WEIGHTS));
    }

    private static ObjectNode config(GPTConfig c) {
        ObjectNode o = JSON.createObjectNode();
        if (c.isLlama()) {
            o.putArray("architectures").add("LlamaForCausalLM");
            o.put("model_type", "llama").put("hidden_size", c.nEmbd()).put("intermediate_size", c.ffnHidden())
                    .put("num_hidden_layers", c.nLayer()).put("num_attention_heads", c.nHead())
                    .put("num_key_value_heads", c.nKvHead()).put("max_position_embeddings", c.blockSize())
                    .put("rms_norm_eps", c.normEps()).put("rope_theta", c.ropeTheta()).put("hidden_act", "silu");
        } else {
            o.putArray("architectures").add("GPT2LMHeadModel");
            o.put("model_type", "gpt2").put("n_layer", c.nLayer()).put("n_head", c.nHead()).put("n_embd", c.nEmbd())
                    .put("n_positions", c.blockSize()).put("n_ctx", c.blockSize()).put("layer_norm_epsilon", c.normEps())
                    .put("activation_function", "gelu_new");
        }
        return o.put("vocab_size", c.vocabSize()).put("tie_word_embeddings", c.tied()).put("torch_dtype", "float32");
    }
}
