package jgpt.kernels;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static jgpt.kernels.Vec.L;
import static jgpt.kernels.Vec.NO;
import static jgpt.kernels.Vec.S;

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
                float m = Vec.sum(x, r, C) / C;
                float var = sumSqDev(x, r, C, m) / C;
                float rs = (float) (1.0 / Math.sqrt(var + EPS));
                mean.setAtIndex(JAVA_FLOAT, n, m);
                rstd.setAtIndex(JAVA_FLOAT, n, rs);
                FloatVector mv = FloatVector.broadcast(S, m), rv = FloatVector.broadcast(S, rs);
                int c = 0;
                for (; c + L <= C; c += L) {
                    FloatVector y = FloatVector.fromMemorySegment(S, x, (r + c) * 4, NO).sub(mv).mul(rv).mul(FloatVector.fromMemorySegment(S, w, c * 4, NO));
                    if (b != null) y = y.add(FloatVector.fromMemorySegment(S, b, c * 4, NO));
                    y.intoMemorySegment(out, (r + c) * 4, NO);
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
            FloatVector g = FloatVector.fromMemorySegment(S, w, c * 4, NO).mul(FloatVector.fromMemorySegment(S, dout, (r + c) * 4, NO));
            sg = sg.add(g);
            sgx = g.fma(FloatVector.fromMemorySegment(S, x, (r + c) * 4, NO).sub(m).mul(rs), sgx);
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
            FloatVector g = FloatVector.fromMemorySegment(S, w, c * 4, NO).mul(FloatVector.fromMemorySegment(S, dout, (r + c) * 4, NO));
            FloatVector xh = FloatVector.fromMemorySegment(S, x, (r + c) * 4, NO).sub(m).mul(rs);
            FloatVector d = g.sub(meanG).sub(xh.mul(meanGX)).mul(rs);
            FloatVector.fromMemorySegment(S, dx, (r + c) * 4, NO).add(d).intoMemorySegment(dx, (r + c) * 4, NO);
        }
        if (c < C) {
            VectorMask<Float> k = S.indexInRange(c, C);
            FloatVector g = loadM(w, c, k).mul(loadM(dout, r + c, k));
            FloatVector xh = loadM(x, r + c, k).sub(m).mul(rs);
            FloatVector d = g.sub(meanG).sub(xh.mul(meanGX)).mul(rs);
            loadM(dx, r + c, k).add(d).intoMemorySegment(dx, (r + c) * 4, NO, k);
        }
    }

    /**
     * dw, db for the L columns [c, c+L), summed over the N rows in order with Kahan compensation:
     * db = Σ dout is a sum of terms that mostly cancel, so plain float sums left it with relative
     * errors that Adam carried into visibly different biases when the rows were split across ranks.
     */
    private static void paramGrads(MemorySegment dw, MemorySegment db, MemorySegment dout, MemorySegment x,
                                   MemorySegment mean, MemorySegment rstd, int N, int C, int c) {
        FloatVector aw = FloatVector.fromMemorySegment(S, dw, c * 4, NO), ab = db != null ? FloatVector.fromMemorySegment(S, db, c * 4, NO) : FloatVector.zero(S);
        FloatVector cw = FloatVector.zero(S), cb = FloatVector.zero(S);
        for (int n = 0; n < N; n++) {
            long r = (long) n * C;
            FloatVector d = FloatVector.fromMemorySegment(S, dout, (r + c) * 4, NO);
            FloatVector xh = FloatVector.fromMemorySegment(S, x, (r + c) * 4, NO).sub(mean.getAtIndex(JAVA_FLOAT, n)).mul(rstd.getAtIndex(JAVA_FLOAT, n));
            FloatVector yw = d.mul(xh).sub(cw), tw = aw.add(yw);
            cw = tw.sub(aw).sub(yw);
            aw = tw;
            FloatVector yb = d.sub(cb), tb = ab.add(yb);
            cb = tb.sub(ab).sub(yb);
            ab = tb;
        }
        aw.intoMemorySegment(dw, c * 4, NO);
        if (db != null) ab.intoMemorySegment(db, c * 4, NO);
    }

    private static void paramGradsTail(MemorySegment dw, MemorySegment db, MemorySegment dout, MemorySegment x,
                                       MemorySegment mean, MemorySegment rstd, int N, int C, int c) {
        for (; c < C; c++) {
            float aw = dw.getAtIndex(JAVA_FLOAT, c), ab = db != null ? db.getAtIndex(JAVA_FLOAT, c) : 0f, cw = 0f, cb = 0f;
            for (int n = 0; n < N; n++) {
                long r = (long) n * C;
                float d = dout.getAtIndex(JAVA_FLOAT, r + c);
                float xh = (x.getAtIndex(JAVA_FLOAT, r + c) - mean.getAtIndex(JAVA_FLOAT, n)) * rstd.getAtIndex(JAVA_FLOAT, n);
                float yw = d * xh - cw, tw = aw + yw;
                cw = tw - aw - yw;
                aw = tw;
                float yb = d - cb, tb = ab + yb;
                cb = tb - ab - yb;
                ab = tb;
            }
            dw.setAtIndex(JAVA_FLOAT, c, aw);
            if (db != null) db.setAtIndex(JAVA_FLOAT, c, ab);
        }
    }

    private static FloatVector loadM(MemorySegment m, long i, VectorMask<Float> mask) {
        return FloatVector.fromMemorySegment(S, m, i * 4, NO, mask);
    }

    private static float sumSqDev(MemorySegment x, long off, int n, float m) {
        FloatVector acc = FloatVector.zero(S), mv = FloatVector.broadcast(S, m);
        int i = 0;
        for (; i + L <= n; i += L) {
            FloatVector d = FloatVector.fromMemorySegment(S, x, (off + i) * 4, NO).sub(mv);
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
