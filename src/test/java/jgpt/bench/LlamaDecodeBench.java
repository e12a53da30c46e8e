package jgpt.bench;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jgpt.generate.KVCache;
import jgpt.generate.LlamaDecoder;
import jgpt.kernels.Parallel;
import jgpt.model.GPTConfig;
import jgpt.model.Llama;
import jgpt.util.Rng;

/**
 * Decode speed of a 110M Llama shape (llama2.c's stories110M: dim 768, 12 layers, 12 heads, hidden
 * 2048, vocab 32000, tied) with random weights, f32 vs Q8_0, beside the machine's read bandwidth
 * for the roofline (decode reads every weight once per token). Not a unit test:
 *
 * <pre>java --add-modules jdk.incubator.vector -XX:-TieredCompilation -cp target/classes:target/test-classes:... \
 *     jgpt.bench.LlamaDecodeBench [threads] [steps]</pre>
 */
public final class LlamaDecodeBench {
    private static final jdk.incubator.vector.VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    public static void main(String[] args) {
        int threads = args.length > 0 ? Integer.parseInt(args[0]) : Runtime.getRuntime().availableProcessors();
        int steps = args.length > 1 ? Integer.parseInt(args[1]) : 64;
        Parallel.setThreads(threads);
        System.out.printf("threads %d, read bandwidth %.1f GB/s%n", threads, bandwidthGBs());
        GPTConfig cfg = GPTConfig.llama(12, 12, 12, 768, 2048, 256, 32000, true, 10000, 1e-5);
        try (Llama model = new Llama(cfg)) {
            model.initWeights(new Rng(1));
            long linear = 0;
            for (var t : model.layout().tensors()) if (t.shape().length == 2 && t.name().startsWith("layers.")) linear += t.numel();
            long head = (long) cfg.vocabSize() * cfg.nEmbd();
            System.out.printf("params %.1fM; per token reads %.0f MB (f32) / %.0f MB (Q8_0) of weights%n",
                    model.numParams() / 1e6, (linear + head) * 4 / 1e6, (linear + head) * (1 + 4.0 / 32) / 1e6);
            for (boolean q8 : new boolean[] {false, true}) {
                try (LlamaDecoder dec = new LlamaDecoder(model, q8); KVCache cache = dec.newCache()) {
                    for (int round = 0; round < 3; round++) { // the first rounds warm up the JIT
                        cache.reset();
                        dec.prefill(cache, new int[] {1}, 0, 1);
                        long t0 = System.nanoTime();
                        for (int i = 0; i < steps; i++) dec.step(cache, (i * 31) % cfg.vocabSize());
                        double s = (System.nanoTime() - t0) / 1e9;
                        if (round == 2) {
                            System.out.printf("%s: %.1f tokens/s (%.1f ms/token, %d steps)%n", q8 ? "Q8_0" : "f32", steps / s, 1e3 * s / steps, steps);
                        }
                    }
                }
            }
        }
    }

    /** Best of 5 parallel sums over 1 GiB: the read bandwidth decode can hope for. */
    static double bandwidthGBs() {
        long n = (1L << 30) / 4;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment m = arena.allocate(n * 4, 64);
            Parallel.forRange((int) (n / 4096), 16, (s, e) -> {
                for (long i = (long) s * 4096; i < (long) e * 4096; i++) m.setAtIndex(JAVA_FLOAT, i, 1f);
            });
            double best = 0;
            for (int r = 0; r < 5; r++) {
                double[] sums = new double[Parallel.threads() * 4 + 1];
                long t0 = System.nanoTime();
                int chunks = (int) (n / (1 << 16));
                Parallel.forRange(chunks, 1, (s, e) -> {
                    FloatVector acc = FloatVector.zero(S);
                    for (long i = (long) s << 16; i < (long) e << 16; i += S.length()) {
                        acc = acc.add(FloatVector.fromMemorySegment(S, m, i * 4, java.nio.ByteOrder.nativeOrder()));
                    }
                    sums[s % sums.length] += acc.reduceLanes(VectorOperators.ADD);
                });
                double s = (System.nanoTime() - t0) / 1e9;
                best = Math.max(best, n * 4 / s / 1e9);
            }
            return best;
        }
    }
}
