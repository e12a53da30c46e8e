package jgpt.kernels;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static jgpt.kernels.Vec.L;
import static jgpt.kernels.Vec.NO;
import static jgpt.kernels.Vec.S;
import static jgpt.kernels.Vec.load;
import static jgpt.kernels.Vec.store;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;

/** LayerNorm over the last dimension C (eps 1e-5), forward and backward. Bias may be null. */
public final class LayerNorm {
    public static final float EPS = 1e-5f;

    private LayerNorm() {}

    /** out = (x - mean) * rstd * w + b per row; saves mean and rstd [N] for backward. */
    public static void forward(MemorySegment out, MemorySegment mean, MemorySegment rstd, MemorySegment x,
                               MemorySegment w, MemorySegment b, int N, int C) {
        Parallel.forRange(N, 8, (s, e) -> {
            for (int n = s; n < e; n++) {
                long r = (long) n * C;
                float m = sum(x, r, C) / C;
                float var = sumSqDev(x, r, C, m) / C;
                float rs = (float) (1.0 / Math.sqrt(var + EPS));
                mean.setAtIndex(JAVA_FLOAT, n, m);
                rstd.setAtIndex(JAVA_FLOAT, n, rs);
                FloatVector mv = FloatVector.broadcast(S, m), rv = FloatVector.broadcast(S, rs);
                int c = 0;
                for (; c + L <= C; c += L) {
                    FloatVector y = load(x, r + c).sub(mv).mul(rv).mul(load(w, c));
                    if (b != null) y = y.add(load(b, c));
                    store(y, out, r + c);
                }
                for (; c < C; c++) {
                    float y = (x.getAtIndex(JAVA_FLOAT, r + c) - m) * rs * w.getAtIndex(JAVA_FLOAT, c);
                    if (b != null) y += b.getAtIndex(JAVA_FLOAT, c);
                    out.setAtIndex(JAVA_FLOAT, r + c, y);
                }
            }
        });
    }

    /**
     * dx += gradient through the normalization; dw += Σ dout·x̂ and db += Σ dout (db may be null).
     * Rows are split across threads for dx and columns for dw/db, so no two threads sum into the
     * same element.
     */
    public static void backward(MemorySegment dx, MemorySegment dw, MemorySegment db, MemorySegment dout,
                                MemorySegment x, MemorySegment w, MemorySegment mean, MemorySegment rstd, int N, int C) {
        Parallel.forRange(N, 8, (s, e) -> {
            for (int n = s; n < e; n++) backwardRow(dx, dout, x, w, mean.getAtIndex(JAVA_FLOAT, n), rstd.getAtIndex(JAVA_FLOAT, n), (long) n * C, C);
        });
        Parallel.forRange((C + L - 1) / L, 1, (s, e) -> {
            for (int c = s * L; c < Math.min(C, e * L); c += L) {
                if (c + L <= C) paramGrads(dw, db, dout, x, mean, rstd, N, C, c);
                else paramGradsTail(dw, db, dout, x, mean, rstd, N, C, c);
            }
        });
    }

    /**
     * One row of dx. Full vectors are unmasked (masked vector ops fell back to allocating Java code
     * in C2); a partial last vector (C not a multiple of L) is masked, whose zero lanes add nothing,
     * so the bits are the same as an all-masked loop.
     */
    private static void backwardRow(MemorySegment dx, MemorySegment dout, MemorySegment x, MemorySegment w,
                                    float mean, float rstd, long r, int C) {
        FloatVector m = FloatVector.broadcast(S, mean);
        FloatVector rs = FloatVector.broadcast(S, rstd);
        // means over the row of g = w·dout and of g·x̂
        FloatVector sg = FloatVector.zero(S), sgx = FloatVector.zero(S);
        int c = 0;
        for (; c + L <= C; c += L) {
            FloatVector g = load(w, c).mul(load(dout, r + c));
            sg = sg.add(g);
            sgx = g.fma(load(x, r + c).sub(m).mul(rs), sgx);
        }
        if (c < C) {
            VectorMask<Float> k = S.indexInRange(c, C);
            FloatVector g = loadM(w, c, k).mul(loadM(dout, r + c, k));
            sg = sg.add(g);
            sgx = g.fma(loadM(x, r + c, k).sub(m).mul(rs), sgx);
        }
        FloatVector meanG = FloatVector.broadcast(S, Vec.sum(sg) / C), meanGX = FloatVector.broadcast(S, Vec.sum(sgx) / C);
        c = 0;
        for (; c + L <= C; c += L) {
            FloatVector g = load(w, c).mul(load(dout, r + c));
            FloatVector xh = load(x, r + c).sub(m).mul(rs);
            FloatVector d = g.sub(meanG).sub(xh.mul(meanGX)).mul(rs);
            store(load(dx, r + c).add(d), dx, r + c);
        }
        if (c < C) {
            VectorMask<Float> k = S.indexInRange(c, C);
            FloatVector g = loadM(w, c, k).mul(loadM(dout, r + c, k));
            FloatVector xh = loadM(x, r + c, k).sub(m).mul(rs);
            FloatVector d = g.sub(meanG).sub(xh.mul(meanGX)).mul(rs);
            loadM(dx, r + c, k).add(d).intoMemorySegment(dx, (r + c) * 4, NO, k);
        }
    }

    /** dw, db for the L columns [c, c+L), summed over the N rows in order. */
    private static void paramGrads(MemorySegment dw, MemorySegment db, MemorySegment dout, MemorySegment x,
                                   MemorySegment mean, MemorySegment rstd, int N, int C, int c) {
        FloatVector aw = load(dw, c), ab = db != null ? load(db, c) : FloatVector.zero(S);
        for (int n = 0; n < N; n++) {
            long r = (long) n * C;
            FloatVector d = load(dout, r + c);
            FloatVector xh = load(x, r + c).sub(mean.getAtIndex(JAVA_FLOAT, n)).mul(rstd.getAtIndex(JAVA_FLOAT, n));
            aw = d.fma(xh, aw);
            ab = ab.add(d);
        }
        store(aw, dw, c);
        if (db != null) store(ab, db, c);
    }

    private static void paramGradsTail(MemorySegment dw, MemorySegment db, MemorySegment dout, MemorySegment x,
                                       MemorySegment mean, MemorySegment rstd, int N, int C, int c) {
        VectorMask<Float> k = S.indexInRange(c, C);
        FloatVector aw = loadM(dw, c, k), ab = db != null ? loadM(db, c, k) : null;
        for (int n = 0; n < N; n++) {
            long r = (long) n * C;
            FloatVector d = loadM(dout, r + c, k);
            FloatVector xh = loadM(x, r + c, k).sub(mean.getAtIndex(JAVA_FLOAT, n)).mul(rstd.getAtIndex(JAVA_FLOAT, n));
            aw = d.fma(xh, aw);
            if (ab != null) ab = ab.add(d);
        }
        aw.intoMemorySegment(dw, (long) c * 4, NO, k);
        if (ab != null) ab.intoMemorySegment(db, (long) c * 4, NO, k);
    }

    private static FloatVector loadM(MemorySegment m, long i, VectorMask<Float> mask) {
        return FloatVector.fromMemorySegment(S, m, i * 4, NO, mask);
    }

    static float sum(MemorySegment x, long off, int n) {
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (; i + L <= n; i += L) acc = acc.add(load(x, off + i));
        float s = Vec.sum(acc);
        for (; i < n; i++) s += x.getAtIndex(JAVA_FLOAT, off + i);
        return s;
    }

    private static float sumSqDev(MemorySegment x, long off, int n, float m) {
        FloatVector acc = FloatVector.zero(S), mv = FloatVector.broadcast(S, m);
        int i = 0;
        for (; i + L <= n; i += L) {
            FloatVector d = load(x, off + i).sub(mv);
            acc = d.fma(d, acc);
        }
        float s = Vec.sum(acc);
        for (; i < n; i++) {
            float d = x.getAtIndex(JAVA_FLOAT, off + i) - m;
            s += d * d;
        }
        return s;
    }
}
