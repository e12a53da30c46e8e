package jgpt;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

import java.lang.foreign.MemorySegment;

/** How tests compare jgpt tensors with reference values. */
public final class TensorCompare {
    private TensorCompare() {}

    /**
     * max|got − ref| / max|ref| over a tensor: judged on the tensor's scale, so entries that pass
     * near zero do not blow up the error.
     */
    public static double relErr(float[] got, float[] ref) {
        double maxDiff = 0, maxRef = 0;
        for (int i = 0; i < ref.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs((double) got[i] - ref[i]));
            maxRef = Math.max(maxRef, Math.abs(ref[i]));
        }
        return maxDiff / Math.max(maxRef, 1e-30);
    }

    /** The first {@code rows} rows of a [rows', cols] segment with row stride {@code stride} (drops vocabulary padding). */
    public static float[] rows(MemorySegment seg, int rows, int cols, int stride) {
        float[] out = new float[rows * cols];
        for (int r = 0; r < rows; r++) MemorySegment.copy(seg, JAVA_FLOAT, (long) r * stride * 4, out, r * cols, cols);
        return out;
    }
}
