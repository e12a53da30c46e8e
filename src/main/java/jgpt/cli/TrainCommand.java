package jgpt.cli;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jgpt.dist.Comm;
import jgpt.dist.Launcher;
import jgpt.dist.Strategy;
import jgpt.train.TrainConfig;
import jgpt.train.Trainer;
import jgpt.util.UserError;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code jgpt train}: trains (or resumes) a run from a preset and/or flags. */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = "Train a GPT on a prepared data directory, writing checkpoints, metrics and a loss chart to a run directory. "
                + "Distributed: mpirun -np N jgpt train --strategy ddp|fsdp|zero2 ..., or jgpt train --nproc N ...")
public final class TrainCommand implements java.util.concurrent.Callable<Integer> {
    @Spec CommandSpec spec;

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

    @Option(names = "--nproc", paramLabel = "N", description = "run N ranks: re-launches this command under mpirun")
    Integer nproc;
    @Option(names = "--strategy", paramLabel = "S", description = "with several ranks: ddp (default), fsdp or zero2; "
            + "--batch-size is per rank, the global batch is batch_size x grad_accum x ranks")
    String strategy;
    @Option(names = "--max-state-bytes", paramLabel = "BYTES",
            description = "fail if params+grads+optimizer state per rank would exceed this")
    Long maxStateBytes;
    @Option(names = "--sharded-checkpoint", description = "every rank writes its shard (RUN/ckpt-shards/) instead of rank 0 a consolidated ckpt.bin")
    boolean shardedCheckpoint;

    @Override
    public Integer call() throws Exception {
        Strategy strat = strategy == null ? Strategy.DDP : Strategy.parse(strategy);
        if (nproc != null) {
            if (nproc < 1) throw new UserError("--nproc must be at least 1, got " + nproc);
            List<String> args = new ArrayList<>(spec.commandLine().getParseResult().originalArgs());
            List<String> cmd = Launcher.command(nproc, Main.class.getName(), Launcher.withoutNproc(args));
            return Launcher.run(cmd);
        }
        Comm comm = Comm.create();
        try {
            comm.runOrAbort(() -> train(comm, strat));
        } finally {
            comm.close();
        }
        return 0;
    }

    private void train(Comm comm, Strategy strat) {
        TrainConfig cfg = base();
        Path outDir = out != null ? out : cfg.outDir() != null ? Path.of(cfg.outDir()) : null;
        if (outDir == null) throw new UserError("no run directory: pass --out RUN (or set out_dir in the config)");
        if (resume && config == null) cfg = Trainer.savedConfig(outDir);
        cfg = cfg.with(overrides(), "command line");
        Path dataDir = data != null ? data : cfg.dataDir() != null ? Path.of(cfg.dataDir()) : null;
        if (dataDir == null) throw new UserError("no data: pass --data DIR (or set data_dir in the config)");
        cfg = cfg.with(JsonNodeFactory.instance.objectNode()
                .put("data_dir", dataDir.toString()).put("out_dir", outDir.toString()), "command line");
        Trainer.Distributed dist = new Trainer.Distributed(comm, strat, maxStateBytes == null ? 0 : maxStateBytes, shardedCheckpoint);
        new Trainer(cfg, dataDir, outDir, resume, System.err, dist).run();
    }

    private TrainConfig base() {
        return config != null ? TrainConfig.load(config) : TrainConfig.defaults();
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
