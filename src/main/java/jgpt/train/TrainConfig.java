package jgpt.train;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Map;
import jgpt.model.GPTConfig;
import jgpt.util.UserError;

/**
 * Everything a training run needs besides the data: model shape, batch shape, optimizer and
 * schedule, logging cadence. Serialized as JSON with nanoGPT-style snake_case names; a preset
 * file and command-line flags are both partial JSON objects laid over {@link #defaults()}.
 *
 * @param arch         "gpt2" or "llama" (llama ignores bias: it has none)
 * @param nKvHead      key/value heads; 0 means n_head
 * @param ffnHidden    MLP width; 0 means the architecture's rule
 * @param seqLen       tokens per sequence T; 0 means block_size
 * @param lrDecaySteps step where the cosine reaches min_lr; 0 means max_steps
 * @param threads      compute threads; 0 means all available processors
 */
public record TrainConfig(
        @JsonProperty("data_dir") String dataDir,
        @JsonProperty("out_dir") String outDir,
        @JsonProperty("n_layer") int nLayer,
        @JsonProperty("n_head") int nHead,
        @JsonProperty("n_embd") int nEmbd,
        @JsonProperty("block_size") int blockSize,
        @JsonProperty("bias") boolean bias,
        @JsonProperty("tied") boolean tied,
        @JsonProperty("arch") String arch,
        @JsonProperty("n_kv_head") int nKvHead,
        @JsonProperty("ffn_hidden") int ffnHidden,
        @JsonProperty("rope_theta") double ropeTheta,
        @JsonProperty("norm_eps") double normEps,
        @JsonProperty("batch_size") int batchSize,
        @JsonProperty("seq_len") int seqLen,
        @JsonProperty("grad_accum_steps") int gradAccumSteps,
        @JsonProperty("max_steps") int maxSteps,
        @JsonProperty("lr") double lr,
        @JsonProperty("min_lr") double minLr,
        @JsonProperty("warmup_steps") int warmupSteps,
        @JsonProperty("lr_decay_steps") int lrDecaySteps,
        @JsonProperty("weight_decay") double weightDecay,
        @JsonProperty("beta1") double beta1,
        @JsonProperty("beta2") double beta2,
        @JsonProperty("grad_clip") double gradClip,
        @JsonProperty("eval_interval") int evalInterval,
        @JsonProperty("eval_batches") int evalBatches,
        @JsonProperty("log_interval") int logInterval,
        @JsonProperty("checkpoint_interval") int checkpointInterval,
        @JsonProperty("seed") long seed,
        @JsonProperty("threads") int threads) {

    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES);

    public TrainConfig {
        positive("n_layer", nLayer);
        positive("n_head", nHead);
        positive("n_embd", nEmbd);
        positive("block_size", blockSize);
        positive("batch_size", batchSize);
        positive("grad_accum_steps", gradAccumSteps);
        positive("eval_batches", evalBatches);
        positive("log_interval", logInterval);
        if (maxSteps < 0) invalid("max_steps", maxSteps);
        if (seqLen < 0 || seqLen > blockSize) invalid("seq_len (0..block_size)", seqLen);
        if (lrDecaySteps < 0) invalid("lr_decay_steps", lrDecaySteps);
        if (warmupSteps < 0) invalid("warmup_steps", warmupSteps);
        if (evalInterval < 0) invalid("eval_interval", evalInterval);
        if (checkpointInterval < 0) invalid("checkpoint_interval", checkpointInterval);
        if (threads < 0) invalid("threads", threads);
        if (!(lr > 0)) invalid("lr", lr);
        if (!(minLr >= 0)) invalid("min_lr", minLr);
    }

    private static void positive(String field, int value) {
        if (value <= 0) invalid(field, value);
    }

    private static void invalid(String field, Object value) {
        throw new UserError("invalid train config: " + field + " = " + value);
    }

    /** A small model and nanoGPT's optimizer settings. */
    public static TrainConfig defaults() {
        return new TrainConfig(null, null, 4, 4, 128, 128, true, true, GPTConfig.GPT2, 0, 0, 10000, 1e-5,
                32, 0, 1, 1000, 1e-3, 1e-4, 100, 0, 0.1, 0.9, 0.95, 1.0,
                250, 20, 10, 250, 1337, 0);
    }

    /** Reads a preset: its fields over the defaults. Unknown or mistyped fields are user errors. */
    public static TrainConfig load(Path file) {
        JsonNode node;
        try {
            node = JSON.readTree(Files.readString(file));
        } catch (NoSuchFileException e) {
            throw new UserError("config file not found: " + file);
        } catch (JacksonException e) {
            throw new UserError(file + ": not valid JSON (" + e.getOriginalMessage() + ")");
        } catch (IOException e) {
            throw new UserError("cannot read config file " + file + ": " + e.getMessage());
        }
        if (!(node instanceof ObjectNode obj)) throw new UserError(file + ": expected a JSON object");
        return defaults().with(obj, file.toString());
    }

    /** This config with some fields replaced (JSON names); source names them in errors. */
    public TrainConfig with(ObjectNode overrides, String source) {
        ObjectNode merged = toJson();
        for (Iterator<Map.Entry<String, JsonNode>> it = overrides.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!merged.has(e.getKey())) throw new UserError(source + ": unknown field '" + e.getKey() + "'");
            merged.set(e.getKey(), e.getValue());
        }
        try {
            return JSON.treeToValue(merged, TrainConfig.class);
        } catch (JsonMappingException e) {
            if (e.getCause() instanceof UserError u) throw new UserError(source + ": " + u.getMessage());
            String field = e.getPath().isEmpty() ? "?" : e.getPath().getLast().getFieldName();
            throw new UserError(source + ": bad value for '" + field + "': " + merged.get(field));
        } catch (JacksonException e) {
            throw new UserError(source + ": " + e.getOriginalMessage());
        }
    }

    /** Reads a config written by {@link #toJson()} (e.g. from a checkpoint header). */
    public static TrainConfig fromJson(JsonNode node, String source) {
        if (!(node instanceof ObjectNode obj)) throw new UserError(source + ": train config is not a JSON object");
        return defaults().with(obj, source);
    }

    public ObjectNode toJson() {
        return JSON.valueToTree(this);
    }

    /** Tokens per sequence. */
    public int T() {
        return seqLen == 0 ? blockSize : seqLen;
    }

    public LrSchedule schedule() {
        return new LrSchedule(lr, minLr, warmupSteps, lrDecaySteps == 0 ? maxSteps : lrDecaySteps);
    }

    /** The model this config trains, for a tokenizer of the given vocabulary. */
    public GPTConfig model(int vocabSize) {
        return new GPTConfig(nLayer, nHead, nEmbd, blockSize, vocabSize, bias && !GPTConfig.LLAMA.equals(arch), tied,
                arch, nKvHead, ffnHidden, ropeTheta, normEps);
    }

    /** The defaults with a model's shape: the train config recorded for an imported model. */
    public static TrainConfig forModel(GPTConfig m) {
        ObjectNode o = JSON.createObjectNode().put("n_layer", m.nLayer()).put("n_head", m.nHead()).put("n_embd", m.nEmbd())
                .put("block_size", m.blockSize()).put("bias", m.bias()).put("tied", m.tied()).put("arch", m.arch())
                .put("n_kv_head", m.nKvHead()).put("ffn_hidden", m.ffnHidden()).put("rope_theta", m.ropeTheta())
                .put("norm_eps", m.normEps());
        return defaults().with(o, "model config");
    }
}
