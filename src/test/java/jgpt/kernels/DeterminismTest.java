package jgpt.kernels;

import static jgpt.kernels.Segs.arr;
import static jgpt.kernels.Segs.randn;
import static jgpt.kernels.Segs.seg;
import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Same inputs twice with 2+ worker threads → bit-identical outputs (exact resume depends on it). */
class DeterminismTest {
    private final int saved = Parallel.threads();

    @AfterEach
    void restoreThreads() {
        Parallel.setThreads(saved);
    }

    private static float[][] run() {
        Random r = new Random(11);
        int N = 130, C = 96, OC = 200, B = 2, T = 70, NH = 3, Cq = 48;
        float[] x = randn(r, N * C), w = randn(r, OC * C), dout = randn(r, N * OC), qkv = randn(r, B * T * 3 * Cq), da = randn(r, B * T * Cq);
        Matmul mm = new Matmul();
        MemorySegment out = seg(new float[N * OC]), dinp = seg(new float[N * C]), dw = seg(new float[OC * C]), db = seg(new float[OC]);
        mm.forward(out, seg(x), seg(w), seg(new float[OC]), N, C, OC);
        mm.backward(dinp, dw, db, seg(dout), seg(x), seg(w), N, C, OC);
        MemorySegment ao = seg(new float[B * T * Cq]), att = seg(new float[B * NH * T * T]), dq = seg(new float[B * T * 3 * Cq]);
        Attention.forward(ao, att, seg(qkv), B, T, Cq, NH);
        Attention.backward(dq, seg(da), seg(qkv), att, B, T, Cq, NH);
        MemorySegment lo = seg(new float[N * C]), m = seg(new float[N]), rs = seg(new float[N]), dx = seg(new float[N * C]), lw = seg(new float[C]);
        LayerNorm.forward(lo, m, rs, seg(x), seg(w), null, N, C);
        LayerNorm.backward(dx, lw, null, seg(x), seg(x), seg(w), m, rs, N, C);
        return new float[][] {arr(out, N * OC), arr(dinp, N * C), arr(dw, OC * C), arr(db, OC),
                arr(ao, B * T * Cq), arr(dq, B * T * 3 * Cq), arr(lo, N * C), arr(dx, N * C), arr(lw, C)};
    }

    @Test
    void repeatedRunsAreBitIdenticalWithTwoAndThreeThreads() {
        for (int threads : new int[] {2, 3}) {
            Parallel.setThreads(threads);
            float[][] a = run(), b = run();
            for (int i = 0; i < a.length; i++) assertThat(b[i]).as("output %d, %d threads", i, threads).containsExactly(a[i]);
        }
    }

    @Test
    void gemmResultDoesNotDependOnThreadCount() {
        Parallel.setThreads(1);
        float[][] one = run();
        Parallel.setThreads(2);
        float[][] two = run();
        for (int i = 0; i < 4; i++) assertThat(two[i]).as("matmul output %d", i).containsExactly(one[i]);
    }

    /**
     * A tall A goes through Gemm's shared-B path (row blocks taken one at a time by whichever thread
     * is free, K over two blocks): C's bits must not depend on the thread count or on which thread
     * took which block.
     */
    @Test
    void sharedBGemmDoesNotDependOnThreadCount() {
        Random r = new Random(9);
        int M = 300, N = 70, K = 600;
        float[] a = randn(r, M * K), b = randn(r, K * N), c0 = randn(r, M * N);
        float[][] got = new float[4][];
        for (int threads = 1; threads <= 3; threads++) {
            Parallel.setThreads(threads);
            MemorySegment c = seg(c0);
            Matmul.gemm(seg(a), 0, K, 1, seg(b), 0, N, 1, c, 0, N, M, N, K, true);
            got[threads] = arr(c, M * N);
        }
        assertThat(got[2]).containsExactly(got[1]);
        assertThat(got[3]).containsExactly(got[1]);
    }

    /**
     * The decode matvecs (f32 and Q8_0) split rows into chunks and each chunk into four distant
     * streams; a row's bits must not depend on where it falls (thread count, matrix height, the
     * 1-3 leftover rows).
     */
    @Test
    void matvecRowDoesNotDependOnSplitOrThreadCount() {
        Random r = new Random(5);
        int C = 77, OC = 263; // C: 4 whole vectors + a tail; OC: 65 groups of 4 + 3 leftover rows
        float[] x = randn(r, C), w = randn(r, OC * C), b = randn(r, OC);
        MemorySegment xs = seg(x), ws = seg(w), bs = seg(b);
        float[] alone = new float[OC];
        for (int o = 0; o < OC; o++) {
            MemorySegment one = seg(new float[1]);
            Matmul.matvec(one, 0, xs, 0, ws.asSlice((long) o * C * 4), bs.asSlice(o * 4L), C, 1);
            alone[o] = arr(one, 1)[0];
        }
        for (int threads : new int[] {1, 2, 3}) {
            Parallel.setThreads(threads);
            MemorySegment out = seg(new float[OC]);
            Matmul.matvec(out, 0, xs, 0, ws, bs, C, OC);
            assertThat(arr(out, OC)).as("%d threads", threads).containsExactly(alone);
        }
        int cols = 2 * Q8Tensor.BLOCK;
        Q8Tensor q = Q8Tensor.quantize(seg(randn(r, OC * cols)), OC, cols, Arena.ofAuto());
        MemorySegment xq = seg(randn(r, cols));
        float[] aloneQ = new float[OC];
        for (int o = 0; o < OC; o++) {
            MemorySegment one = seg(new float[1]);
            Q8Tensor row = new Q8Tensor(1, cols, q.q().asSlice((long) o * cols, cols), q.scales().asSlice(o * 2L * 4, 2L * 4));
            MatvecQ8.matvec(one, 0, row, xq, 0);
            aloneQ[o] = arr(one, 1)[0];
        }
        for (int threads : new int[] {1, 2, 3}) {
            Parallel.setThreads(threads);
            MemorySegment out = seg(new float[OC]);
            MatvecQ8.matvec(out, 0, q, xq, 0);
            assertThat(arr(out, OC)).as("Q8_0, %d threads", threads).containsExactly(aloneQ);
        }
    }
}
