package jgpt.kernels;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Decode-step matrix-vector product over Q8_0 weights: reads int8 (a quarter of f32's memory
 * traffic, which bounds decode), widens each lane to f32 and accumulates in f32. A block's 32
 * products are summed first, then scaled once by the block's scale.
 */
public final class MatvecQ8 {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** Bytes that widen into one float vector. */
    private static final VectorSpecies<Byte> BS = VectorSpecies.of(byte.class, VectorShape.forBitSize(L * 8));

    static {
        if (Q8Tensor.BLOCK % L != 0) throw new ExceptionInInitializerError("float vector of " + L + " lanes does not divide a Q8 block");
    }

    private MatvecQ8() {}

    /** out[outOff + o] = Σ_c w[o, c] · x[xOff + c] for every row o of w. */
    public static void matvec(MemorySegment out, long outOff, Q8Tensor w, MemorySegment x, long xOff) {
        Parallel.forRange(w.rows(), 16, (s, e) -> {
            for (int o = s; o < e; o++) out.setAtIndex(JAVA_FLOAT, outOff + o, row(w, o, x, xOff));
        });
    }

    /**
     * One row, read through per-row slices with int offsets: against long offsets into the whole
     * tensor this streamed 7.8 instead of 6.1 GB/s of int8 (2048 columns). Two rows per x load,
     * which helps f32, was slower here: the loop is compute-bound (widening int8 costs two
     * instructions per vector), and two streams stalled it more.
     */
    private static float row(Q8Tensor w, int o, MemorySegment x, long xOff) {
        int cols = w.cols(), blocks = cols / Q8Tensor.BLOCK;
        MemorySegment q = w.q().asSlice((long) o * cols, cols), scales = w.scales().asSlice((long) o * blocks * 4, blocks * 4L);
        MemorySegment xs = x.asSlice(xOff * 4, cols * 4L);
        FloatVector acc = FloatVector.zero(S);
        for (int b = 0; b < blocks; b++) {
            int base = b * Q8Tensor.BLOCK;
            FloatVector blockSum = FloatVector.zero(S);
            for (int j = 0; j < Q8Tensor.BLOCK; j += L) {
                FloatVector qf = (FloatVector) ByteVector.fromMemorySegment(BS, q, base + j, Vec.NO)
                        .convertShape(VectorOperators.B2F, S, 0);
                blockSum = qf.fma(FloatVector.fromMemorySegment(S, xs, (base + j) * 4L, Vec.NO), blockSum);
            }
            acc = blockSum.fma(FloatVector.broadcast(S, scales.getAtIndex(JAVA_FLOAT, b)), acc);
        }
        // Vec.sum's fixed lane tree (reduceLanes(ADD) differs cold vs JIT-compiled), as permutes written
        // out here: lane extracts per row cost this loop ~10% at 768 columns.
        if (L >= 16) acc = acc.add(acc.rearrange(Vec.ROT8));
        if (L >= 8) acc = acc.add(acc.rearrange(Vec.ROT4));
        if (L >= 4) acc = acc.add(acc.rearrange(Vec.ROT2));
        if (L >= 2) acc = acc.add(acc.rearrange(Vec.ROT1));
        return acc.lane(0);
    }
}
