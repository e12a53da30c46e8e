package jgpt.cli;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import jgpt.generate.Engine;
import jgpt.generate.Explanation;
import jgpt.generate.LlamaDecoder;
import jgpt.generate.Q8Checkpoint;
import jgpt.generate.TokenDecoder;
import jgpt.generate.SamplingParams;
import jgpt.kernels.Parallel;
import jgpt.model.LanguageModel;
import jgpt.model.Llama;
import jgpt.tokenizer.Tokenizer;
import jgpt.train.Checkpoint;
import jgpt.util.UserError;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code jgpt sample}: text to stdout, timings, logs and explanations to stderr. The samples are
 * decoded together in one {@link Engine} batch; one sample streams as it is generated, several
 * are printed in order as they finish.
 */
@Command(name = "sample", mixinStandardHelpOptions = true,
        description = "Generate text from a checkpoint (KV cache, last-position logits only).")
public final class SampleCommand implements Callable<Integer> {
    private static final int MAX_BATCH = 16;

    @Option(names = "--checkpoint", required = true, description = "Run directory or ckpt.bin file, or a jgpt quantize directory or ckpt-q8.bin (decodes with its int8 weights).")
    Path checkpoint;

    @Option(names = "--prompt", description = "Text to continue (default: a newline for char models, <|endoftext|> for gpt2).")
    String prompt;

    @Option(names = "--max-new-tokens", defaultValue = "500", description = "Tokens to generate per sample (default: ${DEFAULT-VALUE}).")
    int maxNewTokens;

    @Option(names = "--num-samples", defaultValue = "1", description = "Independent samples (default: ${DEFAULT-VALUE}).")
    int numSamples;

    @Option(names = "--temperature", defaultValue = "0.8", description = "logits / T; 0 is greedy (default: ${DEFAULT-VALUE}).")
    double temperature;

    @Option(names = "--top-k", defaultValue = "0", description = "Keep the k most likely tokens; 0 is off, 1 is greedy.")
    int topK;

    @Option(names = "--top-p", defaultValue = "1.0", description = "Nucleus: smallest set reaching probability p, in (0, 1]; 1 is off.")
    double topP;

    @Option(names = "--min-p", defaultValue = "0", description = "Drop tokens below min_p times the top probability; 0 is off.")
    double minP;

    @Option(names = "--repetition-penalty", defaultValue = "1.0", description = "Penalize tokens already in the context; 1 is off.")
    double repetitionPenalty;

    @Option(names = "--stop", description = "Stop when this text is generated (repeatable).")
    List<String> stops = new ArrayList<>();

    @Option(names = "--seed", defaultValue = "1337", description = "Same seed, same text (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--quant", description = "q8: decode with Q8_0 int8 weights, quantized at load (Llama only).")
    String quant;

    @Option(names = "--threads", description = "Worker threads (default: all cores).")
    Integer threads;

    @Option(names = "--explain", description = "Print to stderr, per generated token, the top candidates' probability"
            + " before and after temperature, after top-k and top-p, and the token drawn.")
    boolean explain;

    @Option(names = "--explain-top", defaultValue = "5", description = "Candidates per token for --explain (default: ${DEFAULT-VALUE}).")
    int explainTop;

    @Override
    public Integer call() {
        if (maxNewTokens < 0) throw new UserError("--max-new-tokens must be >= 0, got " + maxNewTokens);
        if (numSamples < 1) throw new UserError("--num-samples must be >= 1, got " + numSamples);
        if (explainTop < 1) throw new UserError("--explain-top must be >= 1, got " + explainTop);
        SamplingParams params = SamplingParams.defaults().withTemperature(temperature).withTopK(topK).withTopP(topP)
                .withMinP(minP).withRepetitionPenalty(repetitionPenalty).withSeed(seed).validate();
        if (threads != null) Parallel.setThreads(threads);
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        boolean q8File = Q8Checkpoint.isQ8(checkpoint);
        if (q8File && quant != null && !quant.equals("q8")) throw new UserError("--quant must be q8, got " + quant);
        try (Q8Checkpoint q8ckpt = q8File ? Q8Checkpoint.load(checkpoint) : null;
             Checkpoint ckpt = q8File ? null : Checkpoint.load(checkpoint);
             LanguageModel model = q8File ? q8ckpt.newModel() : ckpt.newModel()) {
            Tokenizer tok = q8File ? q8ckpt.tokenizer() : ckpt.tokenizer();
            int[] promptTokens = promptTokens(tok);
            // A default <|endoftext|> start is not text the user wrote: print nothing for it.
            String promptText = prompt == null && tok.eotToken() >= 0 ? "" : tok.decode(promptTokens);
            boolean stream = numSamples == 1;
            List<CompletableFuture<Engine.Result>> results = new ArrayList<>();
            List<Engine.Request> requests = new ArrayList<>();
            if (stream) out.print(promptText);
            for (int s = 0; s < numSamples; s++) {
                CompletableFuture<Engine.Result> done = new CompletableFuture<>();
                results.add(done);
                int sample = s + 1;
                Engine.Listener listener = new Engine.Listener() {
                    int index;

                    @Override
                    public void onToken(int token, String text, Explanation e) {
                        if (stream) out.print(text);
                        if (e != null) System.err.print(ExplainTable.format(tok, numSamples > 1 ? sample : 0, ++index, e));
                    }

                    @Override
                    public void onDone(String tail, Engine.Result r) {
                        if (stream) out.print(tail);
                        done.complete(r);
                    }
                };
                requests.add(new Engine.Request(promptTokens, maxNewTokens, params.withSeed(seed + s), stops,
                        explain ? explainTop : 0, listener));
            }
            // at most MAX_BATCH KV caches at once (each is n_layer * 2 * block_size * n_embd floats); the rest queue
            int batch = Math.min(numSamples, MAX_BATCH);
            try (Engine engine = new Engine(q8File ? q8ckpt.decoder((Llama) model) : decoder(model, batch), tok, batch, numSamples)) {
                engine.submitAll(requests);
                for (int s = 0; s < numSamples; s++) {
                    Engine.Result r = results.get(s).join();
                    if (r.finish() == Engine.Finish.ERROR) throw new IllegalStateException("sample " + (s + 1) + ": " + r.error());
                    if (!stream) {
                        if (s > 0) out.println("\n---------------");
                        out.print(promptText + r.text());
                    }
                    out.println();
                    int n = r.tokens().length;
                    double decodeS = (r.totalNanos() - r.firstTokenNanos()) / 1e9;
                    System.err.printf("jgpt: sample %d: %d prompt tokens, %d new tokens, first token after %.0f ms, %.1f tokens/s%s%n",
                            s + 1, r.promptTokens(), n, r.firstTokenNanos() / 1e6,
                            n > 1 ? (n - 1) / Math.max(decodeS, 1e-9) : 0.0,
                            r.finish() == Engine.Finish.STOP ? " (stop sequence)" : "");
                }
            }
        }
        return 0;
    }

    private TokenDecoder decoder(LanguageModel model, int maxBatch) {
        if (quant == null) return TokenDecoder.of(model, maxBatch);
        if (!quant.equals("q8")) throw new UserError("--quant must be q8, got " + quant);
        if (!(model instanceof Llama llama)) throw new UserError("--quant q8 is implemented for llama checkpoints only");
        return new LlamaDecoder(llama, true);
    }

    private int[] promptTokens(Tokenizer tok) {
        if (prompt != null && !prompt.isEmpty()) return tok.encode(prompt);
        if (tok.eotToken() >= 0) return new int[] {tok.eotToken()};
        try {
            return tok.encode("\n");
        } catch (UserError e) {
            throw new UserError("no --prompt given and the vocabulary has no newline to start from: pass --prompt");
        }
    }
}
