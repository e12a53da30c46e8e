package jgpt.dist;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.concurrent.atomic.AtomicBoolean;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static jgpt.dist.MpiLibrary.MPI_IN_PLACE;
import static jgpt.dist.MpiLibrary.MPI_STATUS_IGNORE;

import jgpt.kernels.Vec;

/**
 * {@link Comm} over MPI_COMM_WORLD of Open MPI, through FFM downcalls. The communicator returns
 * errors instead of killing the job (MPI_ERRORS_RETURN); each becomes an {@link MpiException}
 * naming the function, the rank and MPI's own error text.
 */
final class MpiComm implements Comm {
    private static final AtomicBoolean INITIALIZED = new AtomicBoolean();

    private final MpiLibrary mpi;
    private final AtomicBoolean closed = new AtomicBoolean();
    private final int rank;
    private final int size;

    /** A native call returning an MPI error code; invokeExact throws Throwable. */
    private interface Call {
        int invoke() throws Throwable;
    }

    MpiComm(MpiLibrary mpi) {
        if (!INITIALIZED.compareAndSet(false, true)) {
            throw new IllegalStateException("MPI is already initialized in this process: create one Comm per process");
        }
        this.mpi = mpi;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_INT);
            // Before MPI_Init there is no rank and errors are fatal; -1 marks them in messages.
            check(-1, "MPI_Init_thread", () -> (int) mpi.initThread.invokeExact(
                    MemorySegment.NULL, MemorySegment.NULL, MpiLibrary.MPI_THREAD_MULTIPLE, out));
            int provided = out.get(JAVA_INT, 0);
            check(-1, "MPI_Comm_set_errhandler", () -> (int) mpi.commSetErrhandler.invokeExact(mpi.commWorld, mpi.errorsReturn));
            check(-1, "MPI_Comm_rank", () -> (int) mpi.commRank.invokeExact(mpi.commWorld, out));
            rank = out.get(JAVA_INT, 0);
            check(rank, "MPI_Comm_size", () -> (int) mpi.commSize.invokeExact(mpi.commWorld, out));
            size = out.get(JAVA_INT, 0);
            // DDP/FSDP may issue collectives from a communication thread while compute runs.
            if (provided < MpiLibrary.MPI_THREAD_MULTIPLE) {
                throw new IllegalStateException("rank " + rank + ": this Open MPI provides thread level "
                        + provided + ", not MPI_THREAD_MULTIPLE (3)");
            }
        }
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public void allReduceSum(MemorySegment buf, long offsetFloats, long count) {
        int n = Segments.checkFloats("allReduceSum", buf, offsetFloats, count);
        MemorySegment data = buf.asSlice(offsetFloats * Float.BYTES, count * Float.BYTES);
        check("MPI_Allreduce", () -> (int) mpi.allreduce.invokeExact(
                MPI_IN_PLACE, data, n, mpi.floatType, mpi.opSum, mpi.commWorld));
    }

    @Override
    public Request allReduceSumAsync(MemorySegment buf, long offsetFloats, long count) {
        int n = Segments.checkFloats("allReduceSumAsync", buf, offsetFloats, count);
        MemorySegment data = buf.asSlice(offsetFloats * Float.BYTES, count * Float.BYTES);
        MpiRequest r = new MpiRequest();
        check("MPI_Iallreduce", () -> (int) mpi.iallreduce.invokeExact(
                MPI_IN_PLACE, data, n, mpi.floatType, mpi.opSum, mpi.commWorld, r.handle));
        return r;
    }

    @Override
    public void reduceScatterSum(MemorySegment src, MemorySegment dstShard, long countPerRank) {
        reduceScatterSumAsync(src, dstShard, countPerRank).await();
    }

    /**
     * Pairwise exchange over point-to-point messages rather than MPI_Ireduce_scatter_block: Open
     * MPI's non-blocking one (libnbc) reduces the whole buffer to rank 0 and then scatters it, so
     * rank 0 received and summed all {@code size} blocks (and faulted in a temporary buffer twice
     * the input's size) while the others did nothing: at GPT-2's vocabulary the head's 79 MB a step.
     * Here every rank receives the size-1 blocks of its own shard and sums them itself.
     */
    @Override
    public Request reduceScatterSumAsync(MemorySegment src, MemorySegment dstShard, long countPerRank) {
        int n = Segments.checkReduceScatter(src, dstShard, countPerRank, size);
        return new PairwiseReduceScatter(src, dstShard, n);
    }

    @Override
    public void allGather(MemorySegment srcShard, MemorySegment dst, long countPerRank) {
        MemorySegment send = gatherSource(srcShard, dst, countPerRank);
        int n = (int) countPerRank;
        check("MPI_Allgather", () -> (int) mpi.allgather.invokeExact(
                send, n, mpi.floatType, dst, n, mpi.floatType, mpi.commWorld));
    }

    @Override
    public Request allGatherAsync(MemorySegment srcShard, MemorySegment dst, long countPerRank) {
        MemorySegment send = gatherSource(srcShard, dst, countPerRank);
        int n = (int) countPerRank;
        MpiRequest r = new MpiRequest();
        check("MPI_Iallgather", () -> (int) mpi.iallgather.invokeExact(
                send, n, mpi.floatType, dst, n, mpi.floatType, mpi.commWorld, r.handle));
        return r;
    }

    /** MPI forbids aliasing send and receive buffers: a shard inside dst must be sent as MPI_IN_PLACE. */
    private MemorySegment gatherSource(MemorySegment srcShard, MemorySegment dst, long countPerRank) {
        return Segments.checkAllGatherInPlace(srcShard, dst, countPerRank, size, rank) ? MPI_IN_PLACE : srcShard;
    }

    @Override
    public void broadcast(MemorySegment buf, long count, int root) {
        int n = Segments.checkFloats("broadcast", buf, 0, count);
        check("MPI_Bcast", () -> (int) mpi.bcast.invokeExact(buf, n, mpi.floatType, root, mpi.commWorld));
    }

    @Override
    public double allReduceSum(double value) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocateFrom(JAVA_DOUBLE, value);
            check("MPI_Allreduce", () -> (int) mpi.allreduce.invokeExact(
                    MPI_IN_PLACE, v, 1, mpi.doubleType, mpi.opSum, mpi.commWorld));
            return v.get(JAVA_DOUBLE, 0);
        }
    }

    @Override
    public void barrier() {
        check("MPI_Barrier", () -> (int) mpi.barrier.invokeExact(mpi.commWorld));
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            check(rank, "MPI_Finalize", () -> (int) mpi.finalize.invokeExact());
            scratchArena.close();
        }
    }

    @Override
    public void abort(int code) {
        try {
            int rc = (int) mpi.abort.invokeExact(mpi.commWorld, code);
        } catch (Throwable t) {
            t.printStackTrace();
        }
        // MPI_Abort does not return when it works; the process must end either way.
        Runtime.getRuntime().halt(code);
    }

    /**
     * The point-to-point messages' tag. Open MPI's collectives use negative tags on the same
     * communicator, so they never match these; reduce-scatters between the same two ranks match
     * in the order they were started, which every rank shares.
     */
    private static final int REDUCE_SCATTER_TAG = 0x5253;

    /** Scratch for the blocks of ranks beyond the first peer (more than 2 ranks), reused across calls. */
    private final ArrayDeque<MemorySegment> scratchPool = new ArrayDeque<>();
    private final Arena scratchArena = Arena.ofShared();

    private synchronized MemorySegment takeScratch(long bytes) {
        for (MemorySegment s : scratchPool) {
            if (s.byteSize() >= bytes) {
                scratchPool.remove(s);
                return s;
            }
        }
        return scratchArena.allocate(bytes, 64);
    }

    private synchronized void returnScratch(MemorySegment s) {
        scratchPool.push(s);
    }

    /**
     * Rank r's reduce-scatter: sends block j of src to rank j, receives every peer's block r (the
     * first peer's straight into dstShard, the others' into scratch) and, once all have landed,
     * adds its own block to the first peer's, then the others' in peer order: deterministic on each owner.
     */
    private final class PairwiseReduceScatter implements Request {
        private final MemorySegment src, dst;
        private final int n, peers;
        private final Arena arena = Arena.ofAuto();
        private final MemorySegment handles, flag = arena.allocate(JAVA_INT);
        private MemorySegment scratch;
        private boolean done;

        PairwiseReduceScatter(MemorySegment src, MemorySegment dst, int n) {
            this.src = src;
            this.dst = dst;
            this.n = n;
            this.peers = size - 1;
            this.handles = arena.allocate(ADDRESS, Math.max(1, 2L * peers));
            long bytes = (long) n * Float.BYTES;
            if (peers > 1) scratch = takeScratch((peers - 1) * bytes);
            for (int k = 0; k < peers; k++) {
                int peer = (rank + 1 + k) % size;
                MemorySegment into = k == 0 ? dst : scratch.asSlice((k - 1) * bytes, bytes);
                MemorySegment h = handles.asSlice(ADDRESS.byteSize() * k, ADDRESS.byteSize());
                check("MPI_Irecv", () -> (int) mpi.irecv.invokeExact(into, n, mpi.floatType, peer, REDUCE_SCATTER_TAG, mpi.commWorld, h));
            }
            for (int k = 0; k < peers; k++) {
                int peer = (rank + 1 + k) % size;
                MemorySegment block = src.asSlice(peer * bytes, bytes);
                MemorySegment h = handles.asSlice(ADDRESS.byteSize() * (peers + k), ADDRESS.byteSize());
                check("MPI_Isend", () -> (int) mpi.isend.invokeExact(block, n, mpi.floatType, peer, REDUCE_SCATTER_TAG, mpi.commWorld, h));
            }
            if (peers == 0) finish();
        }

        @Override
        public synchronized void await() {
            if (done) return;
            check("MPI_Waitall", () -> (int) mpi.waitall.invokeExact(2 * peers, handles, MpiLibrary.MPI_STATUSES_IGNORE));
            finish();
        }

        @Override
        public synchronized boolean isDone() {
            if (done) return true;
            check("MPI_Testall", () -> (int) mpi.testall.invokeExact(2 * peers, handles, flag, MpiLibrary.MPI_STATUSES_IGNORE));
            if (flag.get(JAVA_INT, 0) != 0) finish();
            return done;
        }

        private void finish() {
            long bytes = (long) n * Float.BYTES;
            MemorySegment mine = src.asSlice(rank * bytes, bytes);
            // On the calling thread (the segments may be confined to it); fma(x, 1, y) rounds once: x + y.
            if (peers == 0) MemorySegment.copy(mine, 0, dst, 0, bytes);
            else Vec.axpy(1f, mine, 0, dst, 0, n);
            for (int k = 1; k < peers; k++) Vec.axpy(1f, scratch, (long) (k - 1) * n, dst, 0, n);
            if (scratch != null) returnScratch(scratch);
            scratch = null;
            done = true;
        }
    }

    /** A non-blocking collective's MPI_Request, in native memory MPI writes to. */
    private final class MpiRequest implements Request {
        private final Arena arena = Arena.ofAuto();
        final MemorySegment handle = arena.allocate(ADDRESS);
        private final MemorySegment flag = arena.allocate(JAVA_INT);
        private boolean done;

        @Override
        public synchronized void await() {
            if (done) return;
            check("MPI_Wait", () -> (int) mpi.wait.invokeExact(handle, MPI_STATUS_IGNORE));
            done = true;
        }

        @Override
        public synchronized boolean isDone() {
            if (done) return true;
            check("MPI_Test", () -> (int) mpi.test.invokeExact(handle, flag, MPI_STATUS_IGNORE));
            done = flag.get(JAVA_INT, 0) != 0;
            return done;
        }
    }

    private void check(String function, Call call) {
        if (closed.get()) throw new IllegalStateException("rank " + rank + ": " + function + " after close()");
        check(rank, function, call);
    }

    private void check(int rank, String function, Call call) {
        int rc;
        try {
            rc = call.invoke();
        } catch (Throwable t) {
            throw new IllegalStateException("rank " + rank + ": " + function + " could not be called", t);
        }
        if (rc != MpiLibrary.MPI_SUCCESS) throw new MpiException(rank, function, rc, errorString(rc));
    }

    private String errorString(int code) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment text = arena.allocate(MpiLibrary.MPI_MAX_ERROR_STRING);
            MemorySegment len = arena.allocate(JAVA_INT);
            int rc = (int) mpi.errorString.invokeExact(code, text, len);
            return rc == MpiLibrary.MPI_SUCCESS ? text.getString(0) : "unknown MPI error";
        } catch (Throwable t) {
            return "unknown MPI error";
        }
    }
}
