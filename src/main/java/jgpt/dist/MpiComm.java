package jgpt.dist;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicBoolean;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static jgpt.dist.MpiLibrary.MPI_IN_PLACE;
import static jgpt.dist.MpiLibrary.MPI_STATUS_IGNORE;

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
    private final Pairwise pairwise;

    /** A native call returning an MPI error code; invokeExact throws Throwable. */
    interface Call {
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
        pairwise = new Pairwise(mpi, this);
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

    /** Pairwise exchange rather than MPI_Iallreduce: see {@link Pairwise}. */
    @Override
    public Request allReduceSumAsync(MemorySegment buf, long offsetFloats, long count) {
        Segments.checkFloats("allReduceSumAsync", buf, offsetFloats, count);
        return pairwise.allReduce(buf, offsetFloats, count);
    }

    @Override
    public void reduceScatterSum(MemorySegment src, MemorySegment dstShard, long countPerRank) {
        reduceScatterSumAsync(src, dstShard, countPerRank).await();
    }

    /** Pairwise exchange rather than MPI_Ireduce_scatter_block: see {@link Pairwise}. */
    @Override
    public Request reduceScatterSumAsync(MemorySegment src, MemorySegment dstShard, long countPerRank) {
        Segments.checkReduceScatter(src, dstShard, countPerRank, size);
        return pairwise.reduceScatter(src, dstShard, countPerRank);
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
            pairwise.close();
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

    void check(String function, Call call) {
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
