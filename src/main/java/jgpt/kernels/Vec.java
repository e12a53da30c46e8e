package jgpt.kernels;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/** Small vectorized building blocks over float segments; offsets and lengths in floats. */
public final class Vec {
    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    static final int L = S.length();
    static final ByteOrder NO = ByteOrder.nativeOrder();

    static {
        if (L > 16) throw new ExceptionInInitializerError("Vec.sum handles up to 16 float lanes, species has " + L);
    }

    private Vec() {}

    static FloatVector load(MemorySegment m, long i) {
        return FloatVector.fromMemorySegment(S, m, i * 4, NO);
    }

    static void store(FloatVector v, MemorySegment m, long i) {
        v.intoMemorySegment(m, i * 4, NO);
    }

    /** sum_i x[xo+i] * y[yo+i]. */
    public static float dot(MemorySegment x, long xo, MemorySegment y, long yo, int n) {
        int i = 0;
        FloatVector acc = FloatVector.zero(S);
        if (n >= 2 * L) {
            FloatVector acc2 = FloatVector.zero(S);
            for (; i + 2 * L <= n; i += 2 * L) {
                acc = load(x, xo + i).fma(load(y, yo + i), acc);
                acc2 = load(x, xo + i + L).fma(load(y, yo + i + L), acc2);
            }
            acc = acc.add(acc2);
        }
        for (; i + L <= n; i += L) acc = load(x, xo + i).fma(load(y, yo + i), acc);
        float s = sum(acc);
        for (; i < n; i++) s += x.getAtIndex(JAVA_FLOAT, xo + i) * y.getAtIndex(JAVA_FLOAT, yo + i);
        return s;
    }

    /**
     * Sum of the lanes as a fixed pairwise tree. Unlike {@code reduceLanes(ADD)}, which compiled
     * code may reassociate, this gives the same bits interpreted, in C1 and in C2, so a run that
     * resumes before the JIT warms up still reproduces the original run exactly. Handles up to
     * 16 lanes (512-bit vectors, the widest on x86; checked at class load).
     */
    public static float sum(FloatVector v) {
        if (L > 8) v = v.add(v.slice(8));
        if (L > 4) v = v.add(v.slice(4));
        if (L > 2) v = v.add(v.slice(2));
        if (L > 1) v = v.add(v.slice(1));
        return v.lane(0);
    }

    /** y[yo+i] += a * x[xo+i]. */
    public static void axpy(float a, MemorySegment x, long xo, MemorySegment y, long yo, int n) {
        int i = 0;
        FloatVector av = FloatVector.broadcast(S, a);
        for (; i + L <= n; i += L) store(load(x, xo + i).fma(av, load(y, yo + i)), y, yo + i);
        for (; i < n; i++) y.setAtIndex(JAVA_FLOAT, yo + i, y.getAtIndex(JAVA_FLOAT, yo + i) + a * x.getAtIndex(JAVA_FLOAT, xo + i));
    }

    /** out[i] = a[i] + b[i] over n floats (the residual connection), parallel. */
    public static void add(MemorySegment out, MemorySegment a, MemorySegment b, long n) {
        forChunks(n, (s, e) -> {
            long i = s;
            for (; i + L <= e; i += L) store(load(a, i).add(load(b, i)), out, i);
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
                FloatVector v = load(x, i);
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

    /** x[i] *= a over [from, to). */
    public static void scale(MemorySegment x, long from, long to, float a) {
        FloatVector av = FloatVector.broadcast(S, a);
        long i = from;
        for (; i + L <= to; i += L) store(load(x, i).mul(av), x, i);
        for (; i < to; i++) x.setAtIndex(JAVA_FLOAT, i, x.getAtIndex(JAVA_FLOAT, i) * a);
    }

    /**
     * e^x per lane, Cephes' expf: x = n·ln2 + r with |r| <= ln2/2, a degree-6 polynomial for e^r
     * (about 1 ulp), then 2^n by building the float's exponent bits. Made of exact IEEE operations
     * only, so (unlike {@code lanewise(EXP)}, whose compiled and interpreted forms differ) it gives
     * the same bits in every JIT tier. Inputs are clamped to [-87.3, 88.3]: below, the result is
     * ~1e-38 instead of 0, which no softmax sum can notice.
     */
    public static FloatVector exp(FloatVector x) {
        x = x.max(-87.3f).min(88.3f);
        FloatVector fx = x.mul(1.44269504088896341f).add(12582912f).sub(12582912f); // round(x / ln2)
        FloatVector r = fx.mul(-0.693359375f).add(x).add(fx.mul(2.12194440e-4f));
        FloatVector p = r.mul(1.9875691500e-4f).add(1.3981999507e-3f);
        p = p.mul(r).add(8.3334519073e-3f);
        p = p.mul(r).add(4.1665795894e-2f);
        p = p.mul(r).add(1.6666665459e-1f);
        p = p.mul(r).add(5.0000001201e-1f);
        p = p.mul(r.mul(r)).add(r).add(1f);
        FloatVector pow2n = ((IntVector) fx.convert(VectorOperators.F2I, 0)).add(127).lanewise(VectorOperators.LSHL, 23)
                .reinterpretAsFloats();
        return p.mul(pow2n);
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
