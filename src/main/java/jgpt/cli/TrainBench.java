package jgpt.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.Callable;
import jgpt.kernels.Parallel;
import jgpt.model.LanguageModel;
import jgpt.model.GPTConfig;
import jgpt.train.AdamW;
import jgpt.train.GradClip;
import jgpt.train.TrainConfig;
import jgpt.util.Rng;
import jgpt.util.UserError;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code jgpt bench train}: training-step speed of a model shape on synthetic random tokens (no data
 * directory). Times forward, backward (overwriting the gradients, as a first micro-step does) and
 * the optimizer (global-norm clipping + AdamW) separately, after a warm-up that is not timed; reports tokens/s of the fastest
 * step and the mean, model FLOPs per token as nanoGPT's {@code estimate_mfu} counts them
 * (6N + 12·L·C·T, N = parameters without wpe and without the vocabulary's padding rows), achieved
 * GFLOPS, MFU against the best sgemm GFLOPS measured in the same process on the same threads
 * (before and after the steps), peak RSS (VmHWM), and heap bytes allocated per step over all
 * threads. The last line is one JSON object with all of these.
 */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = "Training-step speed (forward/backward/optimizer), tokens/s, GFLOPS and MFU on random tokens.")
final class TrainBench implements Callable<Integer> {
    @Option(names = "--config", paramLabel = "FILE", required = true, description = "JSON preset giving the model shape, e.g. configs/gpt2-124m.json")
    Path config;
    @Option(names = "--vocab", defaultValue = "50257", description = "vocabulary size (default ${DEFAULT-VALUE}, GPT-2)")
    int vocab;
    @Option(names = "--batch-size", description = "B (default: the preset's batch_size)")
    Integer batchSize;
    @Option(names = "--seq-len", description = "T (default: the preset's seq_len, else block_size)")
    Integer seqLen;
    @Option(names = "--steps", defaultValue = "10", description = "timed steps (default ${DEFAULT-VALUE})")
    int steps;
    @Option(names = "--warmup", defaultValue = "3",
            description = "untimed warm-up steps, at least; more follow while a step still allocates over 256 KiB of heap"
                    + " (code the JIT has not compiled yet), up to 10 times this many (default ${DEFAULT-VALUE})")
    int warmup;
    @Option(names = "--threads", description = "worker threads (default: the preset's, else available processors)")
    Integer threads;
    @Option(names = "--sgemm-size", defaultValue = "1536", description = "size of the sgemm that measures the peak (default ${DEFAULT-VALUE})")
    int sgemmSize;

    @Option(names = "--nproc", description = "Distributed: N ranks under mpirun vs 1 process, same global batch (see train-bench).")
    Integer nproc;

    @Option(names = "--strategy", defaultValue = "ddp", description = "With --nproc: ddp, zero2 or fsdp (default ${DEFAULT-VALUE}).")
    String strategy;

    @Option(names = "--rounds", defaultValue = "3", description = "With --nproc: rounds of 1 process then N ranks, back to back (default ${DEFAULT-VALUE}).")
    int rounds;

    /**
     * A warm-up step that allocates more than this is still running code C2 has not compiled (the
     * Vector API's fallbacks allocate per operation); a compiled step allocates ~28 KiB at the
     * Austen shape. With 3 fixed warm-up steps, 5 of 8 runs there still allocated 0.3-8 MB per
     * timed step (JFR: AdamW.update, LayerNorm, Gemm.kernel in their fallbacks); with 20, none did.
     */
    private static final long SETTLED_STEP_BYTES = 256 << 10;

    @Override
    public Integer call() throws Exception {
        if (nproc != null) return distributed();
        if (steps < 1) throw new UserError("--steps must be >= 1");
        if (warmup < 0) throw new UserError("--warmup must be >= 0");
        if (vocab < 1) throw new UserError("--vocab must be >= 1");
        TrainConfig cfg = TrainConfig.load(config);
        int B = batchSize != null ? batchSize : cfg.batchSize();
        int T = seqLen != null ? seqLen : cfg.T();
        if (B < 1) throw new UserError("--batch-size must be >= 1");
        if (T < 1 || T > cfg.blockSize()) throw new UserError("--seq-len must be in 1.." + cfg.blockSize());
        int k = threads != null ? threads : cfg.threads() > 0 ? cfg.threads() : Runtime.getRuntime().availableProcessors();
        if (k < 1) throw new UserError("--threads must be >= 1");
        Parallel.setThreads(k);
        GPTConfig mc = cfg.model(vocab);
        String load0 = loadAverage();

        SgemmBench.Result peak0 = SgemmBench.measure(sgemmSize, 5, 2_000_000_000L);

        long flopsPerToken;
        double[] fwd = new double[steps], bwd = new double[steps], opt = new double[steps];
        double firstLoss = 0, lastLoss = 0;
        long allocBytes;
        long rssBytes;
        int warmedUp = 0;
        long nonEmbedding, params;
        try (LanguageModel model = LanguageModel.create(mc);
             AdamW adam = new AdamW(model.params(), model.grads(), cfg.beta1(), cfg.beta2(), 1e-8, cfg.weightDecay())) {
            Rng rng = new Rng(cfg.seed());
            model.initWeights(rng);
            params = model.numParams();
            long C = mc.nEmbd();
            nonEmbedding = model.numParams() - (mc.isLlama() ? 0 : model.layout().tensor("wpe").numel())
                    - (long) (mc.paddedVocab() - mc.vocabSize()) * C * (mc.tied() ? 1 : 2);
            flopsPerToken = 6 * nonEmbedding + 12L * mc.nLayer() * C * T;
            System.out.printf("jgpt bench train: %s, %d layers, %d heads, %d dims, vocab %d, %,d parameters (%,d without wpe and padding),"
                            + " B=%d T=%d, threads=%d, >= %d warm-up + %d timed steps%n",
                    config, mc.nLayer(), mc.nHead(), mc.nEmbd(), mc.vocabSize(), model.numParams(), nonEmbedding,
                    B, T, k, warmup, steps);
            int[] inputs = new int[B * T], targets = new int[B * T];
            int[] tokens = new int[B * T + 1];
            var mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
            long[] t = new long[4];
            for (boolean warming = warmup > 0; warming; ) {
                long a0 = mx.getTotalThreadAllocatedBytes();
                randomBatch(rng, vocab, tokens, inputs, targets);
                step(model, adam, inputs, targets, B, T, cfg, ++warmedUp, t);
                long stepAlloc = mx.getTotalThreadAllocatedBytes() - a0;
                warming = warmedUp < warmup || (stepAlloc > SETTLED_STEP_BYTES && warmedUp < 10 * warmup);
            }
            long alloc0 = mx.getTotalThreadAllocatedBytes();
            for (int i = 0; i < steps; i++) {
                randomBatch(rng, vocab, tokens, inputs, targets);
                float loss = step(model, adam, inputs, targets, B, T, cfg, warmedUp + i + 1, t);
                fwd[i] = (t[1] - t[0]) / 1e6;
                bwd[i] = (t[2] - t[1]) / 1e6;
                opt[i] = (t[3] - t[2]) / 1e6;
                if (i == 0) firstLoss = loss;
                lastLoss = loss;
            }
            allocBytes = mx.getTotalThreadAllocatedBytes() - alloc0;
            rssBytes = vmHwm();
        }
        SgemmBench.Result peak1 = SgemmBench.measure(sgemmSize, 5, 0);
        double peakGflops = Math.max(Math.max(peak0.bestGflops(), peak0.warmGflops()),
                Math.max(peak1.bestGflops(), peak1.warmGflops()));
        String load1 = loadAverage();

        int best = 0;
        double[] total = new double[steps];
        for (int i = 0; i < steps; i++) {
            total[i] = fwd[i] + bwd[i] + opt[i];
            if (total[i] < total[best]) best = i;
        }
        double meanMs = Arrays.stream(total).average().orElse(0);
        double tokens = (double) B * T;
        double tokPerS = tokens / (total[best] / 1000), meanTokPerS = tokens / (meanMs / 1000);
        double gflops = flopsPerToken * tokPerS / 1e9;
        double mfu = gflops / peakGflops;
        double allocPerStep = (double) allocBytes / steps;

        System.out.printf("loss %.4f (first timed step) -> %.4f (last)%n", firstLoss, lastLoss);
        System.out.printf("best step:  %8.1f ms = forward %.1f + backward %.1f + optimizer %.1f%n",
                total[best], fwd[best], bwd[best], opt[best]);
        System.out.printf("mean step:  %8.1f ms = forward %.1f + backward %.1f + optimizer %.1f%n",
                meanMs, mean(fwd), mean(bwd), mean(opt));
        System.out.printf("tokens/s:   %8.1f best, %.1f mean%n", tokPerS, meanTokPerS);
        System.out.printf("FLOPs/token %,d (6N + 12·L·C·T, N = %,d); achieved %.1f GFLOPS (best step)%n",
                flopsPerToken, nonEmbedding, gflops);
        System.out.printf("MFU:        %.1f%% of %.1f GFLOPS (sgemm %d³ on %d threads, best of before/after: %.1f / %.1f)%n",
                100 * mfu, peakGflops, sgemmSize, k, Math.max(peak0.bestGflops(), peak0.warmGflops()),
                Math.max(peak1.bestGflops(), peak1.warmGflops()));
        System.out.printf("peak RSS:   %.2f GiB (VmHWM); heap allocated per timed step: %.1f KiB (all threads), after %d warm-up steps%n",
                rssBytes / (double) (1L << 30), allocPerStep / 1024, warmedUp);
        System.out.printf("load average: %s (start), %s (end)%n", load0, load1);

        ObjectNode j = new ObjectMapper().createObjectNode();
        j.put("bench", "train").put("impl", "jgpt").put("config", config.toString())
                .put("n_layer", mc.nLayer()).put("n_head", mc.nHead()).put("n_embd", mc.nEmbd())
                .put("vocab", mc.vocabSize()).put("batch_size", B).put("seq_len", T).put("threads", k)
                .put("warmup", warmedUp).put("steps", steps).put("params", params).put("params_no_wpe", nonEmbedding)
                .put("ms_per_step", total[best]).put("forward_ms", fwd[best]).put("backward_ms", bwd[best])
                .put("optimizer_ms", opt[best]).put("mean_ms_per_step", meanMs).put("mean_forward_ms", mean(fwd))
                .put("mean_backward_ms", mean(bwd)).put("mean_optimizer_ms", mean(opt))
                .put("tokens_per_s", tokPerS).put("mean_tokens_per_s", meanTokPerS)
                .put("flops_per_token", flopsPerToken).put("gflops", gflops).put("peak_gflops", peakGflops)
                .put("mfu", mfu).put("peak_rss_bytes", rssBytes).put("alloc_bytes_per_step", allocPerStep)
                .put("first_loss", firstLoss).put("last_loss", lastLoss)
                .put("load_start", load0).put("load_end", load1);
        System.out.println(j);
        return 0;
    }

    /** Random tokens: inputs and targets are the same sequence shifted by one. */
    private static void randomBatch(Rng rng, int vocab, int[] tokens, int[] inputs, int[] targets) {
        for (int i = 0; i < tokens.length; i++) tokens[i] = rng.nextInt(vocab);
        System.arraycopy(tokens, 0, inputs, 0, inputs.length);
        System.arraycopy(tokens, 1, targets, 0, targets.length);
    }

    /**
     * One training step as Trainer does it (one micro-batch): zero grads, forward, backward, clip,
     * AdamW. t receives the nanoTime before forward, after forward, after backward, after the optimizer.
     */
    private static float step(LanguageModel model, AdamW adam, int[] inputs, int[] targets, int B, int T, TrainConfig cfg,
                              int stepNo, long[] t) {
        t[0] = System.nanoTime();
        float loss = model.forward(inputs, targets, B, T);
        t[1] = System.nanoTime();
        model.backward(1f, false);
        t[2] = System.nanoTime();
        double norm = GradClip.norm(model.grads());
        adam.step((float) cfg.lr(), stepNo, GradClip.coefficient(norm, cfg.gradClip()));
        t[3] = System.nanoTime();
        return loss;
    }

    private static double mean(double[] x) {
        return Arrays.stream(x).average().orElse(0);
    }

    /** VmHWM of /proc/self/status in bytes, or -1 where there is no /proc. */
    static long vmHwm() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        } catch (IOException | RuntimeException e) {
            // not Linux
        }
        return -1;
    }

    static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
            return f[0] + " " + f[1] + " " + f[2];
        } catch (IOException | RuntimeException e) {
            return "?";
        }
    }

    /** {@code --nproc}: the preset's model shape through the distributed bench (one rank per process). */
    private int distributed() throws Exception {
        TrainConfig cfg = TrainConfig.load(config);
        GPTConfig m = cfg.model(vocab);
        java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("--nproc", String.valueOf(nproc),
                "--strategy", strategy, "--arch", m.arch(), "--n-kv-head", String.valueOf(m.nKvHead()),
                "--ffn-hidden", String.valueOf(m.ffnHidden()), "--n-layer", String.valueOf(cfg.nLayer()), "--n-head", String.valueOf(cfg.nHead()),
                "--n-embd", String.valueOf(cfg.nEmbd()), "--seq-len", String.valueOf(seqLen != null ? seqLen : cfg.T()),
                "--vocab", String.valueOf(vocab), "--batch-size", String.valueOf(batchSize != null ? batchSize : cfg.batchSize()),
                "--steps", String.valueOf(steps), "--rounds", String.valueOf(rounds)));
        if (threads != null) args.addAll(java.util.List.of("--threads", String.valueOf(threads)));
        // Called, not executed by a nested CommandLine: that one's default handler printed a UserError as a stack trace.
        TrainBenchCommand bench = new TrainBenchCommand();
        new picocli.CommandLine(bench).parseArgs(args.toArray(String[]::new));
        return bench.call();
    }
}
