package jgpt.kernels;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static jgpt.kernels.Vec.NO;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.concurrent.atomic.AtomicInteger;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Single-precision GEMM {@code C[M,N] (+)= A[M,K] · B[K,N]}, BLIS style. A and B are read through
 * arbitrary row/column strides (so transposes cost nothing extra); C's rows are contiguous. K is cut
 * into equal blocks of at most KC; a kc x NC block of B and an MC x kc block of A are packed into per-thread heap
 * scratch in micro-panel order, and a 6 x (4 vectors) micro-kernel keeps 24 accumulators in
 * registers (AVX-512 has 32), reading both panels contiguously.
 *
 * <p>Deterministic and independent of the thread count: each C element is produced by one thread,
 * summed over k in ascending order (one fused multiply-add per k), whatever the split.
 */
final class Gemm {
    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    static final int L = S.length();
    static final int MR = 6;
    static final int NR = 4 * L;
    /**
     * Deepest K block: C is read and written once per K block, so deeper is better while the
     * KC x NR B micro-panel (192 KiB) stays in L2 as MC/MR A micro-panels stream past it. 512
     * against 256: 1.03-1.14x at 2048³ (same-JVM alternating pairs; C's bits do not depend on the
     * blocking, the FMA chain of each element runs through C in k order). See kBlock for how K is cut.
     */
    static final int KC = 768;
    /**
     * K cut into equal blocks of at most KC: the 124M layers' K = 768 is one block, not 512 + 256
     * (the 256 block paid a full pass of C tile copies for half the work), K = 3072 four of 768.
     * Against fixed 512-deep blocks, same JVM, alternating: the K = 768 forward products 1.02-1.11x
     * (LM head 1.04-1.11x), K = 3072 1.04-1.12x, 2048³ 1.02-1.04x; K = 1024 (still two blocks) unchanged.
     */
    static int kBlock(int K) {
        int blocks = kBlocks(K);
        return (K + blocks - 1) / blocks;
    }

    private static int kBlocks(int K) {
        return (K + KC - 1) / KC;
    }
    /** The packed A block (MC x KC floats, 360 KiB) stays in L2. */
    static final int MC = 20 * MR;
    /** Columns per packed B block; larger means A is repacked less often. */
    static final int NC = 2048;
    /** sharedB takes products whose A has at least this many micro-panels per thread. */
    private static final int SHARED_B_MIN_PANELS_PER_THREAD = 16;
    /**
     * sharedB makes a parallel call (a join and a few small objects) per packed B block; it takes
     * products with at most this many B blocks, or with N in one block whatever K (the LM head's
     * input gradient, K = 50304 in 66 blocks: 0.93-1.07x, median 1.05x, in five alternating runs
     * against the fixed split by rows, where each thread packed all of B). The LM head's forward
     * (N = 50304 in 25 blocks) takes its column blocks one at a time instead: 1.05-1.09x in five.
     */
    private static final int MAX_SHARED_B_BLOCKS = 8;
    /** Below this many multiply-adds a split over threads costs more than it saves. */
    private static final long PARALLEL_MIN_WORK = 1L << 18;

    private Gemm() {}

    /** Per-thread packing buffers, allocated once per worker thread. */
    private static final class Scratch {
        final float[] a = new float[MC * KC];
        /** MR rows of A as read from memory, before packA transposes them. */
        final float[] rows = new float[MR * KC];
        /** NR columns of B as read from memory, before packB transposes them. */
        final float[] cols = new float[NR * (KC + 32)];
        /** Packed B, from its first element on a 64-byte line on (see aligned). */
        final float[] b = new float[KC * NC + ALIGN_FLOATS];
        /** The C tile the micro-kernel works on (MR rows of NR floats): copied in from C and back out. */
        final float[] tile = new float[MR * NR + ALIGN_FLOATS];
        /** b and tile as segments, made once: one per lookup of their address was 290 KiB of garbage a step. */
        final MemorySegment bSeg = MemorySegment.ofArray(b), tileSeg = MemorySegment.ofArray(tile);
        /** sharedB: B micro-panels of the current block packed so far, when this thread is the caller. */
        final AtomicInteger packed = new AtomicInteger();
        /** sharedB: the row blocks' first panels, when this thread is the caller; grown to the tallest A seen. */
        int[] bounds = new int[1];
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /**
     * The kernel's vector loads of B and of the C tile are 64-byte loads from heap arrays, whose
     * elements the JVM places 8-byte aligned: most of those loads straddled two cache lines. From
     * the first element on a 64-byte boundary (found through the array's address, which a GC may
     * change, so it is looked up per call): 2048³ 1.04-1.06x on two threads, 1.11x on one; the LM
     * head's three products 1.02-1.16x; the layers' products ~1.0-1.1x (same JVM, the two orders
     * alternating; same bits).
     */
    private static final int ALIGN_FLOATS = 16;
    /** memset(p, 0, 0) returns p: a critical downcall with a heap segment gives the array's address. */
    private static final MethodHandle MEMSET = memset();

    private static MethodHandle memset() {
        try {
            Linker linker = Linker.nativeLinker();
            return linker.downcallHandle(linker.defaultLookup().find("memset").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.ADDRESS, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG),
                    Linker.Option.critical(true));
        } catch (RuntimeException e) {
            return null; // no address: unaligned, as correct
        }
    }

    /** The first float index of the heap segment {@code x} whose element starts a 64-byte line (0 if unknown). */
    private static int aligned(MemorySegment x) {
        if (MEMSET == null) return 0;
        try {
            long address = (long) MEMSET.invokeExact(x, 0, 0L);
            return (int) ((-address & 63) >> 2);
        } catch (Throwable e) {
            return 0;
        }
    }

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
        int nBlocks = (N + NC - 1) / NC;
        if (mPanels >= threads * SHARED_B_MIN_PANELS_PER_THREAD && (nBlocks == 1 || (long) nBlocks * kBlocks(K) <= MAX_SHARED_B_BLOCKS)) {
            sharedB(a, aOff, aRs, aCs, b, bOff, bRs, bCs, c, cOff, cRs, M, N, K, accumulate, threads);
            return;
        }
        boolean splitN = nPanels * NR >= mPanels * MR ? nPanels >= threads || mPanels < threads : nPanels >= mPanels;
        if (splitN && nBlocks > threads) {
            // Many column blocks (the LM head's logits): one part per NC block, claimed as threads
            // come free; each part packs its B block and all of A, as serial does per block anyway.
            Parallel.forEach(nBlocks, (s, e) -> {
                for (int p = s; p < e; p++) {
                    serial(a, aOff, aRs, aCs, b, bOff, bRs, bCs, c, cOff, cRs, 0, M, p * NC, Math.min(N, (p + 1) * NC), K, accumulate);
                }
            });
            return;
        }
        // Few rows and columns: one part per thread along the longer side (whole micro-panels), so
        // each part packs only its share of that side's operand.
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

    /**
     * The threads share each packed B block and take A's row blocks one at a time as they come
     * free, each packing its own A block: a thread on a core that runs slower takes fewer blocks.
     * Cutting C into one fixed part per thread instead left the faster core waiting at the end of
     * every call: 2048³ on two threads ran 1.15-1.19x faster this way in noisy minutes, 1.00-1.05x
     * in quiet ones (same JVM, alternating, same bits). Blocks shrink as the rows run out (guided
     * scheduling): a block is 1/(2·threads) of the panels left, at most MC rows and at least two
     * panels, so a thread that finds no block left waits for at most a small one. Against equal
     * blocks (8 per thread): 124M layer products 1.010-1.015x geomean in three alternating runs.
     * <p>
     * One parallel call per B block: its first tasks pack B's micro-panels (into the caller's
     * scratch), the rest compute row blocks once every panel is packed. Tasks are claimed in
     * order, so by the time a thread waits for the packing, every packing task is already running.
     * K > 0 here (gemm sends products with no work to serial).
     */
    private static void sharedB(MemorySegment a, long aOff, long aRs, long aCs, MemorySegment b, long bOff, long bRs, long bCs,
                                MemorySegment c, long cOff, long cRs, int M, int N, int K, boolean accumulate, int threads) {
        int mPanels = (M + MR - 1) / MR;
        Scratch caller = SCRATCH.get();
        if (caller.bounds.length < mPanels + 1) caller.bounds = new int[mPanels + 1];
        int[] bounds = caller.bounds; // block k is panels [bounds[k], bounds[k + 1])
        int blocks = 0;
        for (int p = 0; p < mPanels; ) {
            p = Math.min(mPanels, p + Math.min(MC / MR, Math.max(2, (mPanels - p + 2 * threads - 1) / (2 * threads))));
            bounds[++blocks] = p;
        }
        float[] bp = caller.b;
        int b0 = aligned(caller.bSeg);
        AtomicInteger packed = caller.packed;
        for (int jc = 0; jc < N; jc += NC) {
            int nc = Math.min(NC, N - jc), nq = (nc + NR - 1) / NR, jcf = jc;
            for (int pc = 0, kb = kBlock(K); pc < K; pc += kb) {
                int kc = Math.min(kb, K - pc), pcf = pc;
                long bo = bOff + pc * bRs + jc * bCs;
                packed.set(0);
                Parallel.forEach(nq + blocks, (t0, t1) -> {
                    for (int t = t0; t < t1; t++) {
                        if (t < nq) {
                            packB(b, bo, bRs, bCs, kc, nc, bp, b0, t, t + 1);
                            packed.incrementAndGet();
                            continue;
                        }
                        for (int spins = 0; packed.get() < nq; spins++) {
                            if (spins < 1 << 14) Thread.onSpinWait();
                            else Thread.yield(); // the packing thread was descheduled: give it the core
                        }
                        int k = t - nq;
                        int m0 = bounds[k] * MR, m1 = Math.min(M, bounds[k + 1] * MR);
                        Scratch s = SCRATCH.get();
                        packA(a, aOff + m0 * aRs + pcf * aCs, aRs, aCs, m1 - m0, kc, s);
                        macro(s, bp, b0, m1 - m0, nc, kc, c, cOff + m0 * cRs + jcf, cRs, !accumulate && pcf == 0);
                    }
                });
            }
        }
    }

    /** C rows [m0, m1) x columns [n0, n1) on the calling thread; for callers already in parallel. */
    static void serial(MemorySegment a, long aOff, long aRs, long aCs, MemorySegment b, long bOff, long bRs, long bCs,
                       MemorySegment c, long cOff, long cRs, int m0, int m1, int n0, int n1, int K, boolean accumulate) {
        serial(a, aOff, aRs, aCs, b, bOff, bRs, bCs, c, cOff, cRs, m0, m1, n0, n1, K, accumulate, UNMASKED);
    }

    /** A plain product. The masks below are attention's causal triangles, with rows, columns and depth all positions. */
    static final int UNMASKED = 0;
    /** Only C[i, j] with j <= i is wanted: tiles wholly above the diagonal are skipped (C there is left as it was). */
    static final int BELOW_DIAGONAL = 1;
    /** A[i, k] = 0 for k > i (probabilities, score gradients): a row panel's depth stops after its last row. */
    static final int A_LOWER = 2;
    /** A[i, k] = 0 for k < i (their transposes): a row panel's depth starts at its first row. */
    static final int A_UPPER = 3;

    /**
     * serial under a causal mask: a whole head's product in one call, each operand packed once,
     * with the work the mask makes zero left out. Skipped depth only ever multiplies zeros of A,
     * and fma(0, b, c) is c, so the products are those of the unmasked call.
     */
    static void serial(MemorySegment a, long aOff, long aRs, long aCs, MemorySegment b, long bOff, long bRs, long bCs,
                       MemorySegment c, long cOff, long cRs, int m0, int m1, int n0, int n1, int K, boolean accumulate, int mask) {
        if (m1 <= m0 || n1 <= n0) return;
        if (K <= 0) {
            if (!accumulate) for (int i = m0; i < m1; i++) Vec.zero(c, cOff + i * cRs + n0, cOff + i * cRs + n1);
            return;
        }
        Scratch s = SCRATCH.get();
        int b0 = aligned(s.bSeg);
        for (int jc = n0; jc < n1; jc += NC) {
            int nc = Math.min(NC, n1 - jc);
            for (int pc = 0, kb = kBlock(K); pc < K; pc += kb) {
                int kc = Math.min(kb, K - pc);
                packB(b, bOff + pc * bRs + jc * bCs, bRs, bCs, kc, nc, s.b, b0, 0, (nc + NR - 1) / NR);
                for (int ic = m0; ic < m1; ic += MC) {
                    int mc = Math.min(MC, m1 - ic);
                    boolean fresh = !accumulate && pc == 0;
                    if (mask == UNMASKED) {
                        packA(a, aOff + ic * aRs + pc * aCs, aRs, aCs, mc, kc, s);
                        macro(s, s.b, b0, mc, nc, kc, c, cOff + ic * cRs + jc, cRs, fresh);
                        continue;
                    }
                    // Rows [ic, ic + mc) read no depth past their last row under A_LOWER, none before
                    // their first under A_UPPER: pack only what they read.
                    int kcA = mask == A_LOWER ? Math.min(kc, Math.max(0, ic + mc - pc)) : kc;
                    int from = mask == A_UPPER ? Math.min(kc, Math.max(0, ic - pc)) : 0;
                    if (kcA == 0 && !fresh) continue;
                    packA(a, aOff + ic * aRs + pc * aCs, aRs, aCs, mc, from, kcA, s);
                    masked(s, s.b, b0, mc, nc, kc, kcA, c, cOff + ic * cRs + jc, cRs, fresh, mask, ic, jc, pc);
                }
            }
        }
    }

    /**
     * The packed A block in s.a (mc rows) times the packed B block bp (nc columns, from b0), added into C at
     * co; with {@code fresh} (an overwriting GEMM's first K block) the tiles start from zeros
     * instead of C.
     */
    private static void macro(Scratch s, float[] bp, int b0, int mc, int nc, int kc, MemorySegment c, long co, long cRs, boolean fresh) {
        int t0 = aligned(s.tileSeg);
        for (int jr = 0; jr < nc; jr += NR) {
            int nr = Math.min(NR, nc - jr);
            for (int ir = 0; ir < mc; ir += MR) {
                int mr = Math.min(MR, mc - ir);
                tile(s, bp, ir * kc, b0 + jr * kc, kc, c, co + ir * cRs + jr, cRs, mr, nr, fresh, t0);
            }
        }
    }

    /**
     * macro under a mask: A's panels have depth kcA (B's kc); the block's first row, column and
     * depth are positions row0, col0 and depth0. A tile that the mask leaves nothing to add is
     * skipped, unless it must still be written as zeros ({@code fresh}). Apart from macro so the
     * unmasked products' loop carries no mask branches (C2 deoptimizes a compiled loop when a
     * branch its profile never saw taken turns up: see AdamW's update).
     */
    private static void masked(Scratch s, float[] bp, int b0, int mc, int nc, int kc, int kcA, MemorySegment c, long co, long cRs,
                               boolean fresh, int mask, int row0, int col0, int depth0) {
        int t0 = aligned(s.tileSeg);
        for (int jr = 0; jr < nc; jr += NR) {
            int nr = Math.min(NR, nc - jr);
            for (int ir = 0; ir < mc; ir += MR) {
                int mr = Math.min(MR, mc - ir), first = row0 + ir, last = first + mr - 1;
                int k0 = 0, k1 = kcA;
                if (mask == BELOW_DIAGONAL) {
                    if (col0 + jr > last) continue;
                } else if (mask == A_LOWER) {
                    k1 = Math.min(kcA, Math.max(0, last + 1 - depth0));
                } else {
                    k0 = Math.min(kc, Math.max(0, first - depth0));
                }
                if (k1 <= k0 && !fresh) continue;
                k1 = Math.max(k0, k1);
                tile(s, bp, ir * kcA + k0 * MR, b0 + jr * kc + k0 * NR, k1 - k0, c, co + ir * cRs + jr, cRs, mr, nr, fresh, t0);
            }
        }
    }

    /**
     * Packs A rows into MR-row micro-panels of MR*kc floats at p*MR*kc, k-major: element (i, k) at
     * k*MR + i, so the micro-kernel reads its MR values of A for each k at constant offsets (with
     * the layout a runtime stride, C2 kept six bounds checks and an imul in the k loop). When A's
     * rows are contiguous in k (cs == 1) they are bulk-copied first and transposed from the heap
     * copy; a transposed A (contiguous in i, rs == 1) is MR plain loads per k, and
     * any other strides are read element by element. Short panels are zero-padded.
     */
    private static void packA(MemorySegment a, long off, long rs, long cs, int mc, int kc, Scratch s) {
        packA(a, off, rs, cs, mc, 0, kc, s);
    }

    /** packA of depth [from, kc) only (the panels keep depth kc; what comes before from is left as it was). */
    private static void packA(MemorySegment a, long off, long rs, long cs, int mc, int from, int kc, Scratch s) {
        float[] ap = s.a, tmp = s.rows;
        for (int p = 0; p * MR < mc; p++) {
            int rows = Math.min(MR, mc - p * MR), base = p * MR * kc;
            if (rows < MR) java.util.Arrays.fill(ap, base, base + MR * kc, 0f);
            long rowOff = off + (long) p * MR * rs;
            if (cs == 1) {
                for (int i = 0; i < rows; i++) MemorySegment.copy(a, JAVA_FLOAT, (rowOff + i * rs + from) * 4, tmp, i * kc + from, kc - from);
                int k0 = from;
                if (rows == MR && MR == 6 && Transpose.AVAILABLE) {
                    for (; k0 + 16 <= kc; k0 += 16) Transpose.rows6(tmp, k0, kc, ap, base + k0 * MR);
                }
                for (int i = 0; i < rows; i++) {
                    for (int k = k0; k < kc; k++) ap[base + k * MR + i] = tmp[i * kc + k];
                }
            } else if (rs == 1 && rows == MR) {
                // A transposed A (the weight gradient's doutᵀ): the MR neighbours of each k are
                // contiguous, one cache line per k. Six plain loads per k, not a 6-float
                // MemorySegment.copy: 1.2 against 3.3 ns a float at the LM head's 201 KB stride
                // (0.6 against 0.9 at 3 KB), the copy's call leaving fewer line misses in flight.
                for (int k = from; k < kc; k++) {
                    long r = rowOff + k * cs;
                    int d = base + k * MR;
                    ap[d] = a.getAtIndex(JAVA_FLOAT, r);
                    ap[d + 1] = a.getAtIndex(JAVA_FLOAT, r + 1);
                    ap[d + 2] = a.getAtIndex(JAVA_FLOAT, r + 2);
                    ap[d + 3] = a.getAtIndex(JAVA_FLOAT, r + 3);
                    ap[d + 4] = a.getAtIndex(JAVA_FLOAT, r + 4);
                    ap[d + 5] = a.getAtIndex(JAVA_FLOAT, r + 5);
                }
            } else {
                for (int k = from; k < kc; k++) {
                    long r = rowOff + k * cs;
                    for (int i = 0; i < rows; i++) ap[base + k * MR + i] = a.getAtIndex(JAVA_FLOAT, r + i * rs);
                }
            }
        }
    }

    /**
     * Packs B columns into NR-column micro-panels q0 to q1 - 1: element (k, j) of panel q at b0 + q*NR*kc + k*NR + j;
     * short panels zero-padded. Rows contiguous in j are bulk copies, no vector code: the masked
     * vector loads used here before were compiled with a failed intrinsic in some JVM runs
     * (PrintInlining: {@code FloatVector$FBinOp::apply (virtual call)} in packB), and then every
     * load allocated. Columns contiguous in k (B read transposed: every forward's weight, attention's
     * Kᵀ) are bulk-copied into the heap and transposed there in 16 x 16 register blocks: 2.3-2.5
     * ns an element before (one element at a time from the segment), 0.56-0.64 after (a 2048 x 768
     * weight, one thread, same JVM).
     */
    private static void packB(MemorySegment b, long off, long rs, long cs, int kc, int nc, float[] bp, int b0, int q0, int q1) {
        for (int q = q0; q < q1; q++) {
            int cols = Math.min(NR, nc - q * NR), base = b0 + q * NR * kc;
            long colOff = off + (long) q * NR * cs;
            if (cols < NR) java.util.Arrays.fill(bp, base, base + NR * kc, 0f);
            if (cs == 1) {
                for (int k = 0; k < kc; k++) MemorySegment.copy(b, JAVA_FLOAT, (colOff + k * rs) * 4, bp, base + k * NR, cols);
            } else if (rs == 1) {
                // Columns contiguous in k (a weight read transposed, Kᵀ in attention): each column is
                // one bulk copy into the heap, transposed from there.
                float[] tmp = SCRATCH.get().cols;
                int ld = colStride(kc), k0 = 0;
                for (int j = 0; j < cols; j++) MemorySegment.copy(b, JAVA_FLOAT, (colOff + j * cs) * 4, tmp, j * ld, kc);
                if (cols == NR && Transpose.AVAILABLE) {
                    for (; k0 + 16 <= kc; k0 += 16) {
                        for (int j0 = 0; j0 < NR; j0 += 16) Transpose.block16(tmp, j0 * ld + k0, ld, bp, base + k0 * NR + j0, NR);
                    }
                }
                for (int k = k0; k < kc; k++) {
                    int d = base + k * NR;
                    for (int j = 0; j < cols; j++) bp[d + j] = tmp[j * ld + k];
                }
            } else {
                for (int j = 0; j < cols; j++) {
                    long col = colOff + j * cs;
                    for (int k = 0; k < kc; k++) bp[base + k * NR + j] = b.getAtIndex(JAVA_FLOAT, col + k * rs);
                }
            }
        }
    }

    /**
     * Row stride of the columns packB copies out: an odd number of cache lines, so the NR
     * elements its scalar loop reads per k fall into NR different L1 sets (at kc = 768, 48 lines
     * apart, they shared 4 sets: 1.03 ns an element against 0.75).
     */
    private static int colStride(int kc) {
        int ld = (kc + 15) & ~15;
        return (ld / 16) % 2 == 0 ? ld + 16 : ld;
    }

    /**
     * C tile (mr x nr at float offset co, row stride cRs) += A micro-panel (in s.a) · B micro-panel (in bp): copied
     * into the heap tile from t0 on (or zeros, when {@code fresh}), the micro-kernel, copied back (for a
     * partial tile, only its valid part; the rest of the tile holds garbage that is never written
     * out). Working on a heap array keeps the kernel small enough for C2 to inline every vector
     * load and store: with MemorySegment accesses it hit NodeCountInliningCutoff and boxed all 24
     * accumulators on every call. The "fresh" branch stays out here: one in the kernel let C2
     * deoptimize it and never recompile it (~2 GFLOPS). fma(a, b, +0) is a*b rounded, as when C
     * was zeroed first: same bits. Not zeroing C first saves a write pass over it: the LM head's
     * forward (logits, K one block) 1.03x on two threads.
     */
    private static void tile(Scratch s, float[] bp, int ao, int bo, int kc, MemorySegment c, long co, long cRs, int mr, int nr,
                             boolean fresh, int t0) {
        float[] t = s.tile;
        if (fresh) {
            FloatVector zero = FloatVector.zero(S);
            for (int i = t0; i < t0 + MR * NR; i += L) zero.intoArray(t, i);
        } else if (nr == NR) {
            for (int i = 0; i < mr; i++) {
                for (int j = 0; j < NR; j += L) FloatVector.fromMemorySegment(S, c, (co + i * cRs + j) * 4, NO).intoArray(t, t0 + i * NR + j);
            }
        } else {
            for (int i = 0; i < mr; i++) MemorySegment.copy(c, JAVA_FLOAT, (co + i * cRs) * 4, t, t0 + i * NR, nr);
        }
        kernel(s.a, ao, bp, bo, kc, t, t0);
        for (int i = 0; i < mr; i++) MemorySegment.copy(t, t0 + i * NR, c, JAVA_FLOAT, (co + i * cRs) * 4, nr);
    }

    /**
     * The micro-kernel: the 6 x (4 vectors) tile at t0 in t (row stride NR) += the product of an A
     * micro-panel (element (i, k) at ao + k*MR + i) and a B micro-panel of depth kc. Per k: 4
     * vector loads of B, 6 broadcasts of A, 24 independent FMAs.
     */
    private static void kernel(float[] ap, int ao, float[] bp, int bo, int kc, float[] t, int t0) {
        FloatVector c00 = ld(t, t0), c01 = ld(t, t0 + L), c02 = ld(t, t0 + 2 * L), c03 = ld(t, t0 + 3 * L);
        FloatVector c10 = ld(t, t0 + NR), c11 = ld(t, t0 + NR + L), c12 = ld(t, t0 + NR + 2 * L), c13 = ld(t, t0 + NR + 3 * L);
        FloatVector c20 = ld(t, t0 + 2 * NR), c21 = ld(t, t0 + 2 * NR + L), c22 = ld(t, t0 + 2 * NR + 2 * L), c23 = ld(t, t0 + 2 * NR + 3 * L);
        FloatVector c30 = ld(t, t0 + 3 * NR), c31 = ld(t, t0 + 3 * NR + L), c32 = ld(t, t0 + 3 * NR + 2 * L), c33 = ld(t, t0 + 3 * NR + 3 * L);
        FloatVector c40 = ld(t, t0 + 4 * NR), c41 = ld(t, t0 + 4 * NR + L), c42 = ld(t, t0 + 4 * NR + 2 * L), c43 = ld(t, t0 + 4 * NR + 3 * L);
        FloatVector c50 = ld(t, t0 + 5 * NR), c51 = ld(t, t0 + 5 * NR + L), c52 = ld(t, t0 + 5 * NR + 2 * L), c53 = ld(t, t0 + 5 * NR + 3 * L);
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
        c00.intoArray(t, t0); c01.intoArray(t, t0 + L); c02.intoArray(t, t0 + 2 * L); c03.intoArray(t, t0 + 3 * L);
        c10.intoArray(t, t0 + NR); c11.intoArray(t, t0 + NR + L); c12.intoArray(t, t0 + NR + 2 * L); c13.intoArray(t, t0 + NR + 3 * L);
        c20.intoArray(t, t0 + 2 * NR); c21.intoArray(t, t0 + 2 * NR + L); c22.intoArray(t, t0 + 2 * NR + 2 * L); c23.intoArray(t, t0 + 2 * NR + 3 * L);
        c30.intoArray(t, t0 + 3 * NR); c31.intoArray(t, t0 + 3 * NR + L); c32.intoArray(t, t0 + 3 * NR + 2 * L); c33.intoArray(t, t0 + 3 * NR + 3 * L);
        c40.intoArray(t, t0 + 4 * NR); c41.intoArray(t, t0 + 4 * NR + L); c42.intoArray(t, t0 + 4 * NR + 2 * L); c43.intoArray(t, t0 + 4 * NR + 3 * L);
        c50.intoArray(t, t0 + 5 * NR); c51.intoArray(t, t0 + 5 * NR + L); c52.intoArray(t, t0 + 5 * NR + 2 * L); c53.intoArray(t, t0 + 5 * NR + 3 * L);
    }

    private static FloatVector ld(float[] t, int i) {
        return FloatVector.fromArray(S, t, i);
    }
}
