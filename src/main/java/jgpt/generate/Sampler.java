package jgpt.generate;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import jgpt.util.Rng;
import jgpt.util.UserError;

/**
 * Turns one step's logits over the vocabulary into a token. One instance per sequence: it owns
 * scratch arrays sized to the vocabulary (so {@link #sample} allocates nothing) and the counts
 * of the tokens seen so far. Not thread-safe.
 *
 * <p>The pipeline, always in this order; a stage at its "off" value changes nothing:
 * <ol>
 *   <li><b>logit bias</b>: {@code logit[t] += bias[t]}.
 *   <li><b>repetition penalty</b> (CTRL / llama.cpp form) for every distinct token in the context,
 *       prompt included: {@code logit > 0 ? logit / penalty : logit * penalty}.
 *   <li><b>frequency and presence penalties</b> (OpenAI form) for tokens <em>generated</em> so far
 *       (prompt tokens do not count, as in OpenAI's API):
 *       {@code logit -= count * frequencyPenalty + (count > 0 ? presencePenalty : 0)}.
 *   <li><b>temperature</b>: {@code softmax(logit / T)}, stable (the maximum is subtracted first),
 *       in double precision. {@code T = 0} is greedy: the argmax, lowest id on ties.
 *   <li><b>top-k</b>: keep the k most likely tokens (lower id first on ties).
 *   <li><b>top-p</b>: over the distribution renormalized after top-k (p acts after k), keep the
 *       smallest most-likely prefix whose mass is >= p (with 1e-6 slack for rounding), at least one.
 *   <li><b>min-p</b>: drop tokens whose probability is below {@code minP * max probability}. The ratio
 *       to the maximum does not change under renormalization, and top-k and top-p always keep the
 *       most likely token, so this is the same as filtering after them.
 *   <li><b>draw</b>: inverse CDF of one {@link Rng#nextDouble()} over the kept tokens in id order,
 *       renormalized, in double precision.
 * </ol>
 * Each call to {@link #sample} or {@link #sampleExplained} consumes exactly one
 * {@code nextDouble()}, greedy included, so the generator's position never depends on the settings.
 *
 * <p>History: call {@link #addPrompt} with the prompt, then {@link #accept} with every token
 * actually appended to the sequence; {@code sample} itself does not record anything.
 */
public final class Sampler {
    /** Rounding slack for top-p: a hand-made 0.5 + 0.3 must reach p = 0.8. */
    private static final double TOP_P_SLACK = 1e-6;

    private final SamplingParams params;
    private final int vocab;
    private final int[] biasIds;
    private final float[] biasValues;

    // history: counts over the whole context and over generated tokens, plus the distinct ids seen
    private final int[] contextCounts;
    private final int[] generatedCounts;
    private final int[] seen;
    private int seenCount;

    // scratch reused by every call
    private final float[] adjusted;
    private final double[] weights;
    private final long[] heap;
    private int heapSize;

    // what the last filter() kept, read back by sampleExplained
    private int keptByTopK;
    private int keptByTopP;
    private double keptTotal;

    /**
     * @param vocabSize the real vocabulary: logits arrays may be longer (padded), the rest is ignored
     * @throws UserError if the parameters are invalid or a biased token is outside the vocabulary
     */
    public Sampler(int vocabSize, SamplingParams params) {
        if (vocabSize <= 0) throw new IllegalArgumentException("vocabSize must be positive: " + vocabSize);
        this.params = params.validate();
        this.vocab = vocabSize;
        Map<Integer, Float> bias = params.logitBias();
        biasIds = new int[bias.size()];
        biasValues = new float[bias.size()];
        int j = 0;
        for (var e : bias.entrySet()) {
            if (e.getKey() >= vocabSize) {
                throw new UserError("logitBias token " + e.getKey() + " is outside the vocabulary of "
                        + vocabSize + " tokens");
            }
            biasIds[j] = e.getKey();
            biasValues[j++] = e.getValue();
        }
        contextCounts = new int[vocabSize];
        generatedCounts = new int[vocabSize];
        seen = new int[vocabSize];
        adjusted = new float[vocabSize];
        weights = new double[vocabSize];
        heap = new long[vocabSize];
    }

    public int vocabSize() {
        return vocab;
    }

    /** Records prompt tokens: they count for the repetition penalty only. */
    public void addPrompt(int[] tokens) {
        for (int t : tokens) see(t);
    }

    /** Records a generated token: it counts for all penalties. */
    public void accept(int token) {
        see(token);
        generatedCounts[token]++;
    }

    /** Forgets the history, to reuse this sampler for a new sequence. */
    public void reset() {
        for (int j = 0; j < seenCount; j++) {
            contextCounts[seen[j]] = 0;
            generatedCounts[seen[j]] = 0;
        }
        seenCount = 0;
    }

    private void see(int token) {
        if (token < 0 || token >= vocab) {
            throw new IllegalArgumentException("token " + token + " outside the vocabulary of " + vocab);
        }
        if (contextCounts[token]++ == 0) seen[seenCount++] = token;
    }

    /**
     * Draws the next token. {@code logits} is read, never written; only its first
     * {@link #vocabSize()} entries are used.
     */
    public int sample(float[] logits, Rng rng) {
        double u = rng.nextDouble();
        adjust(logits);
        if (params.temperature() == 0) return argmax();
        filter();
        return draw(u);
    }

    /**
     * Draws the same token as {@link #sample} would from the same generator state, and explains it.
     * Allocates freely: meant for inspection, not for the generation loop. At T = 0 the stages after
     * temperature show the greedy choice as a point mass (probability 1, log-probability 0).
     *
     * @param topN how many of the most likely candidates to report
     */
    public Explanation sampleExplained(float[] logits, Rng rng, int topN) {
        double u = rng.nextDouble();
        adjust(logits);
        boolean greedy = params.temperature() == 0;
        int token;
        if (greedy) {
            token = argmax();
        } else {
            filter();
            token = draw(u);
        }

        double modelLse = logSumExp(logits, 1.0);
        double adjustedLse = logSumExp(adjusted, 1.0);
        double t = greedy ? 1.0 : params.temperature();
        double temperedLse = logSumExp(adjusted, t);

        // rank every token the way top-k and top-p do: the kept sets are prefixes of this order
        long[] keys = new long[vocab];
        for (int i = 0; i < vocab; i++) keys[i] = key(adjusted[i], i);
        Arrays.sort(keys);
        int n = Math.min(topN, vocab);
        int[] ranked = new int[greedy ? n : Math.max(keptByTopK, n)];
        for (int r = 0; r < ranked.length; r++) ranked[r] = idOf(keys[vocab - 1 - r]);
        double zK = 0;
        double zP = 0;
        if (!greedy) {
            for (int r = 0; r < keptByTopK; r++) {
                double p = Math.exp(adjusted[ranked[r]] / t - temperedLse);
                zK += p;
                if (r < keptByTopP) zP += p;
            }
        }

        List<Explanation.Candidate> candidates = new ArrayList<>(n);
        for (int r = 0; r < n; r++) {
            int id = ranked[r];
            double pModel = Math.exp(logits[id] - modelLse);
            double pBefore = Math.exp(adjusted[id] - adjustedLse);
            double pTemp, pK, pP, p;
            if (greedy) {
                pTemp = pK = pP = p = id == token ? 1.0 : 0.0;
            } else {
                pTemp = Math.exp(adjusted[id] / t - temperedLse);
                pK = r < keptByTopK ? pTemp / zK : 0.0;
                pP = r < keptByTopP ? pTemp / zP : 0.0;
                p = weights[id] / keptTotal;
            }
            candidates.add(new Explanation.Candidate(id, logits[id], adjusted[id], pModel, pBefore, pTemp, pK, pP, p));
        }
        double logProb = greedy ? 0.0 : Math.log(weights[token] / keptTotal);
        return new Explanation(token, logProb, logits[token] - modelLse, candidates);
    }

    /** Stages 1-3: copies the logits into {@code adjusted} with bias and penalties applied. */
    private void adjust(float[] logits) {
        if (logits.length < vocab) {
            throw new IllegalArgumentException(logits.length + " logits for a vocabulary of " + vocab);
        }
        System.arraycopy(logits, 0, adjusted, 0, vocab);
        for (int j = 0; j < biasIds.length; j++) adjusted[biasIds[j]] += biasValues[j];
        double rep = params.repetitionPenalty();
        double freq = params.frequencyPenalty();
        double pres = params.presencePenalty();
        for (int j = 0; j < seenCount; j++) {
            int id = seen[j];
            float x = adjusted[id];
            if (rep != 1) x = (float) (x > 0 ? x / rep : x * rep);
            int count = generatedCounts[id];
            if (count > 0) x = (float) (x - (count * freq + pres));
            adjusted[id] = x;
        }
    }

    private int argmax() {
        int best = 0;
        for (int i = 0; i < vocab; i++) {
            checkNotNaN(i);
            if (adjusted[i] > adjusted[best]) best = i; // strict: ties keep the lowest id
        }
        checkNotAllMasked(adjusted[best]);
        return best;
    }

    /**
     * Stages 4-7: fills {@code weights} with exp((logit - max) / T) for the kept tokens and 0 for the
     * others, and {@code keptTotal} with their sum.
     */
    private void filter() {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) {
            checkNotNaN(i);
            max = Math.max(max, adjusted[i]);
        }
        checkNotAllMasked(max);
        double t = params.temperature();
        double total = 0;
        for (int i = 0; i < vocab; i++) {
            double w = Math.exp(((double) adjusted[i] - max) / t); // dividing by 1 is exact: T = 1 is off
            weights[i] = w;
            total += w;
        }

        // top-k and top-p keep a prefix of the ranking; a heap gives it in O(V + kept * log V)
        int k = params.topK();
        boolean topK = k > 0 && k < vocab;
        boolean topP = params.topP() < 1;
        keptByTopK = topK ? k : vocab;
        keptByTopP = keptByTopK;
        long boundary = Long.MIN_VALUE; // keys >= boundary survive: the n-th ranked key
        if (topK || topP) {
            buildHeap();
            double z = total;
            if (topK) {
                z = 0;
                for (int r = 0; r < k; r++) z += weights[idOf(ranked(r))];
            }
            if (topP) {
                double target = (params.topP() - TOP_P_SLACK) * z;
                double cum = 0;
                int n = 0;
                while (n < keptByTopK) {
                    cum += weights[idOf(ranked(n++))];
                    if (cum >= target) break;
                }
                keptByTopP = n;
            }
            boundary = ranked(keptByTopP - 1);
        }

        // the most likely token has weight exp(0) = 1, so min-p's threshold is minP itself
        double minWeight = params.minP();
        double kept = 0;
        for (int i = 0; i < vocab; i++) {
            if (weights[i] < minWeight || key(adjusted[i], i) < boundary) weights[i] = 0;
            else kept += weights[i];
        }
        keptTotal = kept;
    }

    /** Stage 8: inverse CDF over {@code weights} in id order. */
    private int draw(double u) {
        double target = u * keptTotal;
        double cum = 0;
        int last = 0;
        for (int i = 0; i < vocab; i++) {
            double w = weights[i];
            if (w > 0) {
                cum += w;
                last = i;
                if (target < cum) return i;
            }
        }
        return last; // u * total rounded up to the total: the last kept token
    }

    private void checkNotNaN(int i) {
        if (Float.isNaN(adjusted[i])) throw new IllegalArgumentException("logit " + i + " is NaN");
    }

    private static void checkNotAllMasked(float max) {
        if (max == Float.NEGATIVE_INFINITY) throw new IllegalArgumentException("every logit is -infinity");
    }

    /**
     * Sort key: logit descending, then id ascending, packed in one long so that ranking needs no
     * boxing. The float's bits are mapped to an int with the same order; -0.0 becomes +0.0 first
     * so that the two zeros tie and fall back to id order.
     */
    private static long key(float logit, int id) {
        int bits = Float.floatToRawIntBits(logit + 0.0f);
        bits ^= (bits >> 31) & 0x7FFFFFFF;
        return ((long) bits << 32) | (~id & 0xFFFFFFFFL);
    }

    private static int idOf(long key) {
        return ~(int) key;
    }

    private void buildHeap() {
        for (int i = 0; i < vocab; i++) heap[i] = key(adjusted[i], i);
        heapSize = vocab;
        for (int i = vocab / 2 - 1; i >= 0; i--) siftDown(i);
    }

    /** The key of rank r (0 = most likely), popping the max-heap as far as needed. */
    private long ranked(int r) {
        while (vocab - heapSize <= r) {
            long top = heap[0];
            heap[0] = heap[--heapSize];
            heap[heapSize] = top; // popped keys fill the tail, largest last
            siftDown(0);
        }
        return heap[vocab - 1 - r];
    }

    private void siftDown(int i) {
        long x = heap[i];
        while (true) {
            int c = 2 * i + 1;
            if (c >= heapSize) break;
            if (c + 1 < heapSize && heap[c + 1] > heap[c]) c++;
            if (heap[c] <= x) break;
            heap[i] = heap[c];
            i = c;
        }
        heap[i] = x;
    }

    private double logSumExp(float[] x, double t) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) max = Math.max(max, x[i] / t);
        double sum = 0;
        for (int i = 0; i < vocab; i++) sum += Math.exp(x[i] / t - max);
        return max + Math.log(sum);
    }
}
