package jgpt.kernels;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/**
 * Each Llama kernel's backward against central finite differences of L = Σ out·r (r random), so
 * dL/dout = r. Kernels run in float32, so h = 1e-2 and a tolerance of 1e-2 of the largest gradient.
 */
class LlamaKernelsGradientTest {
    final Arena arena = Arena.ofAuto();
    final Random rnd = new Random(7);

    MemorySegment rand(int n, double scale, double shift) {
        MemorySegment m = arena.allocate(n * 4L, 64);
        for (int i = 0; i < n; i++) m.setAtIndex(JAVA_FLOAT, i, (float) (shift + scale * rnd.nextGaussian()));
        return m;
    }

    static double dot(MemorySegment a, MemorySegment b, int n) {
        double s = 0;
        for (int i = 0; i < n; i++) s += (double) a.getAtIndex(JAVA_FLOAT, i) * b.getAtIndex(JAVA_FLOAT, i);
        return s;
    }

    /** Checks analytic gradient `grad` of L = Σ out·r w.r.t. input x (n floats); forward fills out from x. */
    static void check(String what, MemorySegment x, int n, MemorySegment grad, MemorySegment out, MemorySegment r, int outN,
                      Consumer<MemorySegment> forward) {
        float h = 1e-2f;
        double maxErr = 0, maxG = 0;
        for (int i = 0; i < n; i++) {
            float v = x.getAtIndex(JAVA_FLOAT, i);
            x.setAtIndex(JAVA_FLOAT, i, v + h);
            forward.accept(out);
            double lp = dot(out, r, outN);
            x.setAtIndex(JAVA_FLOAT, i, v - h);
            forward.accept(out);
            double lm = dot(out, r, outN);
            x.setAtIndex(JAVA_FLOAT, i, v);
            double fd = (lp - lm) / (2 * h);
            maxErr = Math.max(maxErr, Math.abs(fd - grad.getAtIndex(JAVA_FLOAT, i)));
            maxG = Math.max(maxG, Math.abs(fd));
        }
        assertThat(maxG).as(what + " gradient is not trivially zero").isGreaterThan(1e-3);
        assertThat(maxErr / maxG).as(what).isLessThan(1e-2);
    }

    @Test
    void rmsNorm() {
        int N = 3, C = 20;
        MemorySegment x = rand(N * C, 1, 0.3), w = rand(C, 0.3, 1), r = rand(N * C, 1, 0);
        MemorySegment out = rand(N * C, 0, 0), rstd = rand(N, 0, 0), dx = rand(N * C, 0, 0), dw = rand(C, 0, 0);
        RMSNorm.forward(out, rstd, x, w, N, C, 1e-5f);
        RMSNorm.backward(dx, dw, r, x, w, rstd, N, C);
        check("dx", x, N * C, dx, out, r, N * C, o -> RMSNorm.forward(o, rstd, x, w, N, C, 1e-5f));
        check("dw", w, C, dw, out, r, N * C, o -> RMSNorm.forward(o, rstd, x, w, N, C, 1e-5f));
    }

    @Test
    void rope() {
        int N = 6, T = 3, heads = 3, hs = 8, stride = heads * hs + 5; // rotates 3 heads of wider rows
        Rope rope = new Rope(hs, 16, 10000);
        MemorySegment x0 = rand(N * stride, 1, 0), x = rand(N * stride, 0, 0), r = rand(N * stride, 1, 0);
        MemorySegment out = rand(N * stride, 0, 0), dx = rand(N * stride, 0, 0);
        Consumer<MemorySegment> fwd = o -> {
            MemorySegment.copy(x, 0, o, 0, x.byteSize());
            rope.forward(o, N, T, 2, stride, heads);
        };
        MemorySegment.copy(x0, 0, x, 0, x.byteSize());
        MemorySegment.copy(r, 0, dx, 0, r.byteSize());
        rope.backward(dx, N, T, 2, stride, heads);
        check("dx", x, N * stride, dx, out, r, N * stride, fwd);
        // Rotate-half pairing: element i turns with element i + hs/2 at angle pos·θ^(-2i/hs).
        MemorySegment one = rand(hs, 0, 0);
        one.setAtIndex(JAVA_FLOAT, 1, 1f);
        rope.forward(one, 1, 1, 5, hs, 1);
        double a = 5 * Math.pow(10000, -2.0 / hs);
        assertThat(one.getAtIndex(JAVA_FLOAT, 1)).isCloseTo((float) Math.cos(a), org.assertj.core.data.Offset.offset(1e-6f));
        assertThat(one.getAtIndex(JAVA_FLOAT, 1 + hs / 2)).isCloseTo((float) Math.sin(a), org.assertj.core.data.Offset.offset(1e-6f));
    }

    @Test
    void swiGlu() {
        int N = 3, H = 10;
        MemorySegment gu = rand(N * 2 * H, 1.5, 0), r = rand(N * H, 1, 0), out = rand(N * H, 0, 0), dgu = rand(N * 2 * H, 0, 0);
        SwiGlu.backward(dgu, r, gu, N, H);
        check("dgu", gu, N * 2 * H, dgu, out, r, N * H, o -> SwiGlu.forward(o, gu, N, H));
    }

    @Test
    void gqaAttention() {
        int B = 2, T = 5, NH = 4, NKV = 2, hs = 4, row = (NH + 2 * NKV) * hs, C = NH * hs;
        MemorySegment qkv = rand(B * T * row, 1, 0), r = rand(B * T * C, 1, 0), out = rand(B * T * C, 0, 0);
        MemorySegment att = rand(B * NH * T * T, 0, 0), dqkv = rand(B * T * row, 0, 0);
        Attention.forward(out, att, qkv, B, T, NH, NKV, hs);
        Attention.backward(dqkv, r, qkv, att, B, T, NH, NKV, hs);
        check("dqkv", qkv, B * T * row, dqkv, out, r, B * T * C, o -> Attention.forward(o, att, qkv, B, T, NH, NKV, hs));
    }

    @Test
    void gqaIsMultiHeadAttentionWithEachKvHeadRepeatedForItsGroup() {
        int B = 2, T = 70, NH = 4, NKV = 2, hs = 8, group = NH / NKV, C = NH * hs, row = (NH + 2 * NKV) * hs;
        MemorySegment qkv = rand(B * T * row, 1, 0), dout = rand(B * T * C, 1, 0);
        // the same activations in GPT-2's layout, kv head h / group copied to head h
        MemorySegment full = rand(B * T * 3 * C, 0, 0);
        for (int bt = 0; bt < B * T; bt++) {
            MemorySegment.copy(qkv, (long) bt * row * 4, full, (long) bt * 3 * C * 4, C * 4L);
            for (int h = 0; h < NH; h++) {
                long k = ((long) bt * row + C + (long) (h / group) * hs) * 4, v = k + (long) NKV * hs * 4;
                MemorySegment.copy(qkv, k, full, ((long) bt * 3 * C + C + (long) h * hs) * 4, hs * 4L);
                MemorySegment.copy(qkv, v, full, ((long) bt * 3 * C + 2L * C + (long) h * hs) * 4, hs * 4L);
            }
        }
        MemorySegment a = rand(B * T * C, 0, 0), b = rand(B * T * C, 0, 0);
        MemorySegment attA = rand(B * NH * T * T, 0, 0), attB = rand(B * NH * T * T, 0, 0);
        MemorySegment dA = rand(B * T * row, 0, 0), dB = rand(B * T * 3 * C, 0, 0);
        Attention.forward(a, attA, qkv, B, T, NH, NKV, hs);
        Attention.forward(b, attB, full, B, T, C, NH);
        Attention.backward(dA, dout, qkv, attA, B, T, NH, NKV, hs);
        Attention.backward(dB, dout, full, attB, B, T, C, NH);
        // Same GEMM calls on the same numbers: outputs and dQ agree exactly; dK and dV of a kv head
        // are the sum of its group's heads, added in head order (float addition: tolerance 1e-6).
        assertThat(a.toArray(JAVA_FLOAT)).containsExactly(b.toArray(JAVA_FLOAT));
        for (int bt = 0; bt < B * T; bt++) {
            for (int i = 0; i < C; i++) {
                assertThat(dA.getAtIndex(JAVA_FLOAT, (long) bt * row + i)).isEqualTo(dB.getAtIndex(JAVA_FLOAT, (long) bt * 3 * C + i));
            }
            for (int g = 0; g < NKV; g++) {
                for (int part = 1; part <= 2; part++) {
                    for (int i = 0; i < hs; i++) {
                        float sum = 0;
                        for (int h = g * group; h < (g + 1) * group; h++) sum += dB.getAtIndex(JAVA_FLOAT, (long) bt * 3 * C + part * C + (long) h * hs + i);
                        float got = dA.getAtIndex(JAVA_FLOAT, (long) bt * row + C + (long) (part - 1) * NKV * hs + (long) g * hs + i);
                        assertThat(got).isCloseTo(sum, org.assertj.core.data.Offset.offset(1e-6f * Math.max(1f, Math.abs(sum))));
                    }
                }
            }
        }
    }
}
