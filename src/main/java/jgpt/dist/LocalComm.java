package jgpt.dist;

import java.lang.foreign.MemorySegment;

/**
 * A world of one rank, without MPI: reductions are identities and gathers are copies. Arguments
 * are checked exactly as {@link MpiComm} checks them, so single-process runs catch the same bugs.
 */
public final class LocalComm implements Comm {
    private static final Request DONE = new Request() {
        @Override
        public void await() {
        }

        @Override
        public boolean isDone() {
            return true;
        }
    };

    @Override
    public int rank() {
        return 0;
    }

    @Override
    public int size() {
        return 1;
    }

    @Override
    public void allReduceSum(MemorySegment buf, long offsetFloats, long count) {
        Segments.checkFloats("allReduceSum", buf, offsetFloats, count);
    }

    @Override
    public Request allReduceSumAsync(MemorySegment buf, long offsetFloats, long count) {
        allReduceSum(buf, offsetFloats, count);
        return DONE;
    }

    @Override
    public void reduceScatterSum(MemorySegment src, MemorySegment dstShard, long countPerRank) {
        Segments.checkReduceScatter(src, dstShard, countPerRank, 1);
        MemorySegment.copy(src, 0, dstShard, 0, countPerRank * Float.BYTES);
    }

    @Override
    public Request reduceScatterSumAsync(MemorySegment src, MemorySegment dstShard, long countPerRank) {
        reduceScatterSum(src, dstShard, countPerRank);
        return DONE;
    }

    @Override
    public void allGather(MemorySegment srcShard, MemorySegment dst, long countPerRank) {
        if (!Segments.checkAllGatherInPlace(srcShard, dst, countPerRank, 1, 0)) {
            MemorySegment.copy(srcShard, 0, dst, 0, countPerRank * Float.BYTES);
        }
    }

    @Override
    public Request allGatherAsync(MemorySegment srcShard, MemorySegment dst, long countPerRank) {
        allGather(srcShard, dst, countPerRank);
        return DONE;
    }

    @Override
    public void broadcast(MemorySegment buf, long count, int root) {
        Segments.checkFloats("broadcast", buf, 0, count);
        if (root != 0) throw new IllegalArgumentException("broadcast: root " + root + " is not a rank of a world of 1");
    }

    @Override
    public double allReduceSum(double value) {
        return value;
    }

    @Override
    public void barrier() {
    }

    @Override
    public void close() {
    }

    /** Like MPI_Abort: exits the process at once with {@code code}. */
    @Override
    public void abort(int code) {
        Runtime.getRuntime().halt(code);
    }
}
