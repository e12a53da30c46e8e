package jgpt.kernels;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Splits index ranges over a fixed set of worker threads. Work is cut into contiguous chunks at
 * fixed boundaries that depend only on the range and the thread count, and no chunk ever sums into
 * memory another chunk writes, so results are bit-identical from run to run whichever thread runs
 * which chunk.
 * <p>
 * The pool is ours rather than a ForkJoinPool because of latency: a decode step or a small
 * training step makes hundreds of parallel calls of 10-100 µs each, and waking parked ForkJoin
 * workers cost ~100 µs per call (a 768x768 matvec took 160 µs on 2 threads, 63 µs on one).
 * Here the calling thread takes chunks too, and idle workers spin for {@link #SPIN_NANOS}
 * before parking, so back-to-back calls find them awake.
 */
public final class Parallel {
    /** A body that handles indices [start, end). */
    @FunctionalInterface
    public interface Range {
        void run(int start, int end);
    }

    /** How long an idle worker polls for the next call before it parks. */
    private static final long SPIN_NANOS = 200_000;

    /** True on pool workers and on a caller while it runs a call's chunks: nested calls run serially. */
    private static final ThreadLocal<boolean[]> INSIDE = ThreadLocal.withInitial(() -> new boolean[1]);

    private static volatile Pool pool = new Pool(Runtime.getRuntime().availableProcessors());

    private Parallel() {}

    /** Sets the number of threads, the caller included (the CLI's --threads). */
    public static synchronized void setThreads(int n) {
        if (n < 1) throw new IllegalArgumentException("threads must be >= 1, got " + n);
        if (n == pool.threads) return;
        Pool old = pool;
        pool = new Pool(n);
        old.shutdown();
    }

    public static int threads() {
        return pool.threads;
    }

    /**
     * Runs body over [0, n) in about {@code 4 * threads} chunks of at least {@code grain} indices.
     * Runs inline when one chunk suffices; a call made from inside another call's body, or while
     * another thread's call is running, runs its chunks one after another on the calling thread.
     */
    public static void forRange(int n, int grain, Range body) {
        if (n <= 0) return;
        int t = pool.threads;
        run(n, Math.min(t == 1 ? 1 : 4 * t, Math.max(1, n / Math.max(1, grain))), body);
    }

    /**
     * Runs body over [0, n) with every index a chunk of its own, claimed in increasing order by
     * whichever thread is free (in order on the caller with one thread or inside another call):
     * for a few pieces of heavy work (GEMM's row blocks) where balancing one piece at a time beats
     * cutting the range into as many parts as threads. On this VM one core often runs 10-20%
     * slower than the other for seconds at a time.
     */
    public static void forEach(int n, Range body) {
        if (n <= 0) return;
        run(n, pool.threads == 1 ? 1 : n, body);
    }

    private static void run(int n, int chunks, Range body) {
        Pool p = pool;
        if (chunks <= 1) {
            body.run(0, n);
            return;
        }
        boolean[] inside = INSIDE.get();
        if (inside[0] || !p.lock.tryLock()) {
            for (int c = 0; c < chunks; c++) body.run(start(n, chunks, c), start(n, chunks, c + 1));
            return;
        }
        inside[0] = true;
        try {
            p.run(new Job(body, n, chunks));
        } finally {
            inside[0] = false;
            p.lock.unlock();
        }
    }

    private static int start(int n, int chunks, int c) {
        return (int) ((long) n * c / chunks);
    }

    /** One call: chunks are claimed through {@code next}; the caller waits for {@code done}. */
    private static final class Job {
        final Range body;
        final int n, chunks;
        final AtomicInteger next = new AtomicInteger(), done = new AtomicInteger();
        volatile Throwable error;

        Job(Range body, int n, int chunks) {
            this.body = body;
            this.n = n;
            this.chunks = chunks;
        }

        void work() {
            int c;
            while ((c = next.getAndIncrement()) < chunks) {
                try {
                    body.run(start(n, chunks, c), start(n, chunks, c + 1));
                } catch (Throwable e) {
                    error = e;
                } finally {
                    done.incrementAndGet();
                }
            }
        }
    }

    private static final class Pool {
        final int threads;
        final ReentrantLock lock = new ReentrantLock();
        final Thread[] workers;
        volatile Job job;
        volatile boolean shutdown;

        Pool(int threads) {
            this.threads = Math.max(1, threads);
            workers = new Thread[this.threads - 1];
            for (int i = 0; i < workers.length; i++) {
                workers[i] = Thread.ofPlatform().daemon().name("jgpt-worker-" + (i + 1)).unstarted(this::loop);
                workers[i].start();
            }
        }

        void run(Job j) {
            job = j;
            for (Thread w : workers) LockSupport.unpark(w);
            j.work();
            for (int spins = 0; j.done.get() < j.chunks; spins++) {
                if (spins < 1 << 14) Thread.onSpinWait();
                else Thread.yield(); // a long chunk on a worker: leave the core to others
            }
            job = null;
            Throwable e = j.error;
            if (e instanceof RuntimeException r) throw r;
            if (e instanceof Error r) throw r;
            if (e != null) throw new IllegalStateException(e);
        }

        private void loop() {
            INSIDE.get()[0] = true;
            Job last = null;
            long idleSince = System.nanoTime();
            while (!shutdown) {
                Job j = job;
                if (j != null && j != last) {
                    last = j;
                    j.work();
                    idleSince = System.nanoTime();
                } else if (System.nanoTime() - idleSince < SPIN_NANOS) {
                    Thread.onSpinWait();
                } else {
                    LockSupport.park(this);
                    idleSince = System.nanoTime();
                }
            }
        }

        void shutdown() {
            shutdown = true;
            for (Thread w : workers) LockSupport.unpark(w);
        }
    }
}
