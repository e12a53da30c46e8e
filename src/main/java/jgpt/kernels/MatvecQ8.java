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
            // Four rows a quarter of the chunk apart: four streams that each run on from one row to
            // the next, sharing the loads of x. One row at a time left the int8 loop waiting on
            // memory (5-6.5 Gweights/s on one core; it runs ~13 from L2), distant pairs 7-9.5;
            // adjacent rows were slower than distant ones.
            int q = (e - s) / 4;
            for (int o = s; o < s + q; o++) rows4(out, outOff, w, o, q, x, xOff);
            for (int o = s + 4 * q; o < e; o++) rows4(out, outOff, w, o, 0, x, xOff);
        });
    }

    /**
     * Rows o, o + q, o + 2q, o + 3q (q = 0: row o alone, its result stored once) sharing each load
     * of x, read through per-row slices with int offsets: against long offsets into the whole
     * tensor this streamed 7.8 instead of 6.1 GB/s of int8 (2048 columns). Each row's sum is the
     * same sequence of operations wherever it falls, so the result does not depend on the split.
     */
    private static void rows4(MemorySegment out, long outOff, Q8Tensor w, int o, int q, MemorySegment x, long xOff) {
        int cols = w.cols(), blocks = cols / Q8Tensor.BLOCK;
        MemorySegment q0 = qRow(w, o), q1 = qRow(w, o + q), q2 = qRow(w, o + 2 * q), q3 = qRow(w, o + 3 * q);
        MemorySegment s0 = scaleRow(w, o), s1 = scaleRow(w, o + q), s2 = scaleRow(w, o + 2 * q), s3 = scaleRow(w, o + 3 * q);
        MemorySegment xs = x.asSlice(xOff * 4, cols * 4L);
        FloatVector acc0 = FloatVector.zero(S), acc1 = acc0, acc2 = acc0, acc3 = acc0;
        for (int b = 0; b < blocks; b++) {
            int base = b * Q8Tensor.BLOCK;
            FloatVector sum0 = FloatVector.zero(S), sum1 = sum0, sum2 = sum0, sum3 = sum0;
            for (int j = 0; j < Q8Tensor.BLOCK; j += L) {
                FloatVector xv = FloatVector.fromMemorySegment(S, xs, (base + j) * 4L, Vec.NO);
                sum0 = ((FloatVector) ByteVector.fromMemorySegment(BS, q0, base + j, Vec.NO).convertShape(VectorOperators.B2F, S, 0)).fma(xv, sum0);
                sum1 = ((FloatVector) ByteVector.fromMemorySegment(BS, q1, base + j, Vec.NO).convertShape(VectorOperators.B2F, S, 0)).fma(xv, sum1);
                sum2 = ((FloatVector) ByteVector.fromMemorySegment(BS, q2, base + j, Vec.NO).convertShape(VectorOperators.B2F, S, 0)).fma(xv, sum2);
                sum3 = ((FloatVector) ByteVector.fromMemorySegment(BS, q3, base + j, Vec.NO).convertShape(VectorOperators.B2F, S, 0)).fma(xv, sum3);
            }
            acc0 = sum0.fma(FloatVector.broadcast(S, s0.getAtIndex(JAVA_FLOAT, b)), acc0);
            acc1 = sum1.fma(FloatVector.broadcast(S, s1.getAtIndex(JAVA_FLOAT, b)), acc1);
            acc2 = sum2.fma(FloatVector.broadcast(S, s2.getAtIndex(JAVA_FLOAT, b)), acc2);
            acc3 = sum3.fma(FloatVector.broadcast(S, s3.getAtIndex(JAVA_FLOAT, b)), acc3);
        }
        // Vec.sum's fixed lane tree (reduceLanes(ADD) differs cold vs JIT-compiled), as permutes written
        // out here (no helper taking a vector, see Vec): lane extracts per row cost ~10% at 768 columns.
        if (L >= 16) { acc0 = acc0.add(acc0.rearrange(Vec.ROT8)); acc1 = acc1.add(acc1.rearrange(Vec.ROT8)); acc2 = acc2.add(acc2.rearrange(Vec.ROT8)); acc3 = acc3.add(acc3.rearrange(Vec.ROT8)); }
        if (L >= 8) { acc0 = acc0.add(acc0.rearrange(Vec.ROT4)); acc1 = acc1.add(acc1.rearrange(Vec.ROT4)); acc2 = acc2.add(acc2.rearrange(Vec.ROT4)); acc3 = acc3.add(acc3.rearrange(Vec.ROT4)); }
        if (L >= 4) { acc0 = acc0.add(acc0.rearrange(Vec.ROT2)); acc1 = acc1.add(acc1.rearrange(Vec.ROT2)); acc2 = acc2.add(acc2.rearrange(Vec.ROT2)); acc3 = acc3.add(acc3.rearrange(Vec.ROT2)); }
        if (L >= 2) { acc0 = acc0.add(acc0.rearrange(Vec.ROT1)); acc1 = acc1.add(acc1.rearrange(Vec.ROT1)); acc2 = acc2.add(acc2.rearrange(Vec.ROT1)); acc3 = acc3.add(acc3.rearrange(Vec.ROT1)); }
        out.setAtIndex(JAVA_FLOAT, outOff + o, acc0.lane(0));
        if (q == 0) return;
        out.setAtIndex(JAVA_FLOAT, outOff + o + q, acc1.lane(0));
        out.setAtIndex(JAVA_FLOAT, outOff + o + 2 * q, acc2.lane(0));
        out.setAtIndex(JAVA_FLOAT, outOff + o + 3 * q, acc3.lane(0));
    }

    private static MemorySegment qRow(Q8Tensor w, int o) {
        return w.q().asSlice((long) o * w.cols(), w.cols());
    }

    private static MemorySegment scaleRow(Q8Tensor w, int o) {
        int blocks = w.cols() / Q8Tensor.BLOCK;
        return w.scales().asSlice((long) o * blocks * 4, blocks * 4L);
    }
}
