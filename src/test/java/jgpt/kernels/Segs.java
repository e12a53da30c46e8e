package jgpt.kernels;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;

/** Test helpers: random off-heap float buffers and copies back to arrays. */
final class Segs {
    /** Unit roundoff of float32. */
    static final double U = 0x1p-24;

    private Segs() {}

    static float[] randn(Random r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) r.nextGaussian();
        return a;
    }

    static MemorySegment seg(float[] a) {
        MemorySegment m = Arena.ofAuto().allocate(Math.max(4L, a.length * 4L), 64);
        MemorySegment.copy(a, 0, m, JAVA_FLOAT, 0, a.length);
        return m;
    }

    static float[] arr(MemorySegment m, int n) {
        float[] a = new float[n];
        MemorySegment.copy(m, JAVA_FLOAT, 0, a, 0, n);
        return a;
    }
}
