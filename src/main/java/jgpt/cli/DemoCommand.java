package jgpt.cli;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import jgpt.data.Prepare;
import jgpt.data.TokenFile;
import jgpt.generate.Generator;
import jgpt.generate.SamplingParams;
import jgpt.model.LanguageModel;
import jgpt.tokenizer.Tokenizer;
import jgpt.train.Checkpoint;
import jgpt.train.Evaluator;
import jgpt.train.LossPlot;
import jgpt.train.MetricsLog;
import jgpt.train.TrainConfig;
import jgpt.train.Trainer;
import jgpt.util.UserError;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code jgpt demo}: nanoGPT's quickstart in one command. Prepares the bundled Jane Austen corpus at
 * character level, trains the {@code configs/austen-char.json} model, reports the loss on the whole
 * held-out tail and prints samples.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Prepare the bundled Austen corpus (char level), train a small GPT on it, print samples.")
public final class DemoCommand implements Callable<Integer> {
    @Option(names = "--out", defaultValue = "runs/demo", description = "Run directory (default: ${DEFAULT-VALUE}); a previous demo there is replaced.")
    Path out;

    @Option(names = "--max-steps", description = "Override the preset's number of steps (e.g. a quick look).")
    Integer maxSteps;

    @Option(names = "--threads", description = "Worker threads (default: all cores).")
    Integer threads;

    @Override
    public Integer call() throws IOException {
        Path home = Path.of(System.getProperty("jgpt.home", "."));
        Path corpus = home.resolve("data/austen.txt.gz");
        Path preset = home.resolve("configs/austen-char.json");
        if (!Files.exists(corpus)) throw new UserError("bundled corpus not found: " + corpus);
        long t0 = System.nanoTime();
        Path data = out.resolve("data");
        PrintStream err = System.err;
        err.println("jgpt demo: 1/3 preparing " + corpus + " (char level) -> " + data);
        Prepare.prepare(List.of(corpus), "char", data, 0.1);

        // A fresh demo replaces the previous demo's run (and only the files a run writes).
        for (String f : List.of(Checkpoint.FILE, MetricsLog.FILE, LossPlot.FILE, Trainer.TOKENIZER_FILE)) {
            Files.deleteIfExists(out.resolve(f));
        }
        var overrides = JsonNodeFactory.instance.objectNode().put("data_dir", data.toString()).put("out_dir", out.toString());
        if (maxSteps != null) overrides.put("max_steps", maxSteps);
        if (threads != null) overrides.put("threads", threads);
        TrainConfig cfg = TrainConfig.load(preset).with(overrides, "demo");
        err.println("jgpt demo: 2/3 training " + preset + " -> " + out);
        new Trainer(cfg, data, out, false, err).run();

        err.println("jgpt demo: 3/3 evaluating on the whole held-out tail and sampling");
        PrintStream stdout = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        try (Checkpoint ckpt = Checkpoint.load(out); LanguageModel model = ckpt.newModel();
             TokenFile val = TokenFile.open(data.resolve("val.bin"))) {
            // Evaluation batches only group the same non-overlapping T-token windows; a larger B is faster.
            int B = Math.max(32, cfg.batchSize()), T = cfg.T();
            int batches = Evaluator.availableBatches(val, B, T);
            double valLoss = Evaluator.meanLoss(model, val, B, T, batches);
            Tokenizer tok = ckpt.tokenizer();
            try (Generator gen = new Generator(model, tok)) {
                for (int s = 0; s < 2; s++) {
                    stdout.println("--------------- sample " + (s + 1) + " (temperature 0.8, top-k 40)");
                    SamplingParams sp = SamplingParams.defaults().withTemperature(0.8).withTopK(40).withSeed(1337 + s);
                    gen.generate(tok.encode("\n"), 400, sp, List.of(), stdout::print);
                    stdout.println();
                }
            }
            double minutes = (System.nanoTime() - t0) / 60e9;
            stdout.printf("---------------%nval loss %.4f nats/char (perplexity %.2f) on %,d held-out tokens; %.1f minutes%n",
                    valLoss, Math.exp(valLoss), (long) batches * B * T, minutes);
            stdout.println("checkpoint: " + out.resolve(Checkpoint.FILE));
            stdout.println("loss plot:  " + out.resolve(LossPlot.FILE));
            stdout.println("next:       ./jgpt sample --checkpoint " + out + " --prompt \"It is a truth\" --max-new-tokens 300");
        }
        return 0;
    }
}
