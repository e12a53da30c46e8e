package jgpt.dist;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

/**
 * Run under mpirun by {@link MpirunTest}: every rank checks every collective's result and prints
 * {@code rank R of N: all collectives ok}; a mismatch aborts the job with a non-zero exit.
 * Values are small integers (and halves), so float sums are exact whatever the reduction order.
 * Modes {@code throw} and {@code exit} make rank 1 fail while the others block in a collective.
 */
public final class CommSelfTest {
    private static final long[] SIZES = {1, 7, 1_000_003};

    private final Comm comm;
    private final int rank;
    private final int size;
    private Arena arena = Arena.ofConfined();

    private CommSelfTest(Comm comm) {
        this.comm = comm;
        this.rank = comm.rank();
        this.size = comm.size();
    }

    public static void main(String[] args) {
        String mode = args.length > 0 ? args[0] : "collectives";
        try (Comm comm = Comm.create()) {
            comm.runOrAbort(() -> {
                CommSelfTest t = new CommSelfTest(comm);
                switch (mode) {
                    case "collectives" -> t.collectives();
                    case "throw", "exit" -> t.failOnRank1(mode);
                    default -> throw new IllegalArgumentException("unknown mode " + mode);
                }
            });
        }
    }

    private void collectives() {
        check(comm instanceof MpiComm, "Comm.create() under mpirun gives MpiComm");
        check(size == Integer.parseInt(System.getenv("OMPI_COMM_WORLD_SIZE")), "size matches mpirun's");
        check(rank == Integer.parseInt(System.getenv("OMPI_COMM_WORLD_RANK")), "rank matches mpirun's");
        for (long n : SIZES) {
            arena.close();
            arena = Arena.ofConfined(); // frees the previous size's buffers
            allReduce(n);
            allReduceAsyncOverlapped(n);
            reduceScatter(n);
            reduceScattersInFlight(n);
            allGather(n, false, false);
            allGather(n, true, false);
            allGather(n, false, true);
            broadcast(n);
            ok("size " + n);
        }
        bucketsInFlight();
        completedInDifferentOrders();
        double s = comm.allReduceSum(rank + 0.25);
        check(s == size * (size - 1) / 2.0 + 0.25 * size, "scalar allReduceSum " + s);
        comm.barrier();
        errors();
        comm.barrier();
        System.out.println("rank " + rank + " of " + size + ": all collectives ok");
    }

    /** Element i of rank r's input: sums over ranks stay small exact integers. */
    private static float input(int r, long i) {
        return (r + 1) * (float) (i % 97 + 1);
    }

    private float sumOfInputs(long i) {
        return size * (size + 1) / 2f * (float) (i % 97 + 1);
    }

    private void allReduce(long n) {
        // a bucket in the middle of a larger buffer: the floats around it must not change
        MemorySegment buf = floats(n + 10);
        for (long i = 0; i < n + 10; i++) buf.setAtIndex(JAVA_FLOAT, i, input(rank, i));
        comm.allReduceSum(buf, 5, n);
        for (long i = 0; i < n + 10; i++) {
            float want = i >= 5 && i < 5 + n ? sumOfInputs(i) : input(rank, i);
            expect("allReduceSum n=" + n, buf, i, want);
        }
    }

    private void allReduceAsyncOverlapped(long n) {
        MemorySegment buf = floats(n);
        for (long i = 0; i < n; i++) buf.setAtIndex(JAVA_FLOAT, i, input(rank, i));
        Comm.Request req = comm.allReduceSumAsync(buf, 0, n);
        double acc = overlappedWork(req);
        req.await();
        req.await();
        check(req.isDone(), "isDone after await");
        for (long i = 0; i < n; i++) expect("allReduceSumAsync n=" + n, buf, i, sumOfInputs(i));
        check(acc == expectedWork(), "computation overlapped with allReduceSumAsync");
    }

    /** Stands in for backward: computes while the collective is in flight, polling it to make progress. */
    private static double overlappedWork(Comm.Request req) {
        double acc = 0;
        for (int chunk = 0; chunk < 100; chunk++) {
            for (int i = 0; i < 10_000; i++) acc += i % 3;
            req.isDone();
        }
        return acc;
    }

    private static double expectedWork() {
        return 100 * 9999.0; // i % 3 over 0..9999: 3333 cycles of 0+1+2, then a 0
    }

    private void bucketsInFlight() {
        // DDP: several buckets of one gradient buffer reduced at once, awaited in another order
        long n = 3000;
        MemorySegment grads = floats(n);
        for (long i = 0; i < n; i++) grads.setAtIndex(JAVA_FLOAT, i, input(rank, i));
        Comm.Request a = comm.allReduceSumAsync(grads, 2000, 1000);
        Comm.Request b = comm.allReduceSumAsync(grads, 1000, 1000);
        Comm.Request c = comm.allReduceSumAsync(grads, 0, 1000);
        c.await();
        a.await();
        b.await();
        for (long i = 0; i < n; i++) expect("buckets in flight", grads, i, sumOfInputs(i));
        ok("buckets in flight");
    }

    /**
     * All-reduces and a reduce-scatter in flight together that the ranks complete in opposite
     * orders: an all-reduce's second phase starts when a rank sees its first phase done, which must
     * happen while that rank waits on another request, or both ranks wait on each other forever.
     */
    private void completedInDifferentOrders() {
        long n = 100_003;
        MemorySegment[] bufs = new MemorySegment[3];
        Comm.Request[] reqs = new Comm.Request[4];
        for (int k = 0; k < 3; k++) {
            bufs[k] = floats(n);
            for (long i = 0; i < n; i++) bufs[k].setAtIndex(JAVA_FLOAT, i, input(rank, i) * (k + 1));
            reqs[k] = comm.allReduceSumAsync(bufs[k], 0, n);
        }
        MemorySegment src = floats(n * size), shard = floats(n);
        for (long i = 0; i < n * size; i++) src.setAtIndex(JAVA_FLOAT, i, input(rank, i) * 4);
        reqs[3] = comm.reduceScatterSumAsync(src, shard, n);
        int[] order = rank % 2 == 0 ? new int[] {0, 1, 2, 3} : new int[] {3, 2, 1, 0};
        for (int k : order) reqs[k].await();
        for (int k = 0; k < 3; k++) {
            for (long i = 0; i < n; i++) expect("all-reduce " + k + " completed out of order", bufs[k], i, sumOfInputs(i) * (k + 1));
        }
        for (long j = 0; j < n; j++) expect("reduce-scatter completed out of order", shard, j, sumOfInputs(rank * n + j) * 4);
        ok("completed in different orders");
    }

    private void reduceScatter(long n) {
        MemorySegment src = floats(n * size);
        for (long i = 0; i < n * size; i++) src.setAtIndex(JAVA_FLOAT, i, input(rank, i));
        MemorySegment shard = floats(n);
        comm.reduceScatterSum(src, shard, n);
        for (long j = 0; j < n; j++) expect("reduceScatterSum n=" + n, shard, j, sumOfInputs(rank * n + j));
    }

    /**
     * FSDP's pattern: two async reduce-scatters in flight (units whose backward finished one after
     * the other), polled while computing, awaited oldest first; a third reuses the first's buffers.
     */
    private void reduceScattersInFlight(long n) {
        MemorySegment[] src = new MemorySegment[2], shard = new MemorySegment[2];
        Comm.Request[] req = new Comm.Request[2];
        for (int round = 0; round < 3; round++) {
            int k = round % 2;
            if (req[k] != null) {
                req[k].await();
                checkShard("reduceScatterSumAsync n=" + n + " (round " + (round - 2) + ")", shard[k], n, round - 2);
            }
            if (src[k] == null) {
                src[k] = floats(n * size);
                shard[k] = floats(n);
            }
            for (long i = 0; i < n * size; i++) src[k].setAtIndex(JAVA_FLOAT, i, input(rank, i) * (round + 1));
            shard[k].fill((byte) 0x7f);
            req[k] = comm.reduceScatterSumAsync(src[k], shard[k], n);
            check(overlappedWork(req[k]) == expectedWork(), "computation overlapped with reduceScatterSumAsync");
        }
        for (int round = 1; round < 3; round++) {
            req[round % 2].await();
            req[round % 2].await();
            check(req[round % 2].isDone(), "isDone after await");
            checkShard("reduceScatterSumAsync n=" + n + " (round " + round + ")", shard[round % 2], n, round);
        }
    }

    private void checkShard(String what, MemorySegment shard, long n, int round) {
        for (long j = 0; j < n; j++) expect(what, shard, j, sumOfInputs(rank * n + j) * (round + 1));
    }

    private static float shardValue(int r, long j) {
        return r * 1000 + (float) (j % 1000);
    }

    private void allGather(long n, boolean inPlace, boolean async) {
        String what = "allGather" + (async ? "Async" : "") + (inPlace ? " in place" : "") + " n=" + n;
        MemorySegment full = floats(n * size);
        full.fill((byte) 0x7f);
        // in place, the shard is this rank's own block of the full buffer (FSDP's layout)
        MemorySegment shard = inPlace ? full.asSlice(rank * n * Float.BYTES, n * Float.BYTES) : floats(n);
        for (long j = 0; j < n; j++) shard.setAtIndex(JAVA_FLOAT, j, shardValue(rank, j));
        if (async) {
            Comm.Request req = comm.allGatherAsync(shard, full, n);
            double acc = overlappedWork(req);
            req.await();
            check(acc == expectedWork(), "computation overlapped with " + what);
        } else {
            comm.allGather(shard, full, n);
        }
        for (int r = 0; r < size; r++) {
            for (long j = 0; j < n; j++) expect(what, full, r * n + j, shardValue(r, j));
        }
    }

    private void broadcast(long n) {
        int root = size - 1;
        MemorySegment buf = floats(n);
        for (long i = 0; i < n; i++) buf.setAtIndex(JAVA_FLOAT, i, rank == root ? i % 89 + 0.5f : -1);
        comm.broadcast(buf, n, root);
        for (long i = 0; i < n; i++) expect("broadcast n=" + n, buf, i, i % 89 + 0.5f);
    }

    private void errors() {
        try {
            comm.broadcast(floats(1), 1, size);
            check(false, "broadcast from a root outside the world must fail");
        } catch (MpiException e) {
            check(e.rank() == rank && e.getMessage().contains("rank " + rank + ": MPI_Bcast failed"),
                    "MpiException names rank and function: " + e.getMessage());
            ok("MPI error returned: " + e.getMessage());
        }
        try {
            comm.allReduceSum(MemorySegment.ofArray(new float[4]), 0, 4);
            check(false, "heap segments must be refused");
        } catch (IllegalArgumentException e) {
            ok("heap segment refused");
        }
    }

    private void failOnRank1(String mode) {
        MemorySegment buf = floats(7);
        comm.allReduceSum(buf, 0, 7);
        comm.barrier();
        if (rank == 1) {
            System.out.println("rank 1: failing on purpose (" + mode + ")");
            System.out.flush();
            if (mode.equals("exit")) System.exit(3);
            throw new IllegalStateException("injected failure");
        }
        comm.allReduceSum(buf, 0, 7); // blocks: rank 1 never joins
        System.out.println("rank " + rank + ": unexpectedly finished");
    }

    private MemorySegment floats(long n) {
        return arena.allocate(n * Float.BYTES, 64);
    }

    private void expect(String what, MemorySegment seg, long i, float want) {
        float got = seg.getAtIndex(JAVA_FLOAT, i);
        if (got != want) {
            throw new AssertionError("rank " + rank + ": " + what + ": element " + i + " is " + got + ", want " + want);
        }
    }

    private void check(boolean cond, String what) {
        if (!cond) throw new AssertionError("rank " + rank + ": " + what);
    }

    private void ok(String what) {
        System.out.println("rank " + rank + ": ok " + what);
    }
}
