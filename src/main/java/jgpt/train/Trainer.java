package jgpt.train;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;
import jgpt.data.DataLoader;
import jgpt.data.TokenFile;
import jgpt.dist.Comm;
import jgpt.dist.LocalComm;
import jgpt.dist.Sharding;
import jgpt.dist.Strategy;
import jgpt.kernels.Parallel;
import jgpt.model.LanguageModel;
import jgpt.model.GPTConfig;
import jgpt.model.ParamLayout;
import jgpt.util.Rng;
import jgpt.util.UserError;

/**
 * The training loop: gradient accumulation, clipping, scheduled AdamW, periodic validation,
 * metrics, loss chart and atomic checkpoints in a run directory. A resumed run continues exactly
 * where the checkpoint left it (weights, moments, step, RNG, data position), so its losses equal
 * those of an uninterrupted run.
 */
public final class Trainer {
    public static final String TOKENIZER_FILE = "tokenizer.json";

    private final TrainConfig cfg;
    private final Path dataDir;
    private final Path runDir;
    private final boolean resume;
    private final PrintStream log;
    private final Distributed dist;
    private final Comm comm;
    private final int rank, world;

    /**
     * How this process takes part in a job: its communicator (a {@link LocalComm} alone), the
     * strategy for more than one rank, a limit on per-rank state bytes (0: none), and whether
     * checkpoints are written sharded ({@link ShardedCheckpoint}) instead of consolidated.
     */
    public record Distributed(Comm comm, Strategy strategy, long maxStateBytes, boolean shardedCheckpoint) {
        public static Distributed single() {
            return new Distributed(new LocalComm(), Strategy.DDP, 0, false);
        }
    }

    public Trainer(TrainConfig cfg, Path dataDir, Path runDir, boolean resume, PrintStream log) {
        this(cfg, dataDir, runDir, resume, log, Distributed.single());
    }

    /** Only rank 0 logs, writes metrics, charts and checkpoint metadata; every rank trains. */
    public Trainer(TrainConfig cfg, Path dataDir, Path runDir, boolean resume, PrintStream log, Distributed dist) {
        this.cfg = cfg;
        this.dataDir = dataDir;
        this.runDir = runDir;
        this.resume = resume;
        this.dist = dist;
        this.comm = dist.comm();
        this.rank = comm.rank();
        this.world = comm.size();
        this.log = rank == 0 ? log : new PrintStream(OutputStream.nullOutputStream());
    }

    /** Runs to max_steps; with threads > 0 the kernels' worker pool is sized to it. */
    public void run() {
        if (cfg.threads() > 0) Parallel.setThreads(cfg.threads());
        train();
    }

    /** A data directory's file, or a user error saying it is missing. */
    public static Path dataFile(Path dataDir, String name) {
        if (!Files.isDirectory(dataDir)) throw new UserError("data directory not found: " + dataDir);
        Path f = dataDir.resolve(name);
        if (!Files.isRegularFile(f)) throw new UserError(dataDir + ": no " + name + " (prepare the data first: jgpt prepare)");
        return f;
    }

    private void train() {
        Path tokenizerFile = dataFile(dataDir, TOKENIZER_FILE);
        JsonNode tokenizer = readJson(tokenizerFile);
        try (TokenFile trainData = TokenFile.open(dataFile(dataDir, "train.bin"));
             TokenFile valData = TokenFile.open(dataFile(dataDir, "val.bin"))) {
            GPTConfig modelCfg = cfg.model(trainData.vocabSize());
            try {
                Files.createDirectories(runDir);
            } catch (IOException e) {
                throw new UserError("cannot create run directory " + runDir + ": " + e.getMessage());
            }
            Path ckptFile = runDir.resolve(Checkpoint.FILE);
            boolean haveCkpt = Files.exists(ckptFile) || ShardedCheckpoint.exists(runDir);
            if (!resume && haveCkpt) {
                throw new UserError(ckptFile + " exists: pass --resume to continue that run, or choose another --out");
            }
            if (resume && !haveCkpt) throw new UserError(ckptFile + ": no checkpoint to resume from");
            Strategy strategy = dist.strategy();
            Sharding sharding = new Sharding(ParamLayout.of(modelCfg), modelCfg.nLayer(), world);
            long stateBytes = sharding.stateBytes(world == 1 ? Strategy.DDP : strategy);
            String mode = world == 1 ? "1 process" : world + " ranks, " + strategy.flag();
            if (dist.maxStateBytes() > 0 && stateBytes > dist.maxStateBytes()) {
                throw new UserError(String.format("parameters, gradients and optimizer state need %,d bytes per rank with %s,"
                        + " over --max-state-bytes %,d (try --strategy fsdp, more ranks, or a smaller model)",
                        stateBytes, mode, dist.maxStateBytes()));
            }
            try (LanguageModel model = LanguageModel.create(modelCfg);
                 AdamW opt = new AdamW(model.params(), model.grads(), cfg.beta1(), cfg.beta2(), 1e-8, cfg.weightDecay());
                 DataParallel dp = world > 1 ? new DataParallel(comm, strategy, model, opt, cfg.batchSize() * cfg.T()) : null) {
                int B = cfg.batchSize(), T = cfg.T();
                DataLoader loader = new DataLoader(trainData, B, T, rank, world);
                Rng rng = new Rng(cfg.seed());
                long startStep = 0;
                if (resume) {
                    Checkpoint.State st = loadCheckpoint(modelCfg, model, opt);
                    rng.setState(st.rngState());
                    loader.setPosition(st.dataPosition());
                    startStep = st.step();
                } else {
                    model.initWeights(rng);
                }
                if (dp != null) dp.distribute();
                if (rank == 0) copy(tokenizerFile, runDir.resolve(TOKENIZER_FILE));
                log.printf("jgpt train: %s, %,d parameters, %s -> %s%s%n", describe(modelCfg),
                        model.params().numel(), dataDir, runDir, resume ? ", resuming at step " + startStep : "");
                if (world > 1 || dist.maxStateBytes() > 0) {
                    log.printf("state per rank (%s): %,d bytes of params+grads+AdamW (DDP would hold %,d)%s%n", mode,
                            stateBytes, sharding.stateBytes(Strategy.DDP), world > 1
                                    ? String.format(", plus %s %,d transient", strategy == Strategy.DDP ? "about" : "up to",
                                    sharding.transientBytes(strategy, (long) cfg.batchSize() * cfg.T() * (modelCfg.nEmbd() + 1))) : "");
                }
                if (dp != null && dp.residentStateBytes() >= 0) {
                    log.printf("resident state bytes on rank 0 (mincore): %,d%n", dp.residentStateBytes());
                }
                try (MetricsLog metrics = rank == 0 ? MetricsLog.open(runDir, startStep) : null) {
                    new Loop(model, opt, dp, loader, valData, rng, tokenizer, metrics, sharding).run(startStep);
                }
            }
        }
    }

    /** Loads the newest checkpoint of the run (consolidated or sharded) into full buffers. */
    private Checkpoint.State loadCheckpoint(GPTConfig modelCfg, LanguageModel model, AdamW opt) {
        Path ckptFile = runDir.resolve(Checkpoint.FILE);
        ShardedCheckpoint.Loaded sharded = ShardedCheckpoint.exists(runDir) ? ShardedCheckpoint.load(runDir) : null;
        if (Files.exists(ckptFile)) {
            try (Checkpoint ck = Checkpoint.load(ckptFile)) {
                if (sharded == null || ck.state().step() >= sharded.state().step()) {
                    ck.requireModel(modelCfg);
                    ck.loadParams(model.params());
                    ck.loadOptimizer(opt);
                    return ck.state();
                }
            }
        }
        if (!sharded.state().model().equals(modelCfg)) {
            throw new UserError(sharded.dir() + ": checkpoint model " + describe(sharded.state().model())
                    + " differs from " + describe(modelCfg));
        }
        sharded.loadInto(model.params(), opt);
        return sharded.state();
    }

    /** The config a run was saved with, from its newest checkpoint (consolidated or sharded). */
    public static TrainConfig savedConfig(Path runDir) {
        Path file = runDir.resolve(Checkpoint.FILE);
        ShardedCheckpoint.Loaded sharded = ShardedCheckpoint.exists(runDir) ? ShardedCheckpoint.load(runDir) : null;
        if (Files.exists(file)) {
            try (Checkpoint ck = Checkpoint.load(file)) {
                if (sharded == null || ck.state().step() >= sharded.state().step()) return ck.state().train();
            }
        }
        if (sharded == null) throw new UserError(file + ": no checkpoint to resume from");
        return sharded.state().train();
    }

    /** One run of steps startStep+1 .. max_steps. */
    private final class Loop {
        final LanguageModel model;
        final AdamW opt;
        final DataParallel dp;
        final Sharding sharding;
        final DataLoader loader;
        final TokenFile valData;
        final Rng rng;
        final JsonNode tokenizer;
        final MetricsLog metrics;
        final LrSchedule schedule = cfg.schedule();
        final int B = cfg.batchSize(), T = cfg.T(), accum = cfg.gradAccumSteps();
        final int[] inputs = new int[B * T], targets = new int[B * T];
        long windowNanos;   // time of the steps since the last log line
        int windowSteps;
        long trainNanos;    // all training time of this invocation, for the ETA
        int stepsDone;

        long commNanos;

        Loop(LanguageModel model, AdamW opt, DataParallel dp, DataLoader loader, TokenFile valData, Rng rng, JsonNode tokenizer,
             MetricsLog metrics, Sharding sharding) {
            this.model = model;
            this.opt = opt;
            this.dp = dp;
            this.sharding = sharding;
            this.loader = loader;
            this.valData = valData;
            this.rng = rng;
            this.tokenizer = tokenizer;
            this.metrics = metrics;
        }

        void run(long startStep) {
            int max = cfg.maxSteps();
            if (startStep >= max) {
                log.printf("already at step %d of %d: nothing to do (raise --max-steps to train further)%n", startStep, max);
                return;
            }
            for (int step = (int) startStep + 1; step <= max; step++) {
                long t0 = System.nanoTime();
                double loss = trainStep();
                double lr = schedule.lr(step - 1);
                double norm;
                if (dp == null) {
                    norm = GradClip.norm(model.grads());
                    opt.step((float) lr, step, GradClip.coefficient(norm, cfg.gradClip()));
                } else {
                    loss = dp.mean(loss);
                    norm = dp.gradNorm();
                    dp.optimizerStep((float) lr, step, GradClip.coefficient(norm, cfg.gradClip()));
                    commNanos += dp.takeCommNanos();
                }
                long dt = System.nanoTime() - t0;
                windowNanos += dt;
                windowSteps++;
                trainNanos += dt;
                stepsDone++;

                boolean last = step == max;
                Double val = (cfg.evalInterval() > 0 && step % cfg.evalInterval() == 0) || last ? validate() : null;
                if (step % cfg.logInterval() == 0 || step == startStep + 1 || last || val != null) {
                    report(step, loss, val, lr, norm);
                }
                if ((cfg.checkpointInterval() > 0 && step % cfg.checkpointInterval() == 0) || last) {
                    save(new Checkpoint.State(model.config(), cfg, tokenizer, step, rng.state(), loader.position()));
                    if (rank == 0) LossPlot.write(runDir);
                }
            }
        }

        /**
         * Zeroes the gradients, accumulates them over the micro-batches; returns this rank's mean
         * loss. With several ranks backward is scaled by 1/(accum × world), so the sum over ranks
         * that the strategy computes is the mean over the global batch.
         */
        double trainStep() {
            if (dp != null) dp.zeroGrad();
            double sum = 0;
            for (int micro = 0; micro < accum; micro++) {
                if (dp != null) dp.beginMicroStep(micro == accum - 1);
                loader.next(inputs, targets);
                sum += model.forward(inputs, targets, B, T);
                // one process: the first micro-step overwrites the gradients (no zeroing pass)
                model.backward(1f / ((float) accum * world), dp != null || micro > 0);
            }
            if (dp != null) dp.finishBackward();
            return sum / accum;
        }

        double validate() {
            int batches = Math.min(cfg.evalBatches(), Math.max(1, Evaluator.availableBatches(valData, B * world, T)));
            if (dp == null) return Evaluator.meanLoss(model, valData, B, T, batches);
            dp.setEvalMode(true);
            try {
                return dp.mean(Evaluator.meanLoss(model, valData, B, T, batches, rank, world));
            } finally {
                dp.setEvalMode(false);
            }
        }

        /** Consolidated (rank 0 writes ckpt.bin) or sharded (every rank writes its ranges). */
        void save(Checkpoint.State state) {
            if (dist.shardedCheckpoint()) {
                List<List<Sharding.Range>> ranges = new ArrayList<>();
                for (int r = 0; r < world; r++) {
                    boolean sharded = dp != null && dp.strategy().shardsGrads();
                    ranges.add(sharded ? sharding.owned(r)
                            : r == 0 ? List.of(new Sharding.Range(0, model.params().numel())) : List.of());
                }
                ShardedCheckpoint.save(runDir, state, comm, ranges, model.params(), opt);
                return;
            }
            if (dp != null) dp.consolidate();
            if (rank == 0) Checkpoint.save(runDir, state, model.params(), opt);
            if (dp != null) {
                dp.afterConsolidate();
                comm.barrier();
            }
        }

        void report(int step, double loss, Double val, double lr, double norm) {
            double msPerStep = windowNanos / 1e6 / windowSteps;
            double tokensPerS = (double) B * T * accum * world / (msPerStep / 1000);
            double commMs = commNanos / 1e6 / windowSteps;
            windowNanos = 0;
            windowSteps = 0;
            commNanos = 0;
            ObjectNode r = MetricsLog.JSON.createObjectNode();
            r.put("step", step).put("loss", loss).put("lr", lr).put("grad_norm", norm)
                    .put("tokens_per_s", tokensPerS).put("ms_per_step", msPerStep);
            if (dp != null) r.put("comm_ms_per_step", commMs);
            if (val != null) r.put("val_loss", val);
            if (metrics != null) metrics.append(r);
            long etaS = Math.round(trainNanos / 1e9 / stepsDone * (cfg.maxSteps() - step));
            log.println(Progress.line(step, cfg.maxSteps(), loss, val, lr, norm, msPerStep, tokensPerS, etaS));
        }
    }

    private static String describe(GPTConfig c) {
        return String.format("%s %d layers, %d heads%s, %d dims, block %d, vocab %d%s%s", c.isLlama() ? "Llama" : "GPT", c.nLayer(),
                c.nHead(), c.nKvHead() != c.nHead() ? " (" + c.nKvHead() + " kv)" : "", c.nEmbd(), c.blockSize(), c.vocabSize(), c.bias() ? "" : ", no bias", c.tied() ? "" : ", untied");
    }

    private static JsonNode readJson(Path file) {
        try {
            return MetricsLog.JSON.readTree(Files.readString(file));
        } catch (JacksonException e) {
            throw new UserError(file + ": not valid JSON (" + e.getOriginalMessage() + ")");
        } catch (IOException e) {
            throw new UserError("cannot read " + file + ": " + e.getMessage());
        }
    }

    private static void copy(Path from, Path to) {
        try {
            Files.copy(from, to, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot copy " + from + " to " + to, e);
        }
    }
}
