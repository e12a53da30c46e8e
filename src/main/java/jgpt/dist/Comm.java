package jgpt.dist;

import jgpt.util.UserError;

import java.lang.foreign.MemorySegment;

/**
 * Collective communication among the ranks of one training job, on off-heap float buffers.
 * Counts and offsets are in floats; segments must be native (MPI reads and writes them directly),
 * and a segment handed to an async call must stay alive and untouched until {@link Request#await}.
 * Every rank must call the same collectives in the same order with the same counts. Any platform
 * thread may call (MPI_THREAD_MULTIPLE), e.g. a communication thread beside the compute threads,
 * but collectives must still be issued in that one order, so from one thread at a time.
 */
public interface Comm extends AutoCloseable {

    /** An in-flight non-blocking collective. */
    interface Request {
        /** Blocks until the collective has completed on this rank; calling it again is a no-op. */
        void await();

        /**
         * Whether it has completed, without blocking. Open MPI advances non-blocking collectives
         * only inside MPI calls, so polling this between chunks of computation keeps them moving.
         */
        boolean isDone();
    }

    int rank();

    int size();

    /** Sums {@code count} floats at {@code offsetFloats} of {@code buf} over all ranks, in place. */
    void allReduceSum(MemorySegment buf, long offsetFloats, long count);

    /** Non-blocking {@link #allReduceSum(MemorySegment, long, long)}: DDP overlaps it with backward. */
    Request allReduceSumAsync(MemorySegment buf, long offsetFloats, long count);

    /**
     * Sums {@code src} ({@code countPerRank * size()} floats) over all ranks and leaves this rank's
     * block of the sum, {@code [rank * countPerRank, (rank + 1) * countPerRank)}, in {@code dstShard}.
     */
    void reduceScatterSum(MemorySegment src, MemorySegment dstShard, long countPerRank);

    /** Non-blocking {@link #reduceScatterSum}: FSDP and ZeRO-2 overlap it with the rest of backward. */
    Request reduceScatterSumAsync(MemorySegment src, MemorySegment dstShard, long countPerRank);

    /**
     * Concatenates every rank's {@code srcShard} ({@code countPerRank} floats) into {@code dst} in
     * rank order. {@code srcShard} may be this rank's own block of {@code dst} (in place).
     */
    void allGather(MemorySegment srcShard, MemorySegment dst, long countPerRank);

    /** Non-blocking {@link #allGather}: FSDP prefetches the next block's parameters with it. */
    Request allGatherAsync(MemorySegment srcShard, MemorySegment dst, long countPerRank);

    /** Copies the first {@code count} floats of {@code buf} on rank {@code root} to every rank. */
    void broadcast(MemorySegment buf, long count, int root);

    /** Sum of {@code value} over all ranks (loss, token counts, squared grad norms). */
    double allReduceSum(double value);

    void barrier();

    /** Finalizes the communication layer; no collective may follow. */
    @Override
    void close();

    /** Ends the whole job with {@code code} at once, this rank and all others. Does not return. */
    void abort(int code);

    /**
     * Runs one rank's work. With peers, a failure here would leave them blocked in their next
     * collective forever, so it prints {@code rank N: error: ...} and aborts the whole job;
     * alone, the exception propagates as usual.
     */
    default void runOrAbort(Runnable work) {
        try {
            work.run();
        } catch (RuntimeException | Error e) {
            if (size() == 1) throw e;
            System.out.flush();
            System.err.println("rank " + rank() + ": error: " + e);
            if (!(e instanceof UserError)) e.printStackTrace();
            System.err.flush();
            abort(1);
        }
    }

    /**
     * The world communicator: MPI when launched by mpirun, else a single local rank.
     * Call once per process (MPI cannot be initialized twice).
     */
    static Comm create() {
        // mpirun sets OMPI_COMM_WORLD_SIZE; a PMIx launcher such as Slurm's `srun --mpi=pmix`
        // sets PMIX_RANK instead (Open MPI's MPI_Init then joins through PMIx).
        String worldSize = System.getenv("OMPI_COMM_WORLD_SIZE");
        if (worldSize == null && System.getenv("PMIX_RANK") != null) worldSize = "(PMIx)";
        if (worldSize == null) return new LocalComm();
        MpiLibrary mpi;
        try {
            mpi = MpiLibrary.load();
        } catch (IllegalArgumentException | UnsatisfiedLinkError e) {
            throw new UserError("launched by mpirun (OMPI_COMM_WORLD_SIZE=" + worldSize + ") but "
                    + MpiLibrary.SONAME + " cannot be loaded: install Open MPI's runtime "
                    + "(apt-get install openmpi-bin)", e);
        }
        return new MpiComm(mpi);
    }
}
