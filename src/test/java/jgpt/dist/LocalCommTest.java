package jgpt.dist;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class LocalCommTest {
    private final Comm comm = new LocalComm();

    private static MemorySegment floats(Arena arena, float... values) {
        return arena.allocateFrom(JAVA_FLOAT, values);
    }

    @Test
    void createWithoutMpirunIsOneLocalRank() {
        // surefire does not run under mpirun
        try (Comm c = Comm.create()) {
            assertThat(c).isInstanceOf(LocalComm.class);
            assertThat(c.rank()).isZero();
            assertThat(c.size()).isOne();
        }
    }

    @Test
    void reductionsAreIdentities() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = floats(arena, 1, 2, 3, 4);
            comm.allReduceSum(buf, 1, 3);
            Comm.Request r = comm.allReduceSumAsync(buf, 0, 4);
            assertThat(r.isDone()).isTrue();
            r.await();
            assertThat(buf.toArray(JAVA_FLOAT)).containsExactly(1, 2, 3, 4);
            comm.broadcast(buf, 4, 0);
            assertThat(buf.toArray(JAVA_FLOAT)).containsExactly(1, 2, 3, 4);
            assertThat(comm.allReduceSum(2.5)).isEqualTo(2.5);
            comm.barrier();
        }
    }

    @Test
    void scatterAndGatherCopy() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment src = floats(arena, 1, 2, 3);
            MemorySegment dst = floats(arena, 0, 0, 0);
            comm.reduceScatterSum(src, dst, 3);
            assertThat(dst.toArray(JAVA_FLOAT)).containsExactly(1, 2, 3);
            MemorySegment full = floats(arena, 0, 0, 0);
            comm.allGatherAsync(floats(arena, 4, 5, 6), full, 3).await();
            assertThat(full.toArray(JAVA_FLOAT)).containsExactly(4, 5, 6);
            comm.allGather(full, full, 3); // in place: the shard is rank 0's block
            assertThat(full.toArray(JAVA_FLOAT)).containsExactly(4, 5, 6);
        }
    }

    @Test
    void badArgumentsAreRefusedAsUnderMpi() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = floats(arena, 1, 2, 3, 4);
            assertThatThrownBy(() -> comm.allReduceSum(buf, 2, 3))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("out of a segment of 4 floats");
            assertThatThrownBy(() -> comm.allReduceSum(MemorySegment.ofArray(new float[4]), 0, 4))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("native");
            assertThatThrownBy(() -> comm.allReduceSum(buf, 0, 1L << 31))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("buckets");
            assertThatThrownBy(() -> comm.reduceScatterSum(buf, buf.asSlice(4, 8), 2))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("overlap");
            assertThatThrownBy(() -> comm.allGather(buf.asSlice(4, 8), buf, 2))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("own block");
            assertThatThrownBy(() -> comm.broadcast(buf, 4, 1))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("root 1");
        }
    }

    @Test
    void aloneAFailurePropagates() {
        assertThatThrownBy(() -> comm.runOrAbort(() -> {
            throw new IllegalStateException("boom");
        })).isInstanceOf(IllegalStateException.class).hasMessage("boom");
    }
}
