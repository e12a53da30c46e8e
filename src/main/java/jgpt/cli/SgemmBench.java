package jgpt.cli;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.Callable;
import jgpt.kernels.Matmul;
import jgpt.kernels.Parallel;
import jgpt.util.Rng;
import jgpt.util.UserError;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code jgpt bench sgemm}: GFLOPS of jgpt's fp32 GEMM on square matrices, best of N. A warm-up
 * checks a few results against double-precision dot products and that the speed is plausible: a
 * micro-kernel the JIT failed to compile runs at about 1 GFLOPS (see docs/BENCHMARKS.md).
 */
@Command(name = "sgemm", mixinStandardHelpOptions = true,
        description = "GFLOPS of C = A·B, fp32, size x size x size.")
final class SgemmBench implements Callable<Integer> {
    /** Far below any compiled kernel here, far above an interpreted one. */
    private static final double MIN_PLAUSIBLE_GFLOPS = 10;

    @Option(names = "--size", defaultValue = "2048", description = "M = N = K (default ${DEFAULT-VALUE}).")
    int size;

    @Option(names = "--threads", description = "Worker threads (default: available processors).")
    Integer threads;

    @Option(names = "--repeats", defaultValue = "7", description = "Timed runs; the best is reported (default ${DEFAULT-VALUE}).")
    int repeats;

    @Override
    public Integer call() {
        if (size < 1) throw new UserError("--size must be >= 1");
        if (repeats < 1) throw new UserError("--repeats must be >= 1");
        if (threads != null) {
            if (threads < 1) throw new UserError("--threads must be >= 1");
            Parallel.setThreads(threads);
        }
        Result r = measure(size, repeats, 3_000_000_000L);
        if (r.warmGflops() < MIN_PLAUSIBLE_GFLOPS) {
            System.err.printf("jgpt: sgemm self-check failed: %.1f GFLOPS after warm-up; the micro-kernel was"
                    + " probably not JIT-compiled (try JGPT_JAVA_OPTS=-XX:-TieredCompilation)%n", r.warmGflops());
            return 1;
        }
        System.out.printf("jgpt sgemm %dx%dx%d fp32 threads=%d best of %d: %.1f GFLOPS%n",
                size, size, size, Parallel.threads(), repeats, r.bestGflops());
        return 0;
    }

    /** Best GFLOPS of the warm-up and of the timed runs. */
    record Result(double warmGflops, double bestGflops) {}

    /**
     * C = A·B at n³ on the current worker pool: warm-up (at least 3 calls and {@code warmupNanos}),
     * a result check, then {@code repeats} timed calls.
     */
    static Result measure(int n, int repeats, long warmupNanos) {
        long nn = (long) n * n;
        double flop = 2.0 * n * n * n;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment a = arena.allocate(nn * 4, 64), b = arena.allocate(nn * 4, 64), c = arena.allocate(nn * 4, 64);
            Rng rng = new Rng(42);
            for (long i = 0; i < nn; i++) {
                a.setAtIndex(JAVA_FLOAT, i, (float) rng.nextGaussian());
                b.setAtIndex(JAVA_FLOAT, i, (float) rng.nextGaussian());
            }
            // Warm-up: enough calls for C2 to compile the micro-kernel, then the self-checks.
            long warmEnd = System.nanoTime() + warmupNanos;
            double warm = 0;
            for (int i = 0; i < 3 || System.nanoTime() < warmEnd; i++) warm = Math.max(warm, flop / time(a, b, c, n));
            checkResult(a, b, c, n);
            double best = 0;
            for (int r = 0; r < repeats; r++) best = Math.max(best, flop / time(a, b, c, n));
            return new Result(warm, best);
        }
    }

    /** Nanoseconds of one C = A·B (so flop / ns = GFLOPS). */
    private static long time(MemorySegment a, MemorySegment b, MemorySegment c, int n) {
        long t0 = System.nanoTime();
        Matmul.gemm(a, 0, n, 1, b, 0, n, 1, c, 0, n, n, n, n, false);
        return System.nanoTime() - t0;
    }

    /** A handful of entries against double-precision dot products (fp32 error grows like √n). */
    private static void checkResult(MemorySegment a, MemorySegment b, MemorySegment c, int n) {
        Rng rng = new Rng(7);
        for (int s = 0; s < 16; s++) {
            int i = rng.nextInt(n), j = rng.nextInt(n);
            double ref = 0;
            for (int k = 0; k < n; k++) ref += (double) a.getAtIndex(JAVA_FLOAT, (long) i * n + k) * b.getAtIndex(JAVA_FLOAT, (long) k * n + j);
            double got = c.getAtIndex(JAVA_FLOAT, (long) i * n + j);
            if (Math.abs(got - ref) > 1e-4 * n + 1e-3) {
                throw new IllegalStateException("sgemm self-check: C[" + i + "," + j + "] = " + got + ", expected " + ref);
            }
        }
    }
}
