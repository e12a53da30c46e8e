package jgpt.generate;

import java.util.List;
import jgpt.model.LanguageModel;
import jgpt.tokenizer.Tokenizer;

/**
 * Autoregressive generation for one sequence on the calling thread: prefill the prompt into a KV
 * cache, then sample one token at a time from the last position's logits (see {@link Sequence}
 * for context cropping). {@link Engine} decodes many sequences together with the same results.
 */
public final class Generator implements AutoCloseable {
    /** Receives the text of each generated token as soon as it is complete UTF-8. */
    @FunctionalInterface
    public interface Listener {
        void onText(String text);
    }

    /** The generated tokens and the text emitted (after stop-sequence handling). */
    public record Result(int[] tokens, String text, boolean stopped, int promptTokens, long prefillNanos, long decodeNanos) {}

    private final TokenDecoder decoder;
    private final KVCache cache;
    private final Tokenizer tokenizer;

    public Generator(LanguageModel model, Tokenizer tokenizer) {
        this(TokenDecoder.of(model), tokenizer);
    }

    /** Generation over a given decoder (e.g. a Q8 one); closing the generator closes it. */
    public Generator(TokenDecoder decoder, Tokenizer tokenizer) {
        this.decoder = decoder;
        this.cache = decoder.newCache();
        this.tokenizer = tokenizer;
    }

    public Result generate(int[] prompt, int maxNewTokens, SamplingParams params, List<String> stops, Listener listener) {
        Sequence seq = new Sequence(cache, tokenizer, decoder.config().vocabSize(), prompt, maxNewTokens, params, stops, 0);
        long t0 = System.nanoTime();
        seq.prefill(decoder);
        long t1 = System.nanoTime();
        while (!seq.done()) {
            emit(seq.next().text(), listener);
            if (!seq.done() && seq.needsStep(decoder)) seq.setLogits(decoder.step(cache, seq.lastToken()));
        }
        emit(seq.finish(), listener);
        long t2 = System.nanoTime();
        return new Result(seq.tokens(), seq.text(), seq.stopped(), prompt.length, t1 - t0, t2 - t1);
    }

    private static void emit(String s, Listener listener) {
        if (!s.isEmpty() && listener != null) listener.onText(s);
    }

    @Override
    public void close() {
        cache.close();
        decoder.close();
    }
}
