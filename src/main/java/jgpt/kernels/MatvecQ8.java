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
            // Rows in pairs half a chunk apart: two distant streams kept 7-9.5 Gweights/s coming from
            // memory on one core against 5-6.5 for one row at a time, which left the int8 loop
            // waiting on memory (it runs ~13 Gweights/s from L2). Adjacent pairs were slower.
            int h = (e - s) / 2;
            for (int o = s; o < s + h; o++) rows2(out, outOff, w, o, o + h, x, xOff);
            if (((e - s) & 1) != 0) rows2(out, outOff, w, e - 1, -1, x, xOff);
        });
    }

    /**
     * Rows o1 and o2 (-1: none) sharing each load of x, read through per-row slices with int
     * offsets: against long offsets into the whole tensor this streamed 7.8 instead of 6.1 GB/s of
     * int8 (2048 columns). Each row's sum is the same sequence of operations whether it is paired
     * or alone, so the result does not depend on the split.
     */
    private static void rows2(MemorySegment out, long outOff, Q8Tensor w, int o1, int o2, MemorySegment x, long xOff) {
        int cols = w.cols(), blocks = cols / Q8Tensor.BLOCK;
        int p2 = o2 < 0 ? o1 : o2; // alone: the second stream repeats the first row, its result unused
        MemorySegment q1 = w.q().asSlice((long) o1 * cols, cols), s1 = w.scales().asSlice((long) o1 * blocks * 4, blocks * 4L);
        MemorySegment q2 = w.q().asSlice((long) p2 * cols, cols), s2 = w.scales().asSlice((long) p2 * blocks * 4, blocks * 4L);
        MemorySegment xs = x.asSlice(xOff * 4, cols * 4L);
        FloatVector acc1 = FloatVector.zero(S), acc2 = acc1;
        for (int b = 0; b < blocks; b++) {
            int base = b * Q8Tensor.BLOCK;
            FloatVector sum1 = FloatVector.zero(S), sum2 = sum1;
            for (int j = 0; j < Q8Tensor.BLOCK; j += L) {
                FloatVector xv = FloatVector.fromMemorySegment(S, xs, (base + j) * 4L, Vec.NO);
                FloatVector w1 = (FloatVector) ByteVector.fromMemorySegment(BS, q1, base + j, Vec.NO).convertShape(VectorOperators.B2F, S, 0);
                FloatVector w2 = (FloatVector) ByteVector.fromMemorySegment(BS, q2, base + j, Vec.NO).convertShape(VectorOperators.B2F, S, 0);
                sum1 = w1.fma(xv, sum1);
                sum2 = w2.fma(xv, sum2);
            }
            acc1 = sum1.fma(FloatVector.broadcast(S, s1.getAtIndex(JAVA_FLOAT, b)), acc1);
            acc2 = sum2.fma(FloatVector.broadcast(S, s2.getAtIndex(JAVA_FLOAT, b)), acc2);
        }
        // Vec.sum's fixed lane tree (reduceLanes(ADD) differs cold vs JIT-compiled), as permutes written
        // out here (no helper taking a vector, see Vec): lane extracts per row cost ~10% at 768 columns.
        if (L >= 16) { acc1 = acc1.add(acc1.rearrange(Vec.ROT8)); acc2 = acc2.add(acc2.rearrange(Vec.ROT8)); }
        if (L >= 8) { acc1 = acc1.add(acc1.rearrange(Vec.ROT4)); acc2 = acc2.add(acc2.rearrange(Vec.ROT4)); }
        if (L >= 4) { acc1 = acc1.add(acc1.rearrange(Vec.ROT2)); acc2 = acc2.add(acc2.rearrange(Vec.ROT2)); }
        if (L >= 2) { acc1 = acc1.add(acc1.rearrange(Vec.ROT1)); acc2 = acc2.add(acc2.rearrange(Vec.ROT1)); }
        out.setAtIndex(JAVA_FLOAT, outOff + o1, acc1.lane(0));
        if (o2 >= 0) out.setAtIndex(JAVA_FLOAT, outOff + o2, acc2.lane(0));
    }
}
