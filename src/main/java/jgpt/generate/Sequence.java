package jgpt.generate;

import java.util.Arrays;
import java.util.List;
import jgpt.tokenizer.StreamDecoder;
import jgpt.tokenizer.Tokenizer;
import jgpt.util.Rng;

/**
 * The state of one sequence being generated, shared by {@link Generator} (alone) and
 * {@link Engine} (batched): token history, sampler and its own generator, stop strings, streamed
 * text, and the next-token logits. The model sees the last block_size tokens: when the cache is
 * full it is rebuilt from the most recent block_size tokens, exactly what recomputing the cropped
 * context each step would give. Everything here depends only on this sequence, so its tokens are
 * the same whatever else is decoded alongside it.
 */
final class Sequence {
    /** One sampled token, the text it completed (often empty), and its explanation if asked for. */
    record Token(int id, String text, Explanation explanation) {}

    final KVCache cache;
    final int promptLength;
    final int maxNewTokens;
    private final int explainTopN;
    private final Sampler sampler;
    private final Rng rng;
    private final StopSequences stopper;
    private final StreamDecoder text;
    private final StringBuilder out = new StringBuilder();
    private final int[] history;
    private int len;
    private final float[] logits;

    /** @param explainTopN candidates to explain per token; 0 samples without explanations */
    Sequence(KVCache cache, Tokenizer tokenizer, int vocabSize, int[] prompt, int maxNewTokens, SamplingParams params,
             List<String> stops, int explainTopN) {
        if (prompt.length == 0) throw new IllegalArgumentException("prompt must hold at least one token");
        if (maxNewTokens < 0) throw new IllegalArgumentException("maxNewTokens must be >= 0, got " + maxNewTokens);
        this.cache = cache;
        this.promptLength = prompt.length;
        this.maxNewTokens = maxNewTokens;
        this.explainTopN = explainTopN;
        this.sampler = new Sampler(vocabSize, params);
        sampler.addPrompt(prompt);
        this.rng = params.newRng();
        this.stopper = new StopSequences(stops);
        this.text = tokenizer.streamDecoder();
        this.history = Arrays.copyOf(prompt, prompt.length + maxNewTokens);
        this.len = prompt.length;
        this.logits = new float[vocabSize];
    }

    /** Runs the prompt (its last block_size tokens) through the model into a reset cache. */
    void prefill(TokenDecoder decoder) {
        cache.reset();
        int start = Math.max(0, len - cache.capacity());
        setLogits(decoder.prefill(cache, history, start, len - start));
    }

    void setLogits(float[] l) {
        System.arraycopy(l, 0, logits, 0, logits.length);
    }

    /** The array a batched step writes this sequence's next logits into. */
    float[] logits() {
        return logits;
    }

    int generated() {
        return len - promptLength;
    }

    boolean done() {
        return stopper.stopped() || generated() == maxNewTokens;
    }

    boolean stopped() {
        return stopper.stopped();
    }

    /** Samples and appends the next token; call only when not {@link #done()}. */
    Token next() {
        Explanation e = null;
        int tok;
        if (explainTopN > 0) {
            e = sampler.sampleExplained(logits, rng, explainTopN);
            tok = e.token();
        } else {
            tok = sampler.sample(logits, rng);
        }
        sampler.accept(tok);
        history[len++] = tok;
        StopSequences.Emission em = stopper.push(text.feed(tok));
        out.append(em.text());
        return new Token(tok, em.text(), e);
    }

    /**
     * Prepares the context for the next step. Returns true when the last token still has to be
     * appended by a step; false when the cache was full and has been rebuilt from the cropped
     * context (which includes the last token), so the logits are already set.
     */
    boolean needsStep(TokenDecoder decoder) {
        if (cache.length() < cache.capacity()) return true;
        cache.reset();
        setLogits(decoder.prefill(cache, history, len - cache.capacity(), cache.capacity()));
        return false;
    }

    int lastToken() {
        return history[len - 1];
    }

    /** Ends the text: releases what was held back for a possible stop string or an incomplete character. */
    String finish() {
        if (stopper.stopped()) return "";
        StopSequences.Emission e = stopper.push(text.finish());
        String tail = e.stopped() ? e.text() : e.text() + stopper.flush();
        out.append(tail);
        return tail;
    }

    String text() {
        return out.toString();
    }

    int[] tokens() {
        return Arrays.copyOfRange(history, promptLength, len);
    }
}
