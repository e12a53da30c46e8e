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
import jgpt.data.DataLoader;
import jgpt.data.TokenFile;
import jgpt.kernels.Parallel;
import jgpt.model.LanguageModel;
import jgpt.model.GPTConfig;
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

    public Trainer(TrainConfig cfg, Path dataDir, Path runDir, boolean resume, PrintStream log) {
        this.cfg = cfg;
        this.dataDir = dataDir;
        this.runDir = runDir;
        this.resume = resume;
        this.log = log;
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
            if (!resume && Files.exists(ckptFile)) {
                throw new UserError(ckptFile + " exists: pass --resume to continue that run, or choose another --out");
            }
            if (resume && !Files.exists(ckptFile)) throw new UserError(ckptFile + ": no checkpoint to resume from");
            try (LanguageModel model = LanguageModel.create(modelCfg);
                 AdamW opt = new AdamW(model.params(), model.grads(), cfg.beta1(), cfg.beta2(), 1e-8, cfg.weightDecay())) {
                int B = cfg.batchSize(), T = cfg.T();
                DataLoader loader = new DataLoader(trainData, B, T, 0, 1);
                Rng rng = new Rng(cfg.seed());
                long startStep = 0;
                if (resume) {
                    try (Checkpoint ck = Checkpoint.load(ckptFile)) {
                        ck.requireModel(modelCfg);
                        ck.loadParams(model.params());
                        ck.loadOptimizer(opt);
                        rng.setState(ck.state().rngState());
                        loader.setPosition(ck.state().dataPosition());
                        startStep = ck.state().step();
                    }
                } else {
                    model.initWeights(rng);
                }
                copy(tokenizerFile, runDir.resolve(TOKENIZER_FILE));
                log.printf("jgpt train: %s, %,d parameters, %s -> %s%s%n", describe(modelCfg),
                        model.params().numel(), dataDir, runDir, resume ? ", resuming at step " + startStep : "");
                try (MetricsLog metrics = MetricsLog.open(runDir, startStep)) {
                    new Loop(model, opt, loader, valData, rng, tokenizer, metrics).run(startStep);
                }
            }
        }
    }

    /** One run of steps startStep+1 .. max_steps. */
    private final class Loop {
        final LanguageModel model;
        final AdamW opt;
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

        Loop(LanguageModel model, AdamW opt, DataLoader loader, TokenFile valData, Rng rng, JsonNode tokenizer, MetricsLog metrics) {
            this.model = model;
            this.opt = opt;
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
                double norm = GradClip.norm(model.grads());
                if (cfg.gradClip() > 0) {
                    GradClip.scale(model.grads(), 0, model.grads().numel(), GradClip.coefficient(norm, cfg.gradClip()));
                }
                double lr = schedule.lr(step - 1);
                opt.step((float) lr, step);
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
                    Checkpoint.save(runDir, new Checkpoint.State(model.config(), cfg, tokenizer, step, rng.state(),
                            loader.position()), model.params(), opt);
                    LossPlot.write(runDir);
                }
            }
        }

        /** Zeroes the gradients, accumulates them over the micro-batches; returns the mean loss. */
        double trainStep() {
            model.zeroGrad();
            double sum = 0;
            for (int micro = 0; micro < accum; micro++) {
                loader.next(inputs, targets);
                sum += model.forward(inputs, targets, B, T);
                model.backward(1f / accum);
            }
            return sum / accum;
        }

        double validate() {
            int batches = Math.min(cfg.evalBatches(), Math.max(1, Evaluator.availableBatches(valData, B, T)));
            return Evaluator.meanLoss(model, valData, B, T, batches);
        }

        void report(int step, double loss, Double val, double lr, double norm) {
            double msPerStep = windowNanos / 1e6 / windowSteps;
            double tokensPerS = (double) B * T * accum / (msPerStep / 1000);
            windowNanos = 0;
            windowSteps = 0;
            ObjectNode r = MetricsLog.JSON.createObjectNode();
            r.put("step", step).put("loss", loss).put("lr", lr).put("grad_norm", norm)
                    .put("tokens_per_s", tokensPerS).put("ms_per_step", msPerStep);
            if (val != null) r.put("val_loss", val);
            metrics.append(r);
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
