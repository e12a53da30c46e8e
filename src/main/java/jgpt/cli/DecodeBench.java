package jgpt.cli;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.io.PrintWriter;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.Callable;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import jgpt.generate.KVCache;
import jgpt.generate.LlamaDecoder;
import jgpt.kernels.Parallel;
import jgpt.kernels.Q8Tensor;
import jgpt.kernels.Vec;
import jgpt.model.GPTConfig;
import jgpt.model.Llama;
import jgpt.util.Rng;
import jgpt.util.UserError;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code jgpt bench decode}: single-stream KV-cache decode of a Llama shape (by default llama2.c's
 * stories110M: dim 768, 12 layers, 12 heads, hidden 2048, vocab 32000, tied; random weights), f32
 * and Q8_0, against the memory-bandwidth roofline measured in the same run. A decode step reads
 * every linear weight and the LM head once, so tokens/s can be at most bandwidth / weight bytes.
 */
@Command(name = "decode", mixinStandardHelpOptions = true,
        description = "Decode tokens/s of a Llama shape, f32 and Q8_0, against the machine's read-bandwidth roofline.")
final class DecodeBench implements Callable<Integer> {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    @Option(names = "--layers", defaultValue = "12") int layers;
    @Option(names = "--dim", defaultValue = "768") int dim;
    @Option(names = "--heads", defaultValue = "12") int heads;
    @Option(names = "--kv-heads", description = "Key/value heads (default: --heads).") Integer kvHeads;
    @Option(names = "--hidden", defaultValue = "2048", description = "SwiGLU hidden size (default ${DEFAULT-VALUE}).") int hidden;
    @Option(names = "--vocab", defaultValue = "32000") int vocab;

    @Option(names = "--steps", defaultValue = "128", description = "Decode steps per round, positions 1..steps (default ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--rounds", defaultValue = "5", description = "Timed rounds after a warm-up round; the best and the median are reported (default ${DEFAULT-VALUE}).")
    int rounds;

    @Option(names = "--segment", defaultValue = "16",
            description = "Decode steps between two bandwidth sweeps: each round is compared with the bandwidth measured in the same seconds (default ${DEFAULT-VALUE}).")
    int segment;

    @Option(names = "--threads", description = "Worker threads (default: available processors).")
    Integer threads;

    @Option(names = "--probe-mib", defaultValue = "1024", description = "Bandwidth probe size in MiB, far above the caches (default ${DEFAULT-VALUE}).")
    int probeMib;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        if (steps < 1 || rounds < 1 || segment < 1) throw new UserError("--steps, --rounds and --segment must be >= 1");
        if (probeMib < 1) throw new UserError("--probe-mib must be >= 1, got " + probeMib);
        PrintWriter out = spec.commandLine().getOut();
        if (threads != null) {
            if (threads < 1) throw new UserError("--threads must be >= 1, got " + threads);
            Parallel.setThreads(threads);
        }
        int kv = kvHeads != null ? kvHeads : heads;
        GPTConfig cfg = GPTConfig.llama(layers, heads, kv, dim, hidden, steps + 1, vocab, true, 10000, 1e-5);
        try (Llama model = new Llama(cfg); BandwidthProbe probe = new BandwidthProbe((long) probeMib << 20)) {
            model.initWeights(new Rng(1));
            long weights = 0;
            for (LlamaDecoder.Weight w : LlamaDecoder.weights(cfg)) weights += (long) w.rows() * w.cols();
            double f32Bytes = weights * 4.0, q8Bytes = weights * (1 + 4.0 / Q8Tensor.BLOCK);
            out.printf(Locale.ROOT, "jgpt bench decode: Llama %d layers, dim %d, %d/%d heads, hidden %d, vocab %d (%.1fM params); %d threads%n",
                    layers, dim, heads, kv, hidden, vocab, model.numParams() / 1e6, Parallel.threads());
            Rounds f32 = decode(model, false, f32Bytes, probe), q8 = decode(model, true, q8Bytes, probe);
            double gbs = probe.bestGBs();
            out.printf(Locale.ROOT, "read bandwidth: %.1f GB/s, the best of %d sweeps over %d MiB (one before each round and one after every %d decode steps)%n",
                    gbs, probe.sweeps(), probeMib, segment);
            out.printf(Locale.ROOT, "decode from position 1, %d steps a round, %d rounds; best (median):%n", steps, rounds);
            for (boolean isQ8 : new boolean[] {false, true}) {
                Rounds r = isQ8 ? q8 : f32;
                double bytes = isQ8 ? q8Bytes : f32Bytes, roof = gbs * 1e9 / bytes;
                out.printf(Locale.ROOT, "%-5s %6.1f (%.1f) tokens/s, %.1f ms/token; reads %.2f MB/token; roofline %.1f tokens/s at the best sweep: %.0f%% (%.0f%%);"
                                + " against the mean sweep during each round: %.0f%% (%.0f%%)%s%n",
                        isQ8 ? "Q8_0" : "f32", r.best(), r.median(), 1e3 / r.best(), bytes / 1e6, roof, 100 * r.best() / roof, 100 * r.median() / roof,
                        100 * r.bestFraction(), 100 * r.medianFraction(),
                        isQ8 ? String.format(Locale.ROOT, "; %.2fx (%.2fx) f32", r.best() / f32.best(), r.median() / f32.median()) : "");
            }
        }
        out.flush();
        return 0;
    }

    /**
     * Per timed round: decode tokens/s, and the fraction of the read bandwidth it used: the round's
     * decode bandwidth (weight bytes over decode time) against the mean of the sweeps taken between
     * its segments of {@link #segment} steps. This machine's bandwidth drifts by 10-40% within
     * minutes (a 1 GiB sweep measured 16 GB/s in one hour and 11 the next), so a round is best
     * compared with the memory it actually had, measured in the same seconds.
     */
    record Rounds(double[] tps, double[] fraction) {
        double best() { return max(tps); }
        double median() { return median(tps); }
        double bestFraction() { return max(fraction); }
        double medianFraction() { return median(fraction); }

        private static double max(double[] v) {
            return Arrays.stream(v).max().orElseThrow();
        }

        private static double median(double[] v) {
            double[] c = v.clone();
            Arrays.sort(c);
            return c[c.length / 2];
        }
    }

    /**
     * Decode rounds from position 1 on, the first one untimed (it warms the JIT), with a sweep
     * before the first segment and after every segment; tokens/s counts decode time only.
     */
    private Rounds decode(Llama model, boolean q8, double bytesPerToken, BandwidthProbe probe) {
        int vocabSize = model.config().vocabSize();
        try (LlamaDecoder dec = new LlamaDecoder(model, q8); KVCache cache = dec.newCache()) {
            double[] tps = new double[rounds], fraction = new double[rounds];
            for (int round = -1; round < rounds; round++) {
                cache.reset();
                dec.prefill(cache, new int[] {1}, 0, 1);
                double sweptGBs = probe.sweep();
                int sweeps = 1;
                long decodeNanos = 0;
                for (int i = 0; i < steps; ) {
                    int end = Math.min(steps, i + segment);
                    long t0 = System.nanoTime();
                    for (; i < end; i++) dec.step(cache, (i * 31) % vocabSize);
                    decodeNanos += System.nanoTime() - t0;
                    sweptGBs += probe.sweep();
                    sweeps++;
                }
                if (round < 0) continue;
                tps[round] = steps / (decodeNanos / 1e9);
                fraction[round] = tps[round] * bytesPerToken / (sweptGBs / sweeps * 1e9);
            }
            return new Rounds(tps, fraction);
        }
    }

    /**
     * Read bandwidth over 1 GiB by default (much larger than any cache): parallel vector sums, written for
     * speed (a plain counted loop per 256 KiB chunk, two accumulators; {@code i + L <= n} loop
     * conditions, as in Vec.sum, streamed a third slower here, and the same loop with its trip
     * count a variable instead of this compile-time constant 15-20% slower). Allocated once and
     * swept before each round and after every decode segment; each round is compared with the
     * mean of its sweeps, and the best sweep of the whole run is reported too.
     */
    private static final class BandwidthProbe implements AutoCloseable {
        private static final long CHUNK = 1 << 16;
        private final long N;
        private final Arena arena = Arena.ofShared();
        private final MemorySegment m;
        private final float[] sink;
        private double best;
        private int sweeps;

        BandwidthProbe(long bytes) {
            N = Math.max(CHUNK, bytes / 4 / CHUNK * CHUNK);
            m = arena.allocate(N * 4, 64);
            sink = new float[(int) (N / CHUNK)];
            Parallel.forRange((int) (N / CHUNK), 1, (s, e) -> {
                for (long i = s * CHUNK; i < e * CHUNK; i++) m.setAtIndex(JAVA_FLOAT, i, 1f);
            });
            sweep(); // untimed: lets the JIT compile the loop
            best = 0;
            sweeps = 0;
        }

        /** One sweep; returns its GB/s. */
        double sweep() {
            long t0 = System.nanoTime();
            Parallel.forRange(sink.length, 1, (s, e) -> {
                int step = S.vectorByteSize();
                for (int c = s; c < e; c++) {
                    FloatVector a0 = FloatVector.zero(S), a1 = a0;
                    long base = c * CHUNK * 4;
                    for (int i = 0; i < CHUNK * 4; i += 2 * step) {
                        a0 = a0.add(FloatVector.fromMemorySegment(S, m, base + i, ByteOrder.nativeOrder()));
                        a1 = a1.add(FloatVector.fromMemorySegment(S, m, base + i + step, ByteOrder.nativeOrder()));
                    }
                    sink[c] = Vec.sum(a0.add(a1));
                }
            });
            double sec = (System.nanoTime() - t0) / 1e9;
            if (sink[0] != CHUNK) throw new IllegalStateException("bandwidth probe summed " + sink[0] + ", expected " + CHUNK);
            double gbs = N * 4 / sec / 1e9;
            best = Math.max(best, gbs);
            sweeps++;
            return gbs;
        }

        double bestGBs() {
            return best;
        }

        int sweeps() {
            return sweeps;
        }

        @Override
        public void close() {
            arena.close();
        }
    }
}
