package jgpt.cli;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import jgpt.train.Checkpoint;
import jgpt.train.TrainConfig;
import jgpt.train.Trainer;
import jgpt.util.UserError;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code jgpt train}: trains (or resumes) a run from a preset and/or flags. */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = "Train a GPT on a prepared data directory, writing checkpoints, metrics and a loss chart to a run directory.")
public final class TrainCommand implements Runnable {
    @Option(names = "--config", paramLabel = "FILE", description = "JSON preset, e.g. configs/austen-char.json")
    Path config;
    @Option(names = "--data", paramLabel = "DIR", description = "prepared data: train.bin, val.bin, tokenizer.json")
    Path data;
    @Option(names = "--out", paramLabel = "RUN", description = "run directory (checkpoint, metrics, chart)")
    Path out;
    @Option(names = "--resume", description = "continue from RUN/ckpt.bin")
    boolean resume;

    @Option(names = "--n-layer") Integer nLayer;
    @Option(names = "--n-head") Integer nHead;
    @Option(names = "--n-embd") Integer nEmbd;
    @Option(names = "--block-size") Integer blockSize;
    @Option(names = "--arch", description = "gpt2 (default) or llama") String arch;
    @Option(names = "--n-kv-head", description = "llama: key/value heads (GQA), dividing n_head") Integer nKvHead;
    @Option(names = "--ffn-hidden", description = "llama: SwiGLU width (default: llama2.c's rule)") Integer ffnHidden;
    @Option(names = "--batch-size") Integer batchSize;
    @Option(names = "--grad-accum") Integer gradAccum;
    @Option(names = "--max-steps") Integer maxSteps;
    @Option(names = "--lr") Double lr;
    @Option(names = "--min-lr") Double minLr;
    @Option(names = "--warmup-steps") Integer warmupSteps;
    @Option(names = "--eval-interval") Integer evalInterval;
    @Option(names = "--eval-batches") Integer evalBatches;
    @Option(names = "--checkpoint-interval") Integer checkpointInterval;
    @Option(names = "--seed") Long seed;
    @Option(names = "--threads", description = "compute threads (0: all cores)") Integer threads;
    @Option(names = "--no-tie", description = "untied LM head") boolean noTie;
    @Option(names = "--no-bias", description = "no biases in Linear layers and LayerNorms") boolean noBias;

    @Override
    public void run() {
        TrainConfig cfg = base();
        Path outDir = out != null ? out : cfg.outDir() != null ? Path.of(cfg.outDir()) : null;
        if (outDir == null) throw new UserError("no run directory: pass --out RUN (or set out_dir in the config)");
        if (resume && config == null) cfg = checkpointConfig(outDir);
        cfg = cfg.with(overrides(), "command line");
        Path dataDir = data != null ? data : cfg.dataDir() != null ? Path.of(cfg.dataDir()) : null;
        if (dataDir == null) throw new UserError("no data: pass --data DIR (or set data_dir in the config)");
        cfg = cfg.with(JsonNodeFactory.instance.objectNode()
                .put("data_dir", dataDir.toString()).put("out_dir", outDir.toString()), "command line");
        new Trainer(cfg, dataDir, outDir, resume, System.err).run();
    }

    private TrainConfig base() {
        return config != null ? TrainConfig.load(config) : TrainConfig.defaults();
    }

    /** Resuming without a preset: the run's own config, so only the flags given change. */
    private static TrainConfig checkpointConfig(Path outDir) {
        Path file = outDir.resolve(Checkpoint.FILE);
        if (!Files.exists(file)) throw new UserError(file + ": no checkpoint to resume from");
        try (Checkpoint ck = Checkpoint.load(file)) {
            return ck.state().train();
        }
    }

    private ObjectNode overrides() {
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        if (nLayer != null) o.put("n_layer", nLayer);
        if (nHead != null) o.put("n_head", nHead);
        if (nEmbd != null) o.put("n_embd", nEmbd);
        if (blockSize != null) o.put("block_size", blockSize);
        if (arch != null) o.put("arch", arch);
        if (nKvHead != null) o.put("n_kv_head", nKvHead);
        if (ffnHidden != null) o.put("ffn_hidden", ffnHidden);
        if (batchSize != null) o.put("batch_size", batchSize);
        if (gradAccum != null) o.put("grad_accum_steps", gradAccum);
        if (maxSteps != null) o.put("max_steps", maxSteps);
        if (lr != null) o.put("lr", lr);
        if (minLr != null) o.put("min_lr", minLr);
        if (warmupSteps != null) o.put("warmup_steps", warmupSteps);
        if (evalInterval != null) o.put("eval_interval", evalInterval);
        if (evalBatches != null) o.put("eval_batches", evalBatches);
        if (checkpointInterval != null) o.put("checkpoint_interval", checkpointInterval);
        if (seed != null) o.put("seed", seed);
        if (threads != null) o.put("threads", threads);
        if (noTie) o.put("tied", false);
        if (noBias) o.put("bias", false);
        return o;
    }
}
