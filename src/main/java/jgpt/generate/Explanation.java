package jgpt.generate;

import java.util.List;

/**
 * Why a token was drawn: the most likely candidates with their probability after each stage of
 * the {@link Sampler} pipeline, and the chosen token.
 *
 * @param token         the token drawn (the same one {@link Sampler#sample} would draw)
 * @param logProb       its log-probability under the final distribution it was drawn from
 * @param modelLogProb  its log-probability under the model's raw distribution, softmax(logits)
 * @param candidates    the top candidates, most likely first in the order top-k and top-p use
 *                      (adjusted logit descending, lower id first on ties)
 */
public record Explanation(int token, double logProb, double modelLogProb, List<Candidate> candidates) {

    public Explanation {
        candidates = List.copyOf(candidates);
    }

    /**
     * One token's probability through the pipeline; a stage that dropped it shows 0.
     *
     * @param logit              the raw logit from the model
     * @param adjustedLogit      after logit bias and penalties
     * @param pModel             softmax(logit), what the model itself said
     * @param pBeforeTemperature softmax(adjustedLogit)
     * @param pAfterTemperature  softmax(adjustedLogit / T)
     * @param pAfterTopK         renormalized over the top-k survivors
     * @param pAfterTopP         renormalized over the top-p survivors
     * @param p                  after min-p: the distribution the token was drawn from
     */
    public record Candidate(int token, float logit, float adjustedLogit, double pModel,
            double pBeforeTemperature, double pAfterTemperature, double pAfterTopK,
            double pAfterTopP, double p) {

        /** Log-probability under the final distribution (-infinity if filtered out). */
        public double logProb() {
            return Math.log(p);
        }

        public double modelLogProb() {
            return Math.log(pModel);
        }
    }
}
