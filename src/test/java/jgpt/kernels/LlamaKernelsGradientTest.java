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
        GqaAttention.forward(out, att, qkv, B, T, NH, NKV, hs);
        GqaAttention.backward(dqkv, r, qkv, att, B, T, NH, NKV, hs);
        check("dqkv", qkv, B * T * row, dqkv, out, r, B * T * C, o -> GqaAttention.forward(o, att, qkv, B, T, NH, NKV, hs));
    }

    @Test
    void gqaWithAsManyKvHeadsAsHeadsIsMultiHeadAttention() {
        int B = 2, T = 4, NH = 2, hs = 8, C = NH * hs;
        MemorySegment qkv = rand(B * T * 3 * C, 1, 0), a = rand(B * T * C, 0, 0), b = rand(B * T * C, 0, 0);
        MemorySegment att = rand(B * NH * T * T, 0, 0);
        GqaAttention.forward(a, att, qkv, B, T, NH, NH, hs);
        Attention.forward(b, att, qkv, B, T, C, NH);
        // Same math, different kernels (GQA's per-row loops vs MHA's blocked GEMMs and polynomial
        // exp): equal up to float32 rounding.
        float[] x = a.toArray(JAVA_FLOAT), y = b.toArray(JAVA_FLOAT);
        for (int i = 0; i < x.length; i++) {
            assertThat(x[i]).as("element %d", i).isCloseTo(y[i], org.assertj.core.data.Offset.offset(1e-5f * Math.max(1f, Math.abs(y[i]))));
        }
    }
}
