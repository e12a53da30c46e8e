package jgpt.generate;

import java.util.Arrays;
import java.util.List;
import jgpt.model.LanguageModel;
import jgpt.tokenizer.StreamDecoder;
import jgpt.tokenizer.Tokenizer;
import jgpt.util.Rng;

/**
 * Autoregressive generation for one sequence: prefill the prompt into a KV cache, then sample one
 * token at a time from the last position's logits. The context the model sees is always the last
 * block_size tokens: when the cache is full it is rebuilt from the most recent block_size tokens,
 * exactly what recomputing the cropped context each step would give.
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
        if (prompt.length == 0) throw new IllegalArgumentException("prompt must hold at least one token");
        int V = decoder.config().vocabSize(), block = cache.capacity();
        Sampler sampler = new Sampler(V, params);
        sampler.addPrompt(prompt);
        Rng rng = params.newRng();
        StopSequences stopper = new StopSequences(stops);
        StreamDecoder text = tokenizer.streamDecoder();
        StringBuilder out = new StringBuilder();

        int[] history = Arrays.copyOf(prompt, prompt.length + maxNewTokens);
        int len = prompt.length;
        long t0 = System.nanoTime();
        cache.reset();
        int start = Math.max(0, len - block);
        float[] logits = decoder.prefill(cache, history, start, len - start);
        long t1 = System.nanoTime();
        int generated = 0;
        boolean stopped = false;
        while (generated < maxNewTokens) {
            int tok = sampler.sample(logits, rng);
            sampler.accept(tok);
            history[len++] = tok;
            generated++;
            StopSequences.Emission e = stopper.push(text.feed(tok));
            emit(e.text(), out, listener);
            if (e.stopped()) {
                stopped = true;
                break;
            }
            if (generated == maxNewTokens) break;
            if (cache.length() == block) {
                cache.reset();
                logits = decoder.prefill(cache, history, len - block, block);
            } else {
                logits = decoder.step(cache, tok);
            }
        }
        if (!stopped) {
            StopSequences.Emission e = stopper.push(text.finish());
            emit(e.text(), out, listener);
            stopped = e.stopped();
            if (!stopped) emit(stopper.flush(), out, listener);
        }
        long t2 = System.nanoTime();
        return new Result(Arrays.copyOfRange(history, prompt.length, len), out.toString(), stopped, prompt.length, t1 - t0, t2 - t1);
    }

    private static void emit(String s, StringBuilder out, Listener listener) {
        if (s.isEmpty()) return;
        out.append(s);
        if (listener != null) listener.onText(s);
    }

    @Override
    public void close() {
        cache.close();
        decoder.close();
    }
}
