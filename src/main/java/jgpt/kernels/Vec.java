package jgpt.kernels;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Small vectorized building blocks over float segments; offsets and lengths in floats.
 * <p>
 * Rule for every kernel: a hot loop calls only FloatVector's own methods (annotated to be always
 * inlined) and never one of our methods that takes or returns a vector. C2 declines to inline such
 * a helper often enough (node-count cutoff, "already compiled into a big method", depending on
 * compile order) and then boxes every vector crossing the call: that was up to 1 GB/s of garbage
 * and a several-fold slower loop, varying from run to run. Helpers here are whole loops instead.
 */
public final class Vec {
    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    static final int L = S.length();
    static final ByteOrder NO = ByteOrder.nativeOrder();

    private Vec() {}

    /**
     * End of the whole vectors in [from, to), for {@code for (var end = whole(i, n); i < end; i += L)}
     * and then a scalar tail. Written as {@code i + L <= n} instead, C2 did not make the matvec loop
     * a plain counted one: a 2-row matvec streamed 10 GB/s that way and 12.5 GB/s this way. (The
     * other kernels keep {@code i + L <= n}: switching them all together coincided with training
     * runs that allocated per step, see docs/BENCHMARKS.md.)
     */
    static int whole(int from, int to) {
        return from + S.loopBound(to - from);
    }

    /** sum_i x[xo+i] * y[yo+i]. */
    public static float dot(MemorySegment x, long xo, MemorySegment y, long yo, int n) {
        int i = 0;
        FloatVector acc = FloatVector.zero(S);
        if (n >= 2 * L) {
            FloatVector acc2 = FloatVector.zero(S);
            for (; i + 2 * L <= n; i += 2 * L) {
                acc = FloatVector.fromMemorySegment(S, x, (xo + i) * 4, NO).fma(FloatVector.fromMemorySegment(S, y, (yo + i) * 4, NO), acc);
                acc2 = FloatVector.fromMemorySegment(S, x, (xo + i + L) * 4, NO).fma(FloatVector.fromMemorySegment(S, y, (yo + i + L) * 4, NO), acc2);
            }
            acc = acc.add(acc2);
        }
        for (; i + L <= n; i += L) acc = FloatVector.fromMemorySegment(S, x, (xo + i) * 4, NO).fma(FloatVector.fromMemorySegment(S, y, (yo + i) * 4, NO), acc);
        float s = sum(acc);
        for (; i < n; i++) s += x.getAtIndex(JAVA_FLOAT, xo + i) * y.getAtIndex(JAVA_FLOAT, yo + i);
        return s;
    }

    /** Rotations by 8, 4, 2, 1 lanes: {@link #sum(FloatVector)}'s tree as permutes (constants, so rearrange compiles to one instruction). */
    static final VectorShuffle<Float> ROT8 = VectorShuffle.iota(S, 8, 1, true), ROT4 = VectorShuffle.iota(S, 4, 1, true),
            ROT2 = VectorShuffle.iota(S, 2, 1, true), ROT1 = VectorShuffle.iota(S, 1, 1, true);

    static {
        if (L > 16) throw new ExceptionInInitializerError("Vec.sum handles up to 16 float lanes, species has " + L);
    }

    /**
     * Sum of the lanes as a fixed pairwise tree: lane i plus lane i + L/2, then + L/4, ..., lane 0
     * at the end (for 16 lanes: ((l0+l8)+(l4+l12)) + ((l2+l10)+(l6+l14)) + ...). Unlike
     * {@code reduceLanes(ADD)}, which compiled code may reassociate, this gives the same bits
     * interpreted, in C1 and in C2, so a run that resumes before the JIT warms up still reproduces
     * the original run exactly.
     * <p>
     * Lane extracts: slice()'s shuffle internals were not always intrinsified when inlined deep in
     * a kernel (its Java fallback allocated ~1 GB/s). Four permutes by the constant shuffles below
     * are faster, but using them here, for every kernel (together with new loop bounds everywhere),
     * coincided with training runs that allocated megabytes per step, so only the matvecs, where the
     * per-row reduction matters, write the permute tree inline ({@link Matmul}, {@link MatvecQ8}).
     * (That garbage turned out to be JIT warm-up lag, code not yet compiled by C2, which a longer
     * warm-up removes; see docs/BENCHMARKS.md, "the per-step garbage was JIT warm-up lag".)
     */
    public static float sum(FloatVector v) {
        if (L == 16) {
            float a0 = (v.lane(0) + v.lane(8)) + (v.lane(4) + v.lane(12));
            float a1 = (v.lane(2) + v.lane(10)) + (v.lane(6) + v.lane(14));
            float b0 = (v.lane(1) + v.lane(9)) + (v.lane(5) + v.lane(13));
            float b1 = (v.lane(3) + v.lane(11)) + (v.lane(7) + v.lane(15));
            return (a0 + a1) + (b0 + b1);
        }
        if (L == 8) return ((v.lane(0) + v.lane(4)) + (v.lane(2) + v.lane(6))) + ((v.lane(1) + v.lane(5)) + (v.lane(3) + v.lane(7)));
        if (L == 4) return (v.lane(0) + v.lane(2)) + (v.lane(1) + v.lane(3));
        if (L >= 2) v = v.add(v.rearrange(ROT1));
        return v.lane(0);
    }

    /** Σ x[off+i] for i < n: lanes over vectors in order, then the lane tree, then the tail in order. */
    public static float sum(MemorySegment x, long off, int n) {
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (; i + L <= n; i += L) acc = acc.add(FloatVector.fromMemorySegment(S, x, (off + i) * 4, NO));
        float s = sum(acc);
        for (; i < n; i++) s += x.getAtIndex(JAVA_FLOAT, off + i);
        return s;
    }

    /** y[yo+i] += a * x[xo+i]. */
    public static void axpy(float a, MemorySegment x, long xo, MemorySegment y, long yo, int n) {
        int i = 0;
        FloatVector av = FloatVector.broadcast(S, a);
        for (; i + L <= n; i += L) FloatVector.fromMemorySegment(S, x, (xo + i) * 4, NO).fma(av, FloatVector.fromMemorySegment(S, y, (yo + i) * 4, NO)).intoMemorySegment(y, (yo + i) * 4, NO);
        for (; i < n; i++) y.setAtIndex(JAVA_FLOAT, yo + i, y.getAtIndex(JAVA_FLOAT, yo + i) + a * x.getAtIndex(JAVA_FLOAT, xo + i));
    }

    /** out[i] = a[i] + b[i] over n floats (the residual connection), parallel. */
    public static void add(MemorySegment out, MemorySegment a, MemorySegment b, long n) {
        forChunks(n, (s, e) -> {
            long i = s;
            for (; i + L <= e; i += L) FloatVector.fromMemorySegment(S, a, i * 4, NO).add(FloatVector.fromMemorySegment(S, b, i * 4, NO)).intoMemorySegment(out, i * 4, NO);
            for (; i < e; i++) out.setAtIndex(JAVA_FLOAT, i, a.getAtIndex(JAVA_FLOAT, i) + b.getAtIndex(JAVA_FLOAT, i));
        });
    }

    /** y[i] += x[i] over n floats, parallel. */
    public static void addInto(MemorySegment y, MemorySegment x, long n) {
        add(y, y, x, n);
    }

    /** sum of squares over [from, to), in double. */
    public static double sumSquares(MemorySegment x, long from, long to) {
        double total = 0;
        long i = from;
        while (i < to) {
            // Accumulate float vectors over short runs, then fold into double to bound rounding.
            long end = Math.min(to, i + 4096);
            FloatVector acc = FloatVector.zero(S);
            for (; i + L <= end; i += L) {
                FloatVector v = FloatVector.fromMemorySegment(S, x, i * 4, NO);
                acc = v.fma(v, acc);
            }
            double s = sum(acc);
            for (; i < end; i++) {
                float v = x.getAtIndex(JAVA_FLOAT, i);
                s += (double) v * v;
            }
            total += s;
        }
        return total;
    }

    /** Row maximum: vector lanes, then a scalar tail (max is exact in any order). */
    public static float max(MemorySegment x, long off, int n) {
        FloatVector mx = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        int i = 0;
        for (; i + L <= n; i += L) mx = mx.max(FloatVector.fromMemorySegment(S, x, (off + i) * 4, NO));
        float m = mx.reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) m = Math.max(m, x.getAtIndex(JAVA_FLOAT, off + i));
        return m;
    }

    /** Zeros to copy from: {@link #zero} clears memory in copies of up to this many bytes. */
    private static final MemorySegment ZEROS = java.lang.foreign.Arena.global().allocate(16 << 10, 64);

    /**
     * x[i] = 0 over [from, to), as bulk copies from a block of zeros. Not {@code x.asSlice(..).fill(0)},
     * which makes a slice object per call that C2's escape analysis removed in most compilations of
     * the calling kernel but not all (16 MB sampled in one run, from a row loop in attention
     * backward).
     */
    public static void zero(MemorySegment x, long from, long to) {
        for (long off = from * 4, end = to * 4; off < end; off += ZEROS.byteSize()) {
            MemorySegment.copy(ZEROS, 0, x, off, Math.min(ZEROS.byteSize(), end - off));
        }
    }

    /** x[i] *= a over [from, to). */
    public static void scale(MemorySegment x, long from, long to, float a) {
        FloatVector av = FloatVector.broadcast(S, a);
        long i = from;
        for (; i + L <= to; i += L) FloatVector.fromMemorySegment(S, x, i * 4, NO).mul(av).intoMemorySegment(x, i * 4, NO);
        for (; i < to; i++) x.setAtIndex(JAVA_FLOAT, i, x.getAtIndex(JAVA_FLOAT, i) * a);
    }

    /** Bits of 2^n from the bits of (n + 1.5·2^23) shifted up 23: adds the exponent bias 127, drops the magic number. */
    private static final int POW2_BIAS = (127 - 0x4B400000) << 23;

    /**
     * out[oo+i] = e^(x[xo+i] - shift) for i < n (out may be x). e^x is Cephes' expf: x = n·ln2 + r
     * with |r| <= ln2/2, a degree-6 polynomial for e^r (about 1 ulp), then 2^n built from the
     * exponent bits. Made of exact IEEE operations only, so (unlike {@code lanewise(EXP)}, whose
     * compiled and interpreted forms differ) it gives the same bits in every JIT tier. Inputs are
     * clamped to [-87.3, 88.3]: below, the result is ~1e-38 instead of 0, which no softmax sum can
     * notice.
     * <p>
     * This loop is the only vector exp: kernels call it on a row or an L1-sized block rather than
     * an exp(FloatVector) helper from their own loops, because C2 often declines to inline such a
     * helper (node-count cutoff, "already compiled into a big method") and then boxes every vector
     * passed to it, which cost ~1 GB/s of garbage and most of the loop's speed. For the same
     * reason the loop carries no vector from one iteration to the next (a running sum here was
     * boxed on every iteration in some compilations; callers sum {@code out} afterwards with
     * {@link #sum(MemorySegment, long, int)}, the same order), and constants are hoisted.
     */
    public static void expShifted(MemorySegment x, long xo, float shift, MemorySegment out, long oo, int n) {
        expShifted(x, xo, shift, 1f, out, oo, n); // x * 1f is x: the same bits as without the scale
    }

    /**
     * out[oo+i] = e^(x[xo+i] - shift) · scale, rounded after the exp and again after the product:
     * the same bits as {@link #expShifted(MemorySegment, long, float, MemorySegment, long, int)}
     * followed by a pass of {@link #scale}, in one pass.
     */
    public static void expShifted(MemorySegment x, long xo, float shift, float scale, MemorySegment out, long oo, int n) {
        FloatVector sc = FloatVector.broadcast(S, scale);
        FloatVector sv = FloatVector.broadcast(S, shift), lo = FloatVector.broadcast(S, -87.3f), hi = FloatVector.broadcast(S, 88.3f);
        FloatVector log2e = FloatVector.broadcast(S, 1.44269504088896341f), magic = FloatVector.broadcast(S, 12582912f);
        FloatVector ln2hi = FloatVector.broadcast(S, -0.693359375f), ln2lo = FloatVector.broadcast(S, 2.12194440e-4f);
        FloatVector p0 = FloatVector.broadcast(S, 1.9875691500e-4f), p1 = FloatVector.broadcast(S, 1.3981999507e-3f);
        FloatVector p2 = FloatVector.broadcast(S, 8.3334519073e-3f), p3 = FloatVector.broadcast(S, 4.1665795894e-2f);
        FloatVector p4 = FloatVector.broadcast(S, 1.6666665459e-1f), p5 = FloatVector.broadcast(S, 5.0000001201e-1f);
        FloatVector one = FloatVector.broadcast(S, 1f);
        IntVector bias = IntVector.broadcast(IntVector.SPECIES_PREFERRED, POW2_BIAS);
        int i = 0;
        for (; i + L <= n; i += L) {
            FloatVector v = FloatVector.fromMemorySegment(S, x, (xo + i) * 4, NO).sub(sv).max(lo).min(hi);
            FloatVector t = v.mul(log2e).add(magic); // n + 1.5·2^23, n = round(v / ln2)
            FloatVector fx = t.sub(magic);
            FloatVector r = fx.mul(ln2hi).add(v).add(fx.mul(ln2lo));
            FloatVector p = r.mul(p0).add(p1);
            p = p.mul(r).add(p2);
            p = p.mul(r).add(p3);
            p = p.mul(r).add(p4);
            p = p.mul(r).add(p5);
            p = p.mul(r.mul(r)).add(r).add(one);
            FloatVector pow2n = ((IntVector) t.reinterpretAsInts()).lanewise(VectorOperators.LSHL, 23).add(bias).reinterpretAsFloats();
            p.mul(pow2n).mul(sc).intoMemorySegment(out, (oo + i) * 4, NO);
        }
        expTail(x, xo, shift, scale, out, oo, i, n);
    }

    /** The scalar tail of expShifted, [i, n); its own method to keep expShifted small for C2. */
    private static void expTail(MemorySegment x, long xo, float shift, float scale, MemorySegment out, long oo, int i, int n) {
        for (; i < n; i++) out.setAtIndex(JAVA_FLOAT, oo + i, exp(x.getAtIndex(JAVA_FLOAT, xo + i) - shift) * scale);
    }

    /**
     * The e^x of {@link #expShifted}, one lane in scalar code: the identical sequence of IEEE
     * float operations, so it gives the same bits. For the last few elements of a row, which would
     * otherwise need masked vectors (whose C2 fallback allocates) or a copy through an array.
     */
    public static float exp(float x) {
        x = Math.min(Math.max(x, -87.3f), 88.3f);
        float t = x * 1.44269504088896341f + 12582912f;
        float fx = t - 12582912f;
        float r = fx * -0.693359375f + x + fx * 2.12194440e-4f;
        float p = r * 1.9875691500e-4f + 1.3981999507e-3f;
        p = p * r + 8.3334519073e-3f;
        p = p * r + 4.1665795894e-2f;
        p = p * r + 1.6666665459e-1f;
        p = p * r + 5.0000001201e-1f;
        p = p * (r * r) + r + 1f;
        return p * Float.intBitsToFloat((Float.floatToRawIntBits(t) << 23) + POW2_BIAS);
    }

    /** Floats in each thread's {@link #scratch()}: 4 KiB, so a block streamed through it stays in L1. */
    static final int SCRATCH_FLOATS = 1024;
    private static final ThreadLocal<MemorySegment> SCRATCH =
            ThreadLocal.withInitial(() -> java.lang.foreign.Arena.ofAuto().allocate(SCRATCH_FLOATS * 4L, 64));

    /** This thread's scratch block for multi-pass kernels (GELU, SwiGLU, cross-entropy); callers must not nest. */
    static MemorySegment scratch() {
        return SCRATCH.get();
    }

    @FunctionalInterface
    interface LongRange {
        void run(long start, long end);
    }

    /** Parallel over [0, n) in vector-aligned chunks. */
    static void forChunks(long n, LongRange body) {
        long blocks = (n + 4095) / 4096;
        if (blocks <= 1 || blocks > Integer.MAX_VALUE) {
            body.run(0, n);
            return;
        }
        Parallel.forRange((int) blocks, 4, (s, e) -> body.run(s * 4096L, Math.min(n, e * 4096L)));
    }
}
