package jgpt.generate;

import java.util.Collections;
import java.util.Map;
import java.util.TreeMap;
import jgpt.util.Rng;
import jgpt.util.UserError;

/**
 * How to turn logits into a token. Every stage has an "off" value that leaves the distribution
 * untouched, and {@link #defaults()} has them all off (plain sampling at temperature 1).
 *
 * @param temperature       logits are divided by it; 0 means greedy argmax (default 1)
 * @param topK              keep the k most likely tokens; 0 = off
 * @param topP              nucleus: keep the smallest most-likely prefix with mass >= p; 1 = off
 * @param minP              drop tokens less likely than minP times the most likely one; 0 = off
 * @param repetitionPenalty CTRL-style penalty for tokens already in the context; 1 = off
 * @param presencePenalty   OpenAI-style, subtracted once from every token already generated; 0 = off
 * @param frequencyPenalty  OpenAI-style, subtracted per occurrence in the generated text; 0 = off
 * @param logitBias         added to the logits of the given token ids before anything else
 * @param seed              seed of the generator the draws come from (see {@link #newRng()})
 */
public record SamplingParams(double temperature, int topK, double topP, double minP,
        double repetitionPenalty, double presencePenalty, double frequencyPenalty,
        Map<Integer, Float> logitBias, long seed) {

    public SamplingParams {
        // sorted so that messages and bias application do not depend on hash order
        logitBias = logitBias == null ? Map.of() : Collections.unmodifiableMap(new TreeMap<>(logitBias));
    }

    public static SamplingParams defaults() {
        return new SamplingParams(1.0, 0, 1.0, 0.0, 1.0, 0.0, 0.0, Map.of(), 0L);
    }

    public SamplingParams withTemperature(double v) {
        return new SamplingParams(v, topK, topP, minP, repetitionPenalty, presencePenalty, frequencyPenalty, logitBias, seed);
    }

    public SamplingParams withTopK(int v) {
        return new SamplingParams(temperature, v, topP, minP, repetitionPenalty, presencePenalty, frequencyPenalty, logitBias, seed);
    }

    public SamplingParams withTopP(double v) {
        return new SamplingParams(temperature, topK, v, minP, repetitionPenalty, presencePenalty, frequencyPenalty, logitBias, seed);
    }

    public SamplingParams withMinP(double v) {
        return new SamplingParams(temperature, topK, topP, v, repetitionPenalty, presencePenalty, frequencyPenalty, logitBias, seed);
    }

    public SamplingParams withRepetitionPenalty(double v) {
        return new SamplingParams(temperature, topK, topP, minP, v, presencePenalty, frequencyPenalty, logitBias, seed);
    }

    public SamplingParams withPresencePenalty(double v) {
        return new SamplingParams(temperature, topK, topP, minP, repetitionPenalty, v, frequencyPenalty, logitBias, seed);
    }

    public SamplingParams withFrequencyPenalty(double v) {
        return new SamplingParams(temperature, topK, topP, minP, repetitionPenalty, presencePenalty, v, logitBias, seed);
    }

    public SamplingParams withLogitBias(Map<Integer, Float> v) {
        return new SamplingParams(temperature, topK, topP, minP, repetitionPenalty, presencePenalty, frequencyPenalty, v, seed);
    }

    public SamplingParams withSeed(long v) {
        return new SamplingParams(temperature, topK, topP, minP, repetitionPenalty, presencePenalty, frequencyPenalty, logitBias, v);
    }

    /** A fresh generator seeded with {@link #seed()}. */
    public Rng newRng() {
        return new Rng(seed);
    }

    /**
     * Checks every field and throws a {@link UserError} naming the first bad one and its value.
     * Token ids in {@link #logitBias()} are only checked against the vocabulary by {@link Sampler}.
     *
     * @return this, for chaining
     */
    public SamplingParams validate() {
        require(temperature >= 0, "temperature", ">= 0", temperature);
        // infinity would turn -inf logits into NaN (-inf / inf)
        require(!Double.isInfinite(temperature), "temperature", "finite", temperature);
        require(topK >= 0, "topK", ">= 0 (0 = off)", topK);
        require(topP > 0 && topP <= 1, "topP", "in (0, 1] (1 = off)", topP);
        require(minP >= 0 && minP <= 1, "minP", "in [0, 1] (0 = off)", minP);
        require(repetitionPenalty > 0 && !Double.isInfinite(repetitionPenalty),
                "repetitionPenalty", "finite and > 0 (1 = off)", repetitionPenalty);
        require(presencePenalty >= -2 && presencePenalty <= 2, "presencePenalty", "in [-2, 2]", presencePenalty);
        require(frequencyPenalty >= -2 && frequencyPenalty <= 2, "frequencyPenalty", "in [-2, 2]", frequencyPenalty);
        for (var e : logitBias.entrySet()) {
            require(e.getKey() >= 0, "logitBias token id", ">= 0", e.getKey());
            float b = e.getValue();
            require(b >= -100 && b <= 100, "logitBias[" + e.getKey() + "]", "in [-100, 100]", b);
        }
        return this;
    }

    // comparisons are written so that NaN fails them
    private static void require(boolean ok, String field, String rule, Object value) {
        if (!ok) throw new UserError(field + " must be " + rule + ", got " + value);
    }
}
