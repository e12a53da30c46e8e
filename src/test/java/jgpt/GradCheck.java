package jgpt;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.MemorySegment;
import java.util.function.DoubleSupplier;
import jgpt.util.Rng;

/**
 * Central finite differences along a random direction: compares (f(x+εd) − f(x−εd)) / 2ε with the
 * analytic directional derivative g·d. A direction over a whole tensor sums many gradient entries,
 * so the signal stands far above float32 rounding in f, which plain per-element differences do not.
 */
public final class GradCheck {
    private GradCheck() {}

    /** Returns {numeric, analytic} directional derivatives of f w.r.t. x[off, off+n). */
    public static double[] directional(MemorySegment x, long off, long n, MemorySegment grad, long gOff,
                                       DoubleSupplier f, double eps, Rng rng) {
        float[] d = direction(n, rng);
        return new double[] {quotient(x, off, d, f, eps), analytic(d, grad, gOff)};
    }

    /**
     * Like {@link #directional}, with the central quotient extrapolated (Richardson) from steps h
     * and 2h along the same direction: (4·D(h) − D(2h)) / 3 cancels the h² truncation term, so h
     * can be large enough that float32 rounding in f (its noise divided by 2h) stays small too.
     */
    public static double[] directionalExtrapolated(MemorySegment x, long off, long n, MemorySegment grad, long gOff,
                                                   DoubleSupplier f, double h, Rng rng) {
        float[] d = direction(n, rng);
        double numeric = (4 * quotient(x, off, d, f, h) - quotient(x, off, d, f, 2 * h)) / 3;
        return new double[] {numeric, analytic(d, grad, gOff)};
    }

    private static float[] direction(long n, Rng rng) {
        float[] d = new float[(int) n];
        for (int i = 0; i < n; i++) d[i] = (float) rng.nextGaussian();
        return d;
    }

    private static double analytic(float[] d, MemorySegment grad, long gOff) {
        double sum = 0;
        for (int i = 0; i < d.length; i++) sum += (double) d[i] * grad.getAtIndex(JAVA_FLOAT, gOff + i);
        return sum;
    }

    /** (f(x+εd) − f(x−εd)) / 2ε, leaving x as it was. */
    private static double quotient(MemorySegment x, long off, float[] d, DoubleSupplier f, double eps) {
        int n = d.length;
        float[] orig = new float[n];
        for (int i = 0; i < n; i++) orig[i] = x.getAtIndex(JAVA_FLOAT, off + i);
        for (int i = 0; i < n; i++) x.setAtIndex(JAVA_FLOAT, off + i, (float) (orig[i] + eps * d[i]));
        double plus = f.getAsDouble();
        for (int i = 0; i < n; i++) x.setAtIndex(JAVA_FLOAT, off + i, (float) (orig[i] - eps * d[i]));
        double minus = f.getAsDouble();
        for (int i = 0; i < n; i++) x.setAtIndex(JAVA_FLOAT, off + i, orig[i]);
        return (plus - minus) / (2 * eps);
    }

    public static double relErr(double[] na) {
        return Math.abs(na[0] - na[1]) / Math.max(1e-6, Math.max(Math.abs(na[0]), Math.abs(na[1])));
    }
}
