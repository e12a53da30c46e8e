package jgpt.train;

/**
 * nanoGPT's learning-rate schedule: linear warmup, cosine decay to minLr at decaySteps, then
 * minLr. Iterations are 0-based (iteration i produces optimizer step i + 1).
 */
public record LrSchedule(double maxLr, double minLr, int warmupSteps, int decaySteps) {

    public double lr(int it) {
        if (it < warmupSteps) return maxLr * (it + 1) / (warmupSteps + 1);
        if (it > decaySteps) return minLr;
        double ratio = (double) (it - warmupSteps) / Math.max(1, decaySteps - warmupSteps);
        double coeff = 0.5 * (1.0 + Math.cos(Math.PI * ratio));
        return minLr + coeff * (maxLr - minLr);
    }
}
