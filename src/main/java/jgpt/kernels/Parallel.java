package jgpt.kernels;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.RecursiveAction;

/**
 * Splits index ranges over a fixed pool of worker threads. Work is cut into contiguous chunks at
 * fixed boundaries that depend only on the range and the thread count, and no chunk ever sums into
 * memory another chunk writes, so results are bit-identical from run to run.
 */
public final class Parallel {
    /** A body that handles indices [start, end). */
    @FunctionalInterface
    public interface Range {
        void run(int start, int end);
    }

    private static volatile ForkJoinPool pool = newPool(Runtime.getRuntime().availableProcessors());
    private static volatile int threads = Runtime.getRuntime().availableProcessors();

    private Parallel() {}

    private static ForkJoinPool newPool(int n) {
        return new ForkJoinPool(Math.max(1, n));
    }

    /** Sets the number of worker threads (the CLI's --threads). */
    public static synchronized void setThreads(int n) {
        if (n < 1) throw new IllegalArgumentException("threads must be >= 1, got " + n);
        if (n == threads) return;
        ForkJoinPool old = pool;
        pool = newPool(n);
        threads = n;
        old.shutdown();
    }

    public static int threads() {
        return threads;
    }

    /**
     * Runs body over [0, n) in about {@code 4 * threads} chunks of at least {@code grain} indices.
     * Runs inline when one chunk suffices.
     */
    public static void forRange(int n, int grain, Range body) {
        if (n <= 0) return;
        int t = threads;
        int chunks = Math.min(t == 1 ? 1 : 4 * t, Math.max(1, n / Math.max(1, grain)));
        if (chunks <= 1) {
            body.run(0, n);
            return;
        }
        pool.invoke(new Chunks(body, n, chunks, 0, chunks));
    }

    private static final class Chunks extends RecursiveAction {
        private final Range body;
        private final int n, chunks, lo, hi;

        Chunks(Range body, int n, int chunks, int lo, int hi) {
            this.body = body;
            this.n = n;
            this.chunks = chunks;
            this.lo = lo;
            this.hi = hi;
        }

        @Override
        protected void compute() {
            if (hi - lo == 1) {
                int start = (int) ((long) n * lo / chunks);
                int end = (int) ((long) n * (lo + 1) / chunks);
                body.run(start, end);
                return;
            }
            int mid = (lo + hi) >>> 1;
            invokeAll(new Chunks(body, n, chunks, lo, mid), new Chunks(body, n, chunks, mid, hi));
        }
    }
}
