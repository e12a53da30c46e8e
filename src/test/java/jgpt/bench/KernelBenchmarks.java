package jgpt.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.TimeUnit;
import jgpt.kernels.Attention;
import jgpt.kernels.Gelu;
import jgpt.kernels.LayerNorm;
import jgpt.kernels.Matmul;
import jgpt.kernels.Parallel;
import jgpt.kernels.Vec;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.OptionsBuilder;

/**
 * JMH microbenchmarks of the training kernels at the demo model's shapes (B·T = 1024 rows,
 * C = 128) and a 512³ GEMM, on {@code threads} worker threads. Run (after {@code mvn test-compile}):
 * <pre>
 *   java -cp target/test-classes:target/classes:$(cat cp.txt) jgpt.bench.KernelBenchmarks [JMH options]
 * </pre>
 * where cp.txt is {@code mvn dependency:build-classpath -Dmdep.outputFile=cp.txt}. The forked JVMs
 * get the launcher's flags. Results in docs/BENCHMARKS.md ("Kernel microbenchmarks").
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-XX:+UseParallelGC",
        "-XX:-TieredCompilation", "-XX:-UseProfiledLoopPredicate"})
public class KernelBenchmarks {
    @Param({"1", "2"})
    int threads;

    static final int N = 1024, C = 128, NH = 4, B = 8, T = 128, G = 512;
    private Arena arena;
    private MemorySegment x, w, b, out, mean, rstd, wide, wideOut, qkv, att, attOut, ga, gb, gc, vec, row;

    @Setup(Level.Trial)
    public void setup() {
        Parallel.setThreads(threads);
        arena = Arena.ofShared();
        x = rand(N * C); w = rand(C); b = rand(C); out = rand(N * C); mean = rand(N); rstd = rand(N);
        wide = rand(N * 4 * C); wideOut = rand(N * 4 * C);
        qkv = rand(B * T * 3 * C); att = rand((long) B * NH * T * T); attOut = rand(B * T * C);
        ga = rand(G * G); gb = rand(G * G); gc = rand(G * G);
        vec = rand(4 * C * 4 * C); row = rand(4 * C);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    private MemorySegment rand(long n) {
        MemorySegment m = arena.allocate(n * 4, 64);
        long s = 0x9E3779B97F4A7C15L;
        for (long i = 0; i < n; i++) {
            s = s * 6364136223846793005L + 1442695040888963407L;
            m.setAtIndex(ValueLayout.JAVA_FLOAT, i, ((s >>> 40) / (float) (1 << 24)) - 0.5f);
        }
        return m;
    }

    /** C = A·B, 512³ (268 MFLOP). */
    @Benchmark
    public void sgemm512() {
        Matmul.gemm(ga, 0, G, 1, gb, 0, G, 1, gc, 0, G, G, G, G, false);
    }

    /** out[512] = W[512, 512] · x: a decode-step matrix-vector product. */
    @Benchmark
    public void matvec512() {
        Matmul.matvec(row, 0, x, 0, vec, null, 4 * C, 4 * C);
    }

    @Benchmark
    public void layerNormForward() {
        LayerNorm.forward(out, mean, rstd, x, w, b, N, C);
    }

    @Benchmark
    public void geluForward() {
        Gelu.forward(wideOut, wide, (long) N * 4 * C);
    }

    @Benchmark
    public void expShifted() {
        Vec.expShifted(wide, 0, 0.5f, wideOut, 0, N * 4 * C);
    }

    /** Causal attention forward, B = 8, T = 128, 4 heads of 32. */
    @Benchmark
    public void attentionForward() {
        Attention.forward(attOut, att, qkv, B, T, C, NH);
    }

    public static void main(String[] args) throws Exception {
        var opts = new OptionsBuilder().include(KernelBenchmarks.class.getSimpleName());
        if (args.length > 0) opts.parent(new org.openjdk.jmh.runner.options.CommandLineOptions(args));
        new Runner(opts.build()).run();
    }
}
