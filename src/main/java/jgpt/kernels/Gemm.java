package jgpt.kernels;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * Single-precision GEMM {@code C[M,N] (+)= A[M,K] · B[K,N]}, BLIS style. A and B are read through
 * arbitrary row/column strides (so transposes cost nothing extra); C's rows are contiguous. K is cut
 * into KC blocks; a KC x NC block of B and an MC x KC block of A are packed into per-thread heap
 * scratch in micro-panel order, and a 6 x (4 vectors) micro-kernel keeps 24 accumulators in
 * registers (AVX-512 has 32), reading both panels contiguously.
 *
 * <p>Deterministic and independent of the thread count: each C element is produced by one thread,
 * summed over k in ascending order (one fused multiply-add per k), whatever the split.
 */
final class Gemm {
    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    static final int L = S.length();
    static final ByteOrder NO = ByteOrder.nativeOrder();
    static final int MR = 6;
    static final int NR = 4 * L;
    /** A KC-deep B micro-panel (KC x NR) stays in L1/L2 while MC/MR A micro-panels stream past it. */
    static final int KC = 256;
    /** The packed A block (MC x KC floats, 120 KiB) stays in L2. */
    static final int MC = 20 * MR;
    /** Columns per packed B block; larger means A is repacked less often. */
    static final int NC = 2048;
    /** Below this many multiply-adds a split over threads costs more than it saves. */
    private static final long PARALLEL_MIN_WORK = 1L << 18;

    private Gemm() {}

    /** Per-thread packing buffers, allocated once per worker thread. */
    private static final class Scratch {
        final float[] a = new float[MC * KC];
        final float[] b = new float[KC * NC];
        final MemorySegment tile = Arena.ofAuto().allocate((long) MR * NR * 4, 64);
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /**
     * C (+)= A·B split over the worker pool. A(i,k) = a[aOff + i*aRs + k*aCs],
     * B(k,j) = b[bOff + k*bRs + j*bCs], C(i,j) = c[cOff + i*cRs + j]; offsets and strides in floats.
     * Without {@code accumulate} C is overwritten.
     */
    static void gemm(MemorySegment a, long aOff, long aRs, long aCs, MemorySegment b, long bOff, long bRs, long bCs,
                     MemorySegment c, long cOff, long cRs, int M, int N, int K, boolean accumulate) {
        if (M <= 0 || N <= 0) return;
        int threads = Parallel.threads();
        int nPanels = (N + NR - 1) / NR, mPanels = (M + MR - 1) / MR;
        if (threads == 1 || (long) M * N * K < PARALLEL_MIN_WORK || (nPanels < 2 && mPanels < 2)) {
            serial(a, aOff, aRs, aCs, b, bOff, bRs, bCs, c, cOff, cRs, 0, M, 0, N, K, accumulate);
            return;
        }
        // One part per thread along the longer side (whole micro-panels), so each part packs
        // only its share of that side's operand.
        boolean splitN = nPanels * NR >= mPanels * MR ? nPanels >= threads || mPanels < threads : nPanels >= mPanels;
        int panels = splitN ? nPanels : mPanels, unit = splitN ? NR : MR, extent = splitN ? N : M;
        int parts = Math.min(threads, panels);
        Parallel.forRange(parts, 1, (s, e) -> {
            for (int p = s; p < e; p++) {
                int lo = Math.min(extent, (int) ((long) panels * p / parts) * unit);
                int hi = Math.min(extent, (int) ((long) panels * (p + 1) / parts) * unit);
                if (splitN) serial(a, aOff, aRs, aCs, b, bOff, bRs, bCs, c, cOff, cRs, 0, M, lo, hi, K, accumulate);
                else serial(a, aOff, aRs, aCs, b, bOff, bRs, bCs, c, cOff, cRs, lo, hi, 0, N, K, accumulate);
            }
        });
    }

    /** C rows [m0, m1) x columns [n0, n1) on the calling thread; for callers already in parallel. */
    static void serial(MemorySegment a, long aOff, long aRs, long aCs, MemorySegment b, long bOff, long bRs, long bCs,
                       MemorySegment c, long cOff, long cRs, int m0, int m1, int n0, int n1, int K, boolean accumulate) {
        if (m1 <= m0 || n1 <= n0) return;
        // The kernel always adds into C: a branch on "first K block" there is what let C2
        // deoptimize it and never recompile it (runs at ~2 GFLOPS). fma(a, b, 0) == a*b rounded,
        // so zeroing first gives the same bits as starting from zero registers.
        if (!accumulate) {
            for (int i = m0; i < m1; i++) c.asSlice((cOff + i * cRs + n0) * 4, (long) (n1 - n0) * 4).fill((byte) 0);
        }
        if (K <= 0) return;
        Scratch s = SCRATCH.get();
        for (int jc = n0; jc < n1; jc += NC) {
            int nc = Math.min(NC, n1 - jc);
            for (int pc = 0; pc < K; pc += KC) {
                int kc = Math.min(KC, K - pc);
                packB(b, bOff + pc * bRs + jc * bCs, bRs, bCs, kc, nc, s.b);
                for (int ic = m0; ic < m1; ic += MC) {
                    int mc = Math.min(MC, m1 - ic);
                    packA(a, aOff + ic * aRs + pc * aCs, aRs, aCs, mc, kc, s.a);
                    for (int jr = 0; jr < nc; jr += NR) {
                        int nr = Math.min(NR, nc - jr);
                        for (int ir = 0; ir < mc; ir += MR) {
                            int mr = Math.min(MR, mc - ir);
                            long co = cOff + (ic + ir) * cRs + jc + jr;
                            if (mr == MR && nr == NR) {
                                kernel(s.a, ir * kc, s.b, jr * kc, kc, c, co * 4, cRs * 4);
                            } else {
                                edge(s, ir * kc, jr * kc, kc, c, co, cRs, mr, nr);
                            }
                        }
                    }
                }
            }
        }
    }

    /** Packs A rows into MR-row micro-panels: element (i, k) of panel p at p*MR*kc + k*MR + i; short panels zero-padded. */
    private static void packA(MemorySegment a, long off, long rs, long cs, int mc, int kc, float[] ap) {
        for (int p = 0; p * MR < mc; p++) {
            int rows = Math.min(MR, mc - p * MR), base = p * MR * kc;
            if (rows < MR) java.util.Arrays.fill(ap, base, base + MR * kc, 0f);
            long rowOff = off + (long) p * MR * rs;
            if (cs == 1) {
                for (int i = 0; i < rows; i++) {
                    long r = rowOff + i * rs;
                    for (int k = 0; k < kc; k++) ap[base + k * MR + i] = a.getAtIndex(JAVA_FLOAT, r + k);
                }
            } else {
                for (int k = 0; k < kc; k++) {
                    long r = rowOff + k * cs;
                    for (int i = 0; i < rows; i++) ap[base + k * MR + i] = a.getAtIndex(JAVA_FLOAT, r + i * rs);
                }
            }
        }
    }

    /** Packs B columns into NR-column micro-panels: element (k, j) of panel q at q*NR*kc + k*NR + j; short panels zero-padded. */
    private static void packB(MemorySegment b, long off, long rs, long cs, int kc, int nc, float[] bp) {
        for (int q = 0; q * NR < nc; q++) {
            int cols = Math.min(NR, nc - q * NR), base = q * NR * kc;
            long colOff = off + (long) q * NR * cs;
            if (cs == 1) {
                for (int k = 0; k < kc; k++) {
                    long r = (colOff + k * rs) * 4;
                    for (int j = 0; j < NR; j += L) {
                        VectorMask<Float> m = S.indexInRange(j, cols);
                        FloatVector.fromMemorySegment(S, b, r + j * 4L, NO, m).intoArray(bp, base + k * NR + j);
                    }
                }
            } else {
                if (cols < NR) java.util.Arrays.fill(bp, base, base + NR * kc, 0f);
                for (int j = 0; j < cols; j++) {
                    long col = colOff + j * cs;
                    for (int k = 0; k < kc; k++) bp[base + k * NR + j] = b.getAtIndex(JAVA_FLOAT, col + k * rs);
                }
            }
        }
    }

    /** A partial tile: the full kernel on a zero-padded copy, then the valid part copied back. */
    private static void edge(Scratch s, int ao, int bo, int kc, MemorySegment c, long co, long cRs, int mr, int nr) {
        MemorySegment t = s.tile;
        for (int i = 0; i < mr; i++) MemorySegment.copy(c, (co + i * cRs) * 4, t, (long) i * NR * 4, nr * 4L);
        kernel(s.a, ao, s.b, bo, kc, t, 0, NR * 4L);
        for (int i = 0; i < mr; i++) MemorySegment.copy(t, (long) i * NR * 4, c, (co + i * cRs) * 4, nr * 4L);
    }

    /**
     * The micro-kernel: a 6 x (4 vectors) tile of C at byte offset {@code co} (row stride
     * {@code rb} bytes) += the product of an A micro-panel and a B micro-panel of depth kc.
     * Per k: 4 vector loads of B, 6 broadcasts of A, 24 independent FMAs.
     */
    private static void kernel(float[] ap, int ao, float[] bp, int bo, int kc, MemorySegment c, long co, long rb) {
        final long V = (long) L * 4;
        long r = co;
        FloatVector c00 = ld(c, r), c01 = ld(c, r + V), c02 = ld(c, r + 2 * V), c03 = ld(c, r + 3 * V);
        r += rb;
        FloatVector c10 = ld(c, r), c11 = ld(c, r + V), c12 = ld(c, r + 2 * V), c13 = ld(c, r + 3 * V);
        r += rb;
        FloatVector c20 = ld(c, r), c21 = ld(c, r + V), c22 = ld(c, r + 2 * V), c23 = ld(c, r + 3 * V);
        r += rb;
        FloatVector c30 = ld(c, r), c31 = ld(c, r + V), c32 = ld(c, r + 2 * V), c33 = ld(c, r + 3 * V);
        r += rb;
        FloatVector c40 = ld(c, r), c41 = ld(c, r + V), c42 = ld(c, r + 2 * V), c43 = ld(c, r + 3 * V);
        r += rb;
        FloatVector c50 = ld(c, r), c51 = ld(c, r + V), c52 = ld(c, r + 2 * V), c53 = ld(c, r + 3 * V);
        for (int k = 0; k < kc; k++) {
            int bi = bo + k * NR, ai = ao + k * MR;
            FloatVector b0 = FloatVector.fromArray(S, bp, bi);
            FloatVector b1 = FloatVector.fromArray(S, bp, bi + L);
            FloatVector b2 = FloatVector.fromArray(S, bp, bi + 2 * L);
            FloatVector b3 = FloatVector.fromArray(S, bp, bi + 3 * L);
            FloatVector a0 = FloatVector.broadcast(S, ap[ai]);
            c00 = b0.fma(a0, c00); c01 = b1.fma(a0, c01); c02 = b2.fma(a0, c02); c03 = b3.fma(a0, c03);
            FloatVector a1 = FloatVector.broadcast(S, ap[ai + 1]);
            c10 = b0.fma(a1, c10); c11 = b1.fma(a1, c11); c12 = b2.fma(a1, c12); c13 = b3.fma(a1, c13);
            FloatVector a2 = FloatVector.broadcast(S, ap[ai + 2]);
            c20 = b0.fma(a2, c20); c21 = b1.fma(a2, c21); c22 = b2.fma(a2, c22); c23 = b3.fma(a2, c23);
            FloatVector a3 = FloatVector.broadcast(S, ap[ai + 3]);
            c30 = b0.fma(a3, c30); c31 = b1.fma(a3, c31); c32 = b2.fma(a3, c32); c33 = b3.fma(a3, c33);
            FloatVector a4 = FloatVector.broadcast(S, ap[ai + 4]);
            c40 = b0.fma(a4, c40); c41 = b1.fma(a4, c41); c42 = b2.fma(a4, c42); c43 = b3.fma(a4, c43);
            FloatVector a5 = FloatVector.broadcast(S, ap[ai + 5]);
            c50 = b0.fma(a5, c50); c51 = b1.fma(a5, c51); c52 = b2.fma(a5, c52); c53 = b3.fma(a5, c53);
        }
        r = co;
        st(c00, c, r); st(c01, c, r + V); st(c02, c, r + 2 * V); st(c03, c, r + 3 * V); r += rb;
        st(c10, c, r); st(c11, c, r + V); st(c12, c, r + 2 * V); st(c13, c, r + 3 * V); r += rb;
        st(c20, c, r); st(c21, c, r + V); st(c22, c, r + 2 * V); st(c23, c, r + 3 * V); r += rb;
        st(c30, c, r); st(c31, c, r + V); st(c32, c, r + 2 * V); st(c33, c, r + 3 * V); r += rb;
        st(c40, c, r); st(c41, c, r + V); st(c42, c, r + 2 * V); st(c43, c, r + 3 * V); r += rb;
        st(c50, c, r); st(c51, c, r + V); st(c52, c, r + 2 * V); st(c53, c, r + 3 * V);
    }

    private static FloatVector ld(MemorySegment c, long byteOff) {
        return FloatVector.fromMemorySegment(S, c, byteOff, NO);
    }

    private static void st(FloatVector v, MemorySegment c, long byteOff) {
        v.intoMemorySegment(c, byteOff, NO);
    }
}
