package jgpt.kernels;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** Transpose's register shuffles move each element exactly once to its place and touch nothing else. */
class TransposeTest {
    @Test
    void block16MirrorsTheBlockAtAnyOffsetAndStride() {
        assumeTrue(Transpose.AVAILABLE, "needs 16-float vectors");
        Random r = new Random(16);
        int so = 5, ld = 37, dof = 3, dld = 21;
        float[] src = new float[so + 15 * ld + 16 + 7];
        for (int i = 0; i < src.length; i++) src[i] = r.nextFloat();
        float[] dst = new float[dof + 15 * dld + 16 + 9];
        java.util.Arrays.fill(dst, -1f);
        Transpose.block16(src, so, ld, dst, dof, dld);
        for (int k = 0; k < 16; k++) {
            for (int j = 0; j < 16; j++) {
                assertThat(dst[dof + k * dld + j]).as("dst(%d,%d)", k, j).isEqualTo(src[so + j * ld + k]);
            }
        }
        int written = 0;
        for (float v : dst) if (v != -1f) written++;
        assertThat(written).as("elements written").isEqualTo(256);
    }

    @Test
    void rows6InterleavesSixRowsIntoGroupsOfSix() {
        assumeTrue(Transpose.AVAILABLE, "needs 16-float vectors");
        Random r = new Random(6);
        int so = 3, ld = 29, dof = 7;
        float[] src = new float[so + 5 * ld + 16 + 5];
        for (int i = 0; i < src.length; i++) src[i] = r.nextFloat();
        float[] dst = new float[dof + 96 + 11];
        java.util.Arrays.fill(dst, -1f);
        Transpose.rows6(src, so, ld, dst, dof);
        for (int k = 0; k < 16; k++) {
            for (int i = 0; i < 6; i++) {
                assertThat(dst[dof + 6 * k + i]).as("dst(%d,%d)", k, i).isEqualTo(src[so + i * ld + k]);
            }
        }
        int written = 0;
        for (float v : dst) if (v != -1f) written++;
        assertThat(written).as("elements written").isEqualTo(96);
    }
}
