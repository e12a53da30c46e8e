package jgpt.dist;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import jgpt.kernels.Vec;

/**
 * Non-blocking reduce-scatter and all-reduce over point-to-point messages, where every rank does
 * an equal share of the work. Open MPI's non-blocking collectives (coll/libnbc) reduce the whole
 * buffer to rank 0 instead: MPI_Ireduce_scatter_block is a binomial reduce then a linear scatter,
 * MPI_Iallreduce in place (or on fewer than 4 ranks) a binomial reduce then a broadcast, so rank 0
 * received and summed every rank's full buffer while the others only sent and waited for it. At
 * GPT-2's vocabulary that is the tied head's 79 MB gradient each step.
 *
 * <p>Here rank r owns block r: it receives every peer's block r and sums it with its own (the
 * reduce-scatter); the all-reduce then sends the summed block to every peer and receives theirs
 * in place (the all-gather). Each block is summed once, by its owner, so all ranks end with the
 * same bits. Every operation has its own tag, from a sequence number that all ranks advance in the
 * same call order, so messages match whatever order the ranks complete their operations in.
 */
final class Pairwise {
    /** Tags cycle through this many operations, far more than can be in flight at once. */
    private static final int TAG_CYCLE = 1 << 14;

    private final MpiLibrary mpi;
    private final MpiComm comm;
    private final int rank, size;
    /** The other ranks, starting after this one (so that not everyone talks to rank 0 first). */
    private final int[] peers;
    private final ArrayDeque<MemorySegment> scratchPool = new ArrayDeque<>();
    private final Arena scratchArena = Arena.ofShared();
    private int sequence;

    Pairwise(MpiLibrary mpi, MpiComm comm) {
        this.mpi = mpi;
        this.comm = comm;
        this.rank = comm.rank();
        this.size = comm.size();
        peers = new int[size - 1];
        for (int k = 0; k < peers.length; k++) peers[k] = (rank + 1 + k) % size;
    }

    /** {@link Comm#reduceScatterSumAsync}: block r of {@code src}'s sum over the ranks into {@code dst} on rank r. */
    Comm.Request reduceScatter(MemorySegment src, MemorySegment dst, long per) {
        // the first peer's block lands in dst itself, the others' (more than 2 ranks) in scratch
        MemorySegment scratch = peers.length > 1 ? takeScratch((peers.length - 1) * per) : null;
        Exchange x = new Exchange(nextTag());
        for (int k = 0; k < peers.length; k++) x.recv(k == 0 ? dst : scratch, k == 0 ? 0 : (k - 1) * per, per, peers[k]);
        for (int peer : peers) x.send(src, peer * per, per, peer);
        return x.then(() -> {
            if (peers.length == 0) MemorySegment.copy(src, rank * per * Float.BYTES, dst, 0, per * Float.BYTES);
            else addInto(dst, 0, src, rank * per, per);
            for (int k = 1; k < peers.length; k++) addInto(dst, 0, scratch, (k - 1) * per, per);
            if (scratch != null) returnScratch(scratch);
            return null;
        });
    }

    /** {@link Comm#allReduceSumAsync}: {@code count} floats at {@code offset} of {@code buf}, summed in place. */
    Comm.Request allReduce(MemorySegment buf, long offset, long count) {
        long lo = offset + block(count, rank), n = offset + block(count, rank + 1) - lo;
        MemorySegment scratch = takeScratch(peers.length * n);
        int tag = nextTag();
        Exchange reduce = new Exchange(tag);
        for (int k = 0; k < peers.length; k++) reduce.recv(scratch, k * n, n, peers[k]);
        for (int peer : peers) reduce.send(buf, offset + block(count, peer), block(count, peer + 1) - block(count, peer), peer);
        return reduce.then(() -> {
            for (int k = 0; k < peers.length; k++) addInto(buf, lo, scratch, k * n, n);
            returnScratch(scratch);
            Exchange gather = new Exchange(tag + 1); // the odd tag nextTag reserved
            for (int peer : peers) gather.recv(buf, offset + block(count, peer), block(count, peer + 1) - block(count, peer), peer);
            for (int peer : peers) gather.send(buf, lo, n, peer);
            return gather;
        });
    }

    /**
     * y[yFrom..] += x[xFrom..] over n floats, on the calling thread (the segments may be confined
     * to it); fma(x, 1, y) rounds once: exactly x + y.
     */
    private static void addInto(MemorySegment y, long yFrom, MemorySegment x, long xFrom, long n) {
        Vec.axpy(1f, x, xFrom, y, yFrom, (int) n);
    }

    /** Start of block j of {@code count} floats split as evenly as possible among the ranks. */
    private long block(long count, int j) {
        return count * j / size;
    }

    /** An even tag per operation; the all-reduce's second phase takes the odd one after it. */
    private int nextTag() {
        int tag = 2 * (sequence % TAG_CYCLE);
        sequence++;
        return tag;
    }

    /** The smallest pooled scratch area that is large enough, else a new one (as many as are in flight at once). */
    private synchronized MemorySegment takeScratch(long floats) {
        long bytes = Math.max(1, floats) * Float.BYTES;
        MemorySegment best = null;
        for (MemorySegment s : scratchPool) {
            if (s.byteSize() >= bytes && (best == null || s.byteSize() < best.byteSize())) best = s;
        }
        if (best == null) return scratchArena.allocate(bytes, 64);
        scratchPool.remove(best);
        return best;
    }

    private synchronized void returnScratch(MemorySegment s) {
        scratchPool.push(s);
    }

    void close() {
        scratchArena.close();
    }

    /** What follows a phase once its messages have all completed: nothing (null) or the next phase. */
    private interface Next {
        Exchange run();
    }

    /** Exchanges whose messages were not all seen completed yet and that have a next step to run then. */
    private final List<Exchange> waiting = new ArrayList<>();

    /**
     * Runs the next step of every exchange whose messages have completed. Like libnbc's progress
     * callback, this happens whichever request is tested: a peer blocked in an all-reduce's second
     * phase needs this rank to post it, even while this rank waits for another request.
     */
    private void progressAll() {
        for (Iterator<Exchange> it = waiting.iterator(); it.hasNext(); ) {
            if (it.next().testArrived()) it.remove();
        }
    }

    /** One phase's point-to-point messages; as a request, it completes with the phases that follow it. */
    private final class Exchange implements Comm.Request {
        private final int tag;
        private final Arena arena = Arena.ofAuto();
        private final MemorySegment handles = arena.allocate(ADDRESS, Math.max(1, 2L * (size - 1)));
        private final MemorySegment flag = arena.allocate(JAVA_INT);
        private int posted;
        private Next next;
        private boolean arrived;
        private Exchange following;
        private boolean done;

        Exchange(int tag) {
            this.tag = tag;
        }

        void recv(MemorySegment buf, long from, long n, int peer) {
            MemorySegment into = buf.asSlice(from * Float.BYTES, n * Float.BYTES), h = handle();
            int count = (int) n;
            comm.check("MPI_Irecv", () -> (int) mpi.irecv.invokeExact(into, count, mpi.floatType, peer, tag, mpi.commWorld, h));
        }

        void send(MemorySegment buf, long from, long n, int peer) {
            MemorySegment what = buf.asSlice(from * Float.BYTES, n * Float.BYTES), h = handle();
            int count = (int) n;
            comm.check("MPI_Isend", () -> (int) mpi.isend.invokeExact(what, count, mpi.floatType, peer, tag, mpi.commWorld, h));
        }

        private MemorySegment handle() {
            return handles.asSlice(ADDRESS.byteSize() * posted++, ADDRESS.byteSize());
        }

        Exchange then(Next next) {
            synchronized (Pairwise.this) {
                this.next = next;
                waiting.add(this);
            }
            return this;
        }

        /** Spins on MPI_Testall, as MPI_Wait itself does, so that other exchanges keep advancing meanwhile. */
        @Override
        public void await() {
            while (!isDone()) Thread.onSpinWait();
        }

        @Override
        public boolean isDone() {
            synchronized (Pairwise.this) {
                if (done) return true;
                progressAll();
                done = testArrived() && (following == null || following.isDone());
                return done;
            }
        }

        /** Whether this phase's messages have all completed; the first time they have, runs what follows. */
        private boolean testArrived() {
            if (arrived) return true;
            comm.check("MPI_Testall", () -> (int) mpi.testall.invokeExact(posted, handles, flag, MpiLibrary.MPI_STATUSES_IGNORE));
            if (flag.get(JAVA_INT, 0) == 0) return false;
            arrived = true;
            if (next != null) following = next.run();
            next = null;
            return true;
        }
    }
}
