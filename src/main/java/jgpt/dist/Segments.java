package jgpt.dist;

import java.lang.foreign.MemorySegment;

/** Argument checks shared by the communicators: MPI trusts pointers and counts blindly. */
final class Segments {
    private Segments() {
    }

    /** Checks that {@code count} floats from {@code offsetFloats} lie in {@code seg}; returns the count as MPI's int. */
    static int checkFloats(String what, MemorySegment seg, long offsetFloats, long count) {
        if (!seg.isNative()) throw new IllegalArgumentException(what + ": segment must be native (off-heap)");
        if (offsetFloats < 0 || count < 0) {
            throw new IllegalArgumentException(what + ": negative offset " + offsetFloats + " or count " + count);
        }
        if (count > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(what + ": count " + count + " exceeds MPI's int range: split it into buckets");
        }
        if ((offsetFloats + count) * Float.BYTES > seg.byteSize()) {
            throw new IllegalArgumentException(what + ": floats [" + offsetFloats + ", " + (offsetFloats + count)
                    + ") out of a segment of " + seg.byteSize() / Float.BYTES + " floats");
        }
        return (int) count;
    }

    /** Checks a reduce-scatter's buffers; MPI forbids aliasing its input and output. */
    static int checkReduceScatter(MemorySegment src, MemorySegment dstShard, long countPerRank, int size) {
        int n = checkFloats("reduceScatterSum dstShard", dstShard, 0, countPerRank);
        checkFloats("reduceScatterSum src", src, 0, countPerRank * size);
        if (overlap(src, countPerRank * size, dstShard, countPerRank)) {
            throw new IllegalArgumentException("reduceScatterSum: src and dstShard overlap");
        }
        return n;
    }

    /**
     * Checks an all-gather's buffers and says whether it is in place: the shard is this rank's own
     * block of {@code dst} (FSDP keeps its shard inside the full buffer). Any other overlap is an error.
     */
    static boolean checkAllGatherInPlace(MemorySegment srcShard, MemorySegment dst, long countPerRank,
                                         int size, int rank) {
        checkFloats("allGather srcShard", srcShard, 0, countPerRank);
        checkFloats("allGather dst", dst, 0, countPerRank * size);
        if (srcShard.address() == dst.address() + (long) rank * countPerRank * Float.BYTES) return true;
        if (overlap(srcShard, countPerRank, dst, countPerRank * size)) {
            throw new IllegalArgumentException("allGather: srcShard overlaps dst but is not rank "
                    + rank + "'s own block of it");
        }
        return false;
    }

    private static boolean overlap(MemorySegment a, long aFloats, MemorySegment b, long bFloats) {
        return aFloats > 0 && bFloats > 0
                && a.address() < b.address() + bFloats * Float.BYTES
                && b.address() < a.address() + aFloats * Float.BYTES;
    }
}
