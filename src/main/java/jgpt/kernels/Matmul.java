package jgpt.kernels;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Linear layers as matrix products, forward and backward side by side. A Linear stores its weight
 * as [out, in]; all three products of training are one {@link Gemm} call each, the transposes
 * expressed as strides (Gemm packs its operands anyway, so no transposed copy is made).
 *
 * <p>Stateless: packing scratch lives per worker thread inside Gemm.
 */
public final class Matmul {
    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    static final int L = S.length();
    static final ByteOrder NO = ByteOrder.nativeOrder();

    // ---------------------------------------------------------------- Linear layer

    /** out[N, OC] = inp[N, C] · w[OC, C]ᵀ + bias[OC] (bias may be null). */
    public void forward(MemorySegment out, MemorySegment inp, MemorySegment w, MemorySegment bias, int N, int C, int OC) {
        if (bias != null) {
            Parallel.forRange(N, 16, (s, e) -> {
                for (int n = s; n < e; n++) MemorySegment.copy(bias, 0, out, (long) n * OC * 4, (long) OC * 4);
            });
        }
        // B(k=c, j=o) = w[o, c]
        Gemm.gemm(inp, 0, C, 1, w, 0, 1, C, out, 0, OC, N, OC, C, bias != null);
    }

    /**
     * Backward of {@link #forward}: dinp = dout · w (overwritten; skipped when dinp is null),
     * dw += doutᵀ · inp, dbias += column sums of dout (skipped when null).
     */
    public void backward(MemorySegment dinp, MemorySegment dw, MemorySegment dbias,
                         MemorySegment dout, MemorySegment inp, MemorySegment w, int N, int C, int OC) {
        backward(dinp, dw, dbias, dout, inp, w, N, C, OC, true);
    }

    /** {@link #backward} with dw overwritten (dw = doutᵀ · inp) when {@code accumulateDw} is false. */
    public void backward(MemorySegment dinp, MemorySegment dw, MemorySegment dbias,
                         MemorySegment dout, MemorySegment inp, MemorySegment w, int N, int C, int OC, boolean accumulateDw) {
        if (dinp != null) Gemm.gemm(dout, 0, OC, 1, w, 0, C, 1, dinp, 0, C, N, C, OC, false);
        // dw[o, c] += sum_n dout[n, o] * inp[n, c]: A = doutᵀ, read with strides (1, OC).
        Gemm.gemm(dout, 0, 1, OC, inp, 0, C, 1, dw, 0, C, OC, C, N, accumulateDw);
        if (dbias != null) biasBackward(dbias, dout, N, OC);
    }

    private static void biasBackward(MemorySegment dbias, MemorySegment dout, int N, int OC) {
        Parallel.forRange(OC, L, (s, e) -> {
            int o = s;
            for (; o + L <= e; o += L) {
                FloatVector acc = FloatVector.fromMemorySegment(S, dbias, (long) o * 4, NO);
                for (int n = 0; n < N; n++) {
                    acc = acc.add(FloatVector.fromMemorySegment(S, dout, ((long) n * OC + o) * 4, NO));
                }
                acc.intoMemorySegment(dbias, (long) o * 4, NO);
            }
            for (; o < e; o++) {
                float acc = dbias.getAtIndex(JAVA_FLOAT, o);
                for (int n = 0; n < N; n++) acc += dout.getAtIndex(JAVA_FLOAT, (long) n * OC + o);
                dbias.setAtIndex(JAVA_FLOAT, o, acc);
            }
        });
    }

    // ---------------------------------------------------------------- decode

    /**
     * out[OC] = w[OC, C] · x[C] (+ bias): the decode step's matrix-vector product, bound by reading
     * w from memory. Each chunk of rows is read as four streams a quarter of the chunk apart: row
     * i of each quarter shares the loads of x, and when it ends the next row of that quarter
     * starts at the very next address, so each stream runs on without a restart for the hardware
     * prefetcher. Same JVM, alternating, the 49 weights of a 110M Llama (1 GiB sweep 24-27 GB/s,
     * 2 threads): 22.9-23.0 GB/s median against 19.7-19.9 for adjacent row pairs (half of whose
     * streams restart at every pair), 21.5 for distant pairs, 21.2 for 8 streams.
     */
    public static void matvec(MemorySegment out, long outOff, MemorySegment x, long xOff, MemorySegment w,
                              MemorySegment bias, int C, int OC) {
        int groups = OC / 4;
        Parallel.forRange(groups, 16, (s, e) -> {
            int q = e - s, lo = 4 * s;
            for (int i = 0; i < q; i++) rows4(out, outOff, x, xOff, w, bias, C, lo + i, q);
        });
        for (int o = 4 * groups; o < OC; o++) rows4(out, outOff, x, xOff, w, bias, C, o, 0);
    }

    /**
     * Rows o, o + q, o + 2q, o + 3q (q = 0: row o alone, computed four times and stored once).
     * Every row is the same sequence of operations (one FMA chain over whole vectors, Vec.sum's
     * lane tree, the tail in order, then the bias) wherever it falls, so a row's result does not
     * depend on the split or the thread count. Rows are read through per-row slices with int
     * offsets, which streamed a little faster than long offsets into the whole matrix.
     */
    private static void rows4(MemorySegment out, long outOff, MemorySegment x, long xOff, MemorySegment w,
                              MemorySegment bias, int C, int o, int q) {
        long rb = C * 4L;
        MemorySegment w0 = w.asSlice(o * rb, rb), w1 = w.asSlice((o + q) * rb, rb),
                w2 = w.asSlice((o + 2L * q) * rb, rb), w3 = w.asSlice((o + 3L * q) * rb, rb);
        MemorySegment xs = x.asSlice(xOff * 4, rb);
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        int c = 0;
        for (var cEnd = Vec.whole(c, C); c < cEnd; c += L) {
            long cb = c * 4L;
            FloatVector xv = FloatVector.fromMemorySegment(S, xs, cb, NO);
            a0 = FloatVector.fromMemorySegment(S, w0, cb, NO).fma(xv, a0);
            a1 = FloatVector.fromMemorySegment(S, w1, cb, NO).fma(xv, a1);
            a2 = FloatVector.fromMemorySegment(S, w2, cb, NO).fma(xv, a2);
            a3 = FloatVector.fromMemorySegment(S, w3, cb, NO).fma(xv, a3);
        }
        // Vec.sum's lane tree as permutes, written out here (no helper taking a vector, see Vec):
        // the same bits, and lane extracts per row cost ~10-20% of a decode matvec.
        if (L >= 16) { a0 = a0.add(a0.rearrange(Vec.ROT8)); a1 = a1.add(a1.rearrange(Vec.ROT8)); a2 = a2.add(a2.rearrange(Vec.ROT8)); a3 = a3.add(a3.rearrange(Vec.ROT8)); }
        if (L >= 8) { a0 = a0.add(a0.rearrange(Vec.ROT4)); a1 = a1.add(a1.rearrange(Vec.ROT4)); a2 = a2.add(a2.rearrange(Vec.ROT4)); a3 = a3.add(a3.rearrange(Vec.ROT4)); }
        if (L >= 4) { a0 = a0.add(a0.rearrange(Vec.ROT2)); a1 = a1.add(a1.rearrange(Vec.ROT2)); a2 = a2.add(a2.rearrange(Vec.ROT2)); a3 = a3.add(a3.rearrange(Vec.ROT2)); }
        if (L >= 2) { a0 = a0.add(a0.rearrange(Vec.ROT1)); a1 = a1.add(a1.rearrange(Vec.ROT1)); a2 = a2.add(a2.rearrange(Vec.ROT1)); a3 = a3.add(a3.rearrange(Vec.ROT1)); }
        float s0 = a0.lane(0), s1 = a1.lane(0), s2 = a2.lane(0), s3 = a3.lane(0);
        for (; c < C; c++) {
            float xc = xs.getAtIndex(JAVA_FLOAT, c);
            s0 += w0.getAtIndex(JAVA_FLOAT, c) * xc;
            s1 += w1.getAtIndex(JAVA_FLOAT, c) * xc;
            s2 += w2.getAtIndex(JAVA_FLOAT, c) * xc;
            s3 += w3.getAtIndex(JAVA_FLOAT, c) * xc;
        }
        if (bias != null) {
            s0 += bias.getAtIndex(JAVA_FLOAT, o);
            s1 += bias.getAtIndex(JAVA_FLOAT, o + q);
            s2 += bias.getAtIndex(JAVA_FLOAT, o + 2 * q);
            s3 += bias.getAtIndex(JAVA_FLOAT, o + 3 * q);
        }
        out.setAtIndex(JAVA_FLOAT, outOff + o, s0);
        if (q == 0) return;
        out.setAtIndex(JAVA_FLOAT, outOff + o + q, s1);
        out.setAtIndex(JAVA_FLOAT, outOff + o + 2 * q, s2);
        out.setAtIndex(JAVA_FLOAT, outOff + o + 3 * q, s3);
    }

    /**
     * out[n, OC] = x[n, C] · w[OC, C]ᵀ (+ bias) for a few rows (the decode step, n = 1 or a batch of
     * sequences). No weight packing: each weight row is read from memory once and dotted with every
     * x row while it is in cache. Every element is one {@link Vec#dot} whatever n is, so a row's
     * result does not depend on the other rows.
     */
    public static void matvecRows(MemorySegment out, MemorySegment x, MemorySegment w, MemorySegment bias,
                                  int n, int C, int OC) {
        Parallel.forRange(OC, Math.max(1, 64 / n), (s, e) -> {
            for (int o = s; o < e; o++) {
                for (int i = 0; i < n; i++) {
                    float v = Vec.dot(w, (long) o * C, x, (long) i * C, C);
                    if (bias != null) v += bias.getAtIndex(JAVA_FLOAT, o);
                    out.setAtIndex(JAVA_FLOAT, (long) i * OC + o, v);
                }
            }
        });
    }

    /** C[M,N] (+)= A[M,K] · B[K,N] with strided A and B (see {@link Gemm#gemm}), over all threads. */
    public static void gemm(MemorySegment a, long aOff, long aRs, long aCs, MemorySegment b, long bOff, long bRs, long bCs,
                            MemorySegment c, long cOff, long cRs, int M, int N, int K, boolean accumulate) {
        Gemm.gemm(a, aOff, aRs, aCs, b, bOff, bRs, bCs, c, cOff, cRs, M, N, K, accumulate);
    }
}
