package jgpt.kernels;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static jgpt.kernels.Vec.L;
import static jgpt.kernels.Vec.S;
import static jgpt.kernels.Vec.load;
import static jgpt.kernels.Vec.store;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

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
            for (int n = s; n < e; n++) {
                long r = (long) n * C;
                float m = mean.getAtIndex(JAVA_FLOAT, n), rs = rstd.getAtIndex(JAVA_FLOAT, n);
                // mean of (w*dout) and of (w*dout*xhat) over the row
                float sumG = 0, sumGX = 0;
                for (int c = 0; c < C; c++) {
                    float g = w.getAtIndex(JAVA_FLOAT, c) * dout.getAtIndex(JAVA_FLOAT, r + c);
                    float xh = (x.getAtIndex(JAVA_FLOAT, r + c) - m) * rs;
                    sumG += g;
                    sumGX += g * xh;
                }
                float meanG = sumG / C, meanGX = sumGX / C;
                for (int c = 0; c < C; c++) {
                    float g = w.getAtIndex(JAVA_FLOAT, c) * dout.getAtIndex(JAVA_FLOAT, r + c);
                    float xh = (x.getAtIndex(JAVA_FLOAT, r + c) - m) * rs;
                    long i = r + c;
                    dx.setAtIndex(JAVA_FLOAT, i, dx.getAtIndex(JAVA_FLOAT, i) + (g - meanG - xh * meanGX) * rs);
                }
            }
        });
        Parallel.forRange(C, L, (s, e) -> {
            for (int n = 0; n < N; n++) {
                long r = (long) n * C;
                float m = mean.getAtIndex(JAVA_FLOAT, n), rs = rstd.getAtIndex(JAVA_FLOAT, n);
                for (int c = s; c < e; c++) {
                    float d = dout.getAtIndex(JAVA_FLOAT, r + c);
                    float xh = (x.getAtIndex(JAVA_FLOAT, r + c) - m) * rs;
                    dw.setAtIndex(JAVA_FLOAT, c, dw.getAtIndex(JAVA_FLOAT, c) + d * xh);
                    if (db != null) db.setAtIndex(JAVA_FLOAT, c, db.getAtIndex(JAVA_FLOAT, c) + d);
                }
            }
        });
    }

    static float sum(MemorySegment x, long off, int n) {
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (; i + L <= n; i += L) acc = acc.add(load(x, off + i));
        float s = acc.reduceLanes(VectorOperators.ADD);
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
        float s = acc.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            float d = x.getAtIndex(JAVA_FLOAT, off + i) - m;
            s += d * d;
        }
        return s;
    }
}
