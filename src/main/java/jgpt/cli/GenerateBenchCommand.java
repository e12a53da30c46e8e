package jgpt.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import jgpt.generate.Engine;
import jgpt.generate.Explanation;
import jgpt.generate.SamplingParams;
import jgpt.kernels.Parallel;
import jgpt.model.LanguageModel;
import jgpt.model.GPTConfig;
import jgpt.train.Checkpoint;
import jgpt.util.Rng;
import jgpt.util.UserError;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * {@code jgpt bench generate}: inference speed through the {@link Engine}, as the server runs it.
 * Prefill tokens/s and time to first token come from one request alone; decode tokens/s from N
 * concurrent streams, counting the wall time the batch spent outside prefills.
 */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Benchmark generation: prefill tokens/s, decode tokens/s at N concurrent streams, time to first token.")
public final class GenerateBenchCommand implements Callable<Integer> {
    @Option(names = "--checkpoint", required = true, description = "Run directory or ckpt.bin file.")
    Path checkpoint;

    @Option(names = "--streams", split = ",", defaultValue = "1,16", description = "Concurrent streams to measure (default: ${DEFAULT-VALUE}).")
    List<Integer> streams;

    @Option(names = "--prompt-tokens", description = "Prompt length (default: half the context).")
    Integer promptTokens;

    @Option(names = "--new-tokens", defaultValue = "64", description = "Tokens generated per stream (default: ${DEFAULT-VALUE}).")
    int newTokens;

    @Option(names = "--threads", description = "Worker threads (default: all cores).")
    Integer threads;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        if (newTokens < 2) throw new UserError("--new-tokens must be >= 2, got " + newTokens);
        for (int s : streams) if (s < 1) throw new UserError("--streams must be >= 1, got " + s);
        if (threads != null) Parallel.setThreads(threads);
        PrintWriter out = spec.commandLine().getOut();
        try (Checkpoint ckpt = Checkpoint.load(checkpoint); LanguageModel model = ckpt.newModel()) {
            GPTConfig c = model.config();
            int p = promptTokens != null ? promptTokens : Math.max(1, c.blockSize() / 2);
            if (p < 1 || p > c.blockSize()) throw new UserError("--prompt-tokens must be in [1, " + c.blockSize() + "], got " + p);
            int maxStreams = streams.stream().mapToInt(Integer::intValue).max().orElse(1);
            out.printf(Locale.ROOT, "jgpt bench generate: %d layers, %d dims, context %d, vocab %d; prompt %d tokens, %d new tokens, %d threads%n",
                    c.nLayer(), c.nEmbd(), c.blockSize(), c.vocabSize(), p, newTokens, Parallel.threads());
            try (Engine engine = new Engine(model, ckpt.tokenizer(), maxStreams, maxStreams)) {
                // warm up: C2 compiles the decode loop only after thousands of calls (no tiered compilation)
                for (int i = 0; i < 3; i++) run(engine, c, p, maxStreams);
                List<Engine.Result> one = run(engine, c, p, 1);
                Engine.Result r = one.getFirst();
                out.printf(Locale.ROOT, "prefill: %,.0f tokens/s (%d tokens in %.1f ms)%n", p / (r.prefillNanos() / 1e9), p, r.prefillNanos() / 1e6);
                out.printf(Locale.ROOT, "time to first token: %.1f ms%n", r.firstTokenNanos() / 1e6);
                for (int s : streams) {
                    long t0 = System.nanoTime();
                    List<Engine.Result> rs = run(engine, c, p, s);
                    long wall = System.nanoTime() - t0, prefill = 0, generated = 0;
                    for (Engine.Result x : rs) {
                        prefill += x.prefillNanos();
                        generated += x.tokens().length;
                    }
                    double decodeS = (wall - prefill) / 1e9;
                    out.printf(Locale.ROOT, "decode, %d stream%s: %,.0f tokens/s total, %,.1f tokens/s per stream%n",
                            s, s == 1 ? "" : "s", generated / decodeS, generated / decodeS / s);
                }
            }
        }
        out.flush();
        return 0;
    }

    /** Runs {@code streams} requests together with random prompts; max tokens, no stop, plain sampling. */
    private List<Engine.Result> run(Engine engine, GPTConfig c, int promptLen, int streams) {
        List<CompletableFuture<Engine.Result>> done = new ArrayList<>();
        List<Engine.Request> reqs = new ArrayList<>();
        Rng rng = new Rng(streams);
        for (int i = 0; i < streams; i++) {
            int[] prompt = new int[promptLen];
            for (int j = 0; j < promptLen; j++) prompt[j] = rng.nextInt(c.vocabSize());
            CompletableFuture<Engine.Result> f = new CompletableFuture<>();
            done.add(f);
            reqs.add(new Engine.Request(prompt, newTokens, SamplingParams.defaults().withSeed(i), List.of(), 0, new Engine.Listener() {
                @Override
                public void onToken(int token, String text, Explanation e) {}

                @Override
                public void onDone(String tail, Engine.Result r) {
                    f.complete(r);
                }
            }));
        }
        engine.submitAll(reqs);
        List<Engine.Result> out = new ArrayList<>();
        for (CompletableFuture<Engine.Result> f : done) {
            Engine.Result r = f.join();
            if (r.finish() == Engine.Finish.ERROR) throw new IllegalStateException("generation failed: " + r.error());
            out.add(r);
        }
        return out;
    }
}
