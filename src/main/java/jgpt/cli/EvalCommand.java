package jgpt.cli;

import java.nio.file.Path;
import java.util.Locale;
import jgpt.data.TokenFile;
import jgpt.generate.LlamaDecoder;
import jgpt.kernels.Q8Tensor;
import jgpt.model.LanguageModel;
import jgpt.model.Llama;
import jgpt.model.ParamTensor;
import jgpt.train.Checkpoint;
import jgpt.train.Evaluator;
import jgpt.train.TrainConfig;
import jgpt.train.Trainer;
import jgpt.util.UserError;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code jgpt eval}: loss and perplexity of a checkpoint on a data split. */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "Evaluate a checkpoint: mean loss and perplexity on a split of a prepared data directory.")
public final class EvalCommand implements Runnable {
    enum Split { val, train }

    @Option(names = "--checkpoint", required = true, paramLabel = "RUN", description = "run directory or ckpt.bin")
    Path checkpoint;
    @Option(names = "--data", paramLabel = "DIR", description = "prepared data (default: the run's data_dir)")
    Path data;
    @Option(names = "--split", defaultValue = "val", description = "val or train (default: ${DEFAULT-VALUE})")
    Split split;
    @Option(names = "--max-batches", paramLabel = "N", description = "at most N batches (default: the whole split)")
    Integer maxBatches;
    @Option(names = "--json", description = "print one JSON object as the last line")
    boolean json;

    @Option(names = "--quant", description = "q8: evaluate with the Q8_0 weights the int8 decoder uses (Llama)")
    String quant;

    @Override
    public void run() {
        try (Checkpoint ck = Checkpoint.load(checkpoint)) {
            TrainConfig cfg = ck.state().train();
            Path dataDir = data != null ? data : cfg.dataDir() != null ? Path.of(cfg.dataDir()) : null;
            if (dataDir == null) throw new UserError("no data: pass --data DIR");
            Path file = Trainer.dataFile(dataDir, split + ".bin");
            try (TokenFile tokens = TokenFile.open(file); LanguageModel model = ck.newModel()) {
                if (tokens.vocabSize() != ck.config().vocabSize()) {
                    throw new UserError(file + ": vocabulary of " + tokens.vocabSize() + " tokens but "
                            + ck.file() + " was trained on " + ck.config().vocabSize());
                }
                if (quant != null) quantizeInPlace(model);
                int B = cfg.batchSize(), T = cfg.T();
                int available = Evaluator.availableBatches(tokens, B, T);
                if (available < 1) throw new UserError(file + ": fewer than B*T+1 = " + (B * T + 1) + " tokens");
                int batches = maxBatches == null ? available : Math.min(available, maxBatches);
                if (batches < 1) throw new UserError("--max-batches must be at least 1");
                double loss = Evaluator.meanLoss(model, tokens, B, T, batches);
                double ppl = Math.exp(loss);
                long n = (long) batches * B * T;
                System.out.printf(Locale.ROOT, "%s loss %.4f, perplexity %.3f (%,d tokens in %d batches of %dx%d)%n",
                        split, loss, ppl, n, batches, B, T);
                if (json) System.out.printf(Locale.ROOT, "{\"loss\":%s,\"perplexity\":%s,\"tokens\":%d}%n", loss, ppl, n);
            }
        }
    }

    /** The weights `sample --quant q8` decodes with, written back as their Q8_0 values. */
    private void quantizeInPlace(LanguageModel model) {
        if (!quant.equals("q8")) throw new UserError("--quant must be q8, got " + quant);
        if (!(model instanceof Llama)) throw new UserError("--quant q8 is implemented for llama checkpoints only");
        for (LlamaDecoder.Weight w : LlamaDecoder.weights(model.config())) {
            ParamTensor t = model.layout().tensor(w.first());
            Q8Tensor.roundTrip(model.params().data().asSlice(t.offset() * 4, (long) w.rows() * w.cols() * 4), w.rows(), w.cols());
        }
    }
}
