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
        float[] d = new float[(int) n];
        double analytic = 0;
        for (int i = 0; i < n; i++) {
            d[i] = (float) rng.nextGaussian();
            analytic += (double) d[i] * grad.getAtIndex(JAVA_FLOAT, gOff + i);
        }
        float[] orig = new float[(int) n];
        for (int i = 0; i < n; i++) orig[i] = x.getAtIndex(JAVA_FLOAT, off + i);
        for (int i = 0; i < n; i++) x.setAtIndex(JAVA_FLOAT, off + i, (float) (orig[i] + eps * d[i]));
        double plus = f.getAsDouble();
        for (int i = 0; i < n; i++) x.setAtIndex(JAVA_FLOAT, off + i, (float) (orig[i] - eps * d[i]));
        double minus = f.getAsDouble();
        for (int i = 0; i < n; i++) x.setAtIndex(JAVA_FLOAT, off + i, orig[i]);
        return new double[] {(plus - minus) / (2 * eps), analytic};
    }

    public static double relErr(double[] na) {
        return Math.abs(na[0] - na[1]) / Math.max(1e-6, Math.max(Math.abs(na[0]), Math.abs(na[1])));
    }
}
