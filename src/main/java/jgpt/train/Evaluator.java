package jgpt.train;

import jgpt.data.DataLoader;
import jgpt.data.TokenFile;
import jgpt.model.LanguageModel;

/** Mean loss of a model over the first batches of a token file (forward only, no gradients). */
public final class Evaluator {
    private Evaluator() {}

    /** How many whole (B, T) batches the file holds. */
    public static int availableBatches(TokenFile file, int B, int T) {
        return (int) Math.min(Integer.MAX_VALUE, (file.count() - 1) / ((long) B * T));
    }

    /** Mean of the per-batch mean losses of batches 0 .. batches-1, read from position 0. */
    public static double meanLoss(LanguageModel model, TokenFile file, int B, int T, int batches) {
        return meanLoss(model, file, B, T, batches, 0, 1);
    }

    /**
     * This rank's part of a distributed evaluation: batch i of B*world rows is split by rank like
     * training batches, so the mean over ranks equals one process's {@code meanLoss} with B*world.
     */
    public static double meanLoss(LanguageModel model, TokenFile file, int B, int T, int batches, int rank, int world) {
        DataLoader loader = new DataLoader(file, B, T, rank, world);
        int[] inputs = new int[B * T], targets = new int[B * T];
        double sum = 0;
        for (int i = 0; i < batches; i++) {
            loader.next(inputs, targets);
            sum += model.forward(inputs, targets, B, T);
        }
        return sum / batches;
    }
}
