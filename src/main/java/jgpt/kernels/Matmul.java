package jgpt.kernels;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * Linear layers as matrix products, forward and backward side by side. A Linear stores its weight
 * as [out, in]; all three products of training reduce to one register-tiled kernel
 * {@code C[M,N] (+)= A[M,K] · B[K,N]} with B's rows contiguous and A read through strides, so no
 * transpose is materialized except the weight panel packed once per forward call.
 *
 * <p>An instance owns its packing scratch; use one per model (not thread-safe across models).
 */
public final class Matmul {
    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    static final int L = S.length();
    static final ByteOrder NO = ByteOrder.nativeOrder();
    /** Rows per micro-tile. */
    private static final int MR = 4;
    /** Columns per micro-tile: four vectors. */
    private static final int NR = 4 * L;
    /** K is processed in blocks so the B panel (KB x NR floats) stays in L2. */
    private static final int KB = 512;

    private final Arena arena = Arena.ofAuto();
    private MemorySegment packed = MemorySegment.NULL;

    // ---------------------------------------------------------------- Linear layer

    /** out[N, OC] = inp[N, C] · w[OC, C]ᵀ + bias[OC] (bias may be null). */
    public void forward(MemorySegment out, MemorySegment inp, MemorySegment w, MemorySegment bias, int N, int C, int OC) {
        MemorySegment wt = transposeToScratch(w, OC, C); // [C, OC]
        if (bias != null) {
            Parallel.forRange(N, 16, (s, e) -> {
                for (int n = s; n < e; n++) MemorySegment.copy(bias, 0, out, (long) n * OC * 4, (long) OC * 4);
            });
        }
        gemm(inp, 0, C, 1, wt, 0, OC, out, 0, OC, N, OC, C, bias != null);
    }

    /**
     * Backward of {@link #forward}: dinp = dout · w (overwritten; skipped when dinp is null),
     * dw += doutᵀ · inp, dbias += column sums of dout (skipped when null).
     */
    public void backward(MemorySegment dinp, MemorySegment dw, MemorySegment dbias,
                         MemorySegment dout, MemorySegment inp, MemorySegment w, int N, int C, int OC) {
        if (dinp != null) gemm(dout, 0, OC, 1, w, 0, C, dinp, 0, C, N, C, OC, false);
        // dw[o, c] += sum_n dout[n, o] * inp[n, c]: A = doutᵀ read with strides (1, OC).
        gemm(dout, 0, 1, OC, inp, 0, C, dw, 0, C, OC, C, N, true);
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

    private MemorySegment transposeToScratch(MemorySegment w, int rows, int cols) {
        long bytes = (long) rows * cols * 4;
        if (packed.byteSize() < bytes) packed = arena.allocate(bytes, 64);
        MemorySegment t = packed;
        // Blocked transpose: 16x16 tiles keep both sides in cache.
        int tilesR = (rows + 15) / 16;
        Parallel.forRange(tilesR, 1, (s, e) -> {
            for (int tr = s; tr < e; tr++) {
                int r0 = tr * 16, r1 = Math.min(rows, r0 + 16);
                for (int c0 = 0; c0 < cols; c0 += 16) {
                    int c1 = Math.min(cols, c0 + 16);
                    for (int r = r0; r < r1; r++) {
                        for (int c = c0; c < c1; c++) {
                            t.setAtIndex(JAVA_FLOAT, (long) c * rows + r, w.getAtIndex(JAVA_FLOAT, (long) r * cols + c));
                        }
                    }
                }
            }
        });
        return t;
    }

    // ---------------------------------------------------------------- GEMM

    /**
     * C[M,N] (+)= A[M,K] · B[K,N], offsets and strides in floats. A(i,k) = a[aOff + i*aRs + k*aCs];
     * B's rows are contiguous with stride bRs; C's rows with stride cRs. Without accumulate C is
     * overwritten. Deterministic: every C element is summed over k in order by one thread.
     */
    public static void gemm(MemorySegment a, long aOff, long aRs, long aCs,
                            MemorySegment b, long bOff, long bRs,
                            MemorySegment c, long cOff, long cRs,
                            int M, int N, int K, boolean accumulate) {
        if (M == 0 || N == 0) return;
        int nBlocks = (N + NR - 1) / NR;
        int mTiles = (M + MR - 1) / MR;
        int want = 4 * Parallel.threads();
        int mChunks = Math.max(1, Math.min(mTiles, (want + nBlocks - 1) / nBlocks));
        Parallel.forRange(nBlocks * mChunks, 1, (s, e) -> {
            for (int task = s; task < e; task++) {
                int jb = task / mChunks, mc = task % mChunks;
                int j0 = jb * NR, nc = Math.min(NR, N - j0);
                int t0 = (int) ((long) mTiles * mc / mChunks), t1 = (int) ((long) mTiles * (mc + 1) / mChunks);
                for (int k0 = 0; k0 < K || k0 == 0; k0 += KB) {
                    int kc = Math.min(KB, K - k0);
                    boolean acc = accumulate || k0 > 0;
                    for (int t = t0; t < t1; t++) {
                        int i0 = t * MR, mr = Math.min(MR, M - i0);
                        long ao = aOff + i0 * aRs + k0 * aCs;
                        long bo = bOff + k0 * bRs + j0;
                        long co = cOff + i0 * cRs + j0;
                        if (mr == MR && nc == NR) {
                            kernel4x4(a, ao, aRs, aCs, b, bo, bRs, c, co, cRs, kc, acc);
                        } else {
                            kernelEdge(a, ao, aRs, aCs, b, bo, bRs, c, co, cRs, mr, nc, kc, acc);
                        }
                    }
                    if (K == 0) break;
                }
            }
        });
    }

    /** The hot 4 x (4 vectors) micro-kernel: 16 accumulators, 4 B loads and 4 A broadcasts per k. */
    private static void kernel4x4(MemorySegment a, long ao, long aRs, long aCs, MemorySegment b, long bo, long bRs,
                                  MemorySegment c, long co, long cRs, int K, boolean acc) {
        long c0 = co * 4, c1 = (co + cRs) * 4, c2 = (co + 2 * cRs) * 4, c3 = (co + 3 * cRs) * 4;
        final long V = (long) L * 4;
        FloatVector x00, x01, x02, x03, x10, x11, x12, x13, x20, x21, x22, x23, x30, x31, x32, x33;
        if (acc) {
            x00 = FloatVector.fromMemorySegment(S, c, c0, NO); x01 = FloatVector.fromMemorySegment(S, c, c0 + V, NO);
            x02 = FloatVector.fromMemorySegment(S, c, c0 + 2 * V, NO); x03 = FloatVector.fromMemorySegment(S, c, c0 + 3 * V, NO);
            x10 = FloatVector.fromMemorySegment(S, c, c1, NO); x11 = FloatVector.fromMemorySegment(S, c, c1 + V, NO);
            x12 = FloatVector.fromMemorySegment(S, c, c1 + 2 * V, NO); x13 = FloatVector.fromMemorySegment(S, c, c1 + 3 * V, NO);
            x20 = FloatVector.fromMemorySegment(S, c, c2, NO); x21 = FloatVector.fromMemorySegment(S, c, c2 + V, NO);
            x22 = FloatVector.fromMemorySegment(S, c, c2 + 2 * V, NO); x23 = FloatVector.fromMemorySegment(S, c, c2 + 3 * V, NO);
            x30 = FloatVector.fromMemorySegment(S, c, c3, NO); x31 = FloatVector.fromMemorySegment(S, c, c3 + V, NO);
            x32 = FloatVector.fromMemorySegment(S, c, c3 + 2 * V, NO); x33 = FloatVector.fromMemorySegment(S, c, c3 + 3 * V, NO);
        } else {
            FloatVector z = FloatVector.zero(S);
            x00 = z; x01 = z; x02 = z; x03 = z; x10 = z; x11 = z; x12 = z; x13 = z;
            x20 = z; x21 = z; x22 = z; x23 = z; x30 = z; x31 = z; x32 = z; x33 = z;
        }
        for (int k = 0; k < K; k++) {
            long bk = (bo + k * bRs) * 4;
            FloatVector b0 = FloatVector.fromMemorySegment(S, b, bk, NO);
            FloatVector b1 = FloatVector.fromMemorySegment(S, b, bk + V, NO);
            FloatVector b2 = FloatVector.fromMemorySegment(S, b, bk + 2 * V, NO);
            FloatVector b3 = FloatVector.fromMemorySegment(S, b, bk + 3 * V, NO);
            long ak = ao + k * aCs;
            FloatVector a0 = FloatVector.broadcast(S, a.getAtIndex(JAVA_FLOAT, ak));
            x00 = b0.fma(a0, x00); x01 = b1.fma(a0, x01); x02 = b2.fma(a0, x02); x03 = b3.fma(a0, x03);
            FloatVector a1 = FloatVector.broadcast(S, a.getAtIndex(JAVA_FLOAT, ak + aRs));
            x10 = b0.fma(a1, x10); x11 = b1.fma(a1, x11); x12 = b2.fma(a1, x12); x13 = b3.fma(a1, x13);
            FloatVector a2 = FloatVector.broadcast(S, a.getAtIndex(JAVA_FLOAT, ak + 2 * aRs));
            x20 = b0.fma(a2, x20); x21 = b1.fma(a2, x21); x22 = b2.fma(a2, x22); x23 = b3.fma(a2, x23);
            FloatVector a3 = FloatVector.broadcast(S, a.getAtIndex(JAVA_FLOAT, ak + 3 * aRs));
            x30 = b0.fma(a3, x30); x31 = b1.fma(a3, x31); x32 = b2.fma(a3, x32); x33 = b3.fma(a3, x33);
        }
        x00.intoMemorySegment(c, c0, NO); x01.intoMemorySegment(c, c0 + V, NO);
        x02.intoMemorySegment(c, c0 + 2 * V, NO); x03.intoMemorySegment(c, c0 + 3 * V, NO);
        x10.intoMemorySegment(c, c1, NO); x11.intoMemorySegment(c, c1 + V, NO);
        x12.intoMemorySegment(c, c1 + 2 * V, NO); x13.intoMemorySegment(c, c1 + 3 * V, NO);
        x20.intoMemorySegment(c, c2, NO); x21.intoMemorySegment(c, c2 + V, NO);
        x22.intoMemorySegment(c, c2 + 2 * V, NO); x23.intoMemorySegment(c, c2 + 3 * V, NO);
        x30.intoMemorySegment(c, c3, NO); x31.intoMemorySegment(c, c3 + V, NO);
        x32.intoMemorySegment(c, c3 + 2 * V, NO); x33.intoMemorySegment(c, c3 + 3 * V, NO);
    }

    /** Edge tiles (fewer than 4 rows or 4 vectors of columns): one masked vector at a time. */
    private static void kernelEdge(MemorySegment a, long ao, long aRs, long aCs, MemorySegment b, long bo, long bRs,
                                   MemorySegment c, long co, long cRs, int mr, int nc, int K, boolean acc) {
        for (int j = 0; j < nc; j += L) {
            VectorMask<Float> m = S.indexInRange(j, nc);
            for (int i = 0; i < mr; i++) {
                long cOffB = (co + i * cRs + j) * 4;
                FloatVector x = acc ? FloatVector.fromMemorySegment(S, c, cOffB, NO, m) : FloatVector.zero(S);
                long ai = ao + i * aRs;
                for (int k = 0; k < K; k++) {
                    FloatVector bv = FloatVector.fromMemorySegment(S, b, (bo + k * bRs + j) * 4, NO, m);
                    x = bv.fma(FloatVector.broadcast(S, a.getAtIndex(JAVA_FLOAT, ai + k * aCs)), x);
                }
                x.intoMemorySegment(c, cOffB, NO, m);
            }
        }
    }
}
