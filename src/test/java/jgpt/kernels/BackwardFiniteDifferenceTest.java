package jgpt.kernels;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.function.DoubleSupplier;
import jgpt.GradCheck;
import jgpt.util.Rng;
import org.junit.jupiter.api.Test;

/**
 * Every layer's hand-written backward against central finite differences of the scalar
 * objective f = Σ out ⊙ R (R random), along random directions per input tensor. Sizes are odd on
 * purpose (not multiples of the vector width) so tails are covered too.
 */
class BackwardFiniteDifferenceTest {
    final Arena arena = Arena.ofAuto();
    final Rng rng = new Rng(42);

    MemorySegment random(long n, double std) {
        MemorySegment s = arena.allocate(n * 4, 64);
        for (long i = 0; i < n; i++) s.setAtIndex(JAVA_FLOAT, i, (float) (std * rng.nextGaussian()));
        return s;
    }

    MemorySegment zeros(long n) {
        return arena.allocate(n * 4, 64);
    }

    static double weighted(MemorySegment out, MemorySegment r, long n) {
        double s = 0;
        for (long i = 0; i < n; i++) s += (double) out.getAtIndex(JAVA_FLOAT, i) * r.getAtIndex(JAVA_FLOAT, i);
        return s;
    }

    /**
     * float32 layers, objective summed in double: the quotient's noise is ~1e-7·|f|/eps, far below
     * the 1e-3 relative tolerance, while a wrong term moves the directional derivative by O(1).
     */
    void check(String what, MemorySegment x, long n, MemorySegment grad, DoubleSupplier f) {
        double[] na = GradCheck.directional(x, 0, n, grad, 0, f, 1e-3, rng);
        assertThat(GradCheck.relErr(na)).as("%s: numeric %g analytic %g", what, na[0], na[1]).isLessThan(1e-3);
    }

    @Test
    void matmul() {
        int N = 7, C = 19, OC = 23;
        Matmul mm = new Matmul();
        MemorySegment inp = random((long) N * C, 1), w = random((long) OC * C, 0.5), b = random(OC, 0.5);
        MemorySegment out = zeros((long) N * OC), r = random((long) N * OC, 1);
        DoubleSupplier f = () -> {
            mm.forward(out, inp, w, b, N, C, OC);
            return weighted(out, r, (long) N * OC);
        };
        MemorySegment dinp = zeros((long) N * C), dw = zeros((long) OC * C), db = zeros(OC);
        mm.backward(dinp, dw, db, r, inp, w, N, C, OC);
        check("matmul dinp", inp, (long) N * C, dinp, f);
        check("matmul dw", w, (long) OC * C, dw, f);
        check("matmul db", b, OC, db, f);
    }

    @Test
    void layerNorm() {
        int N = 5, C = 37;
        MemorySegment x = random((long) N * C, 1), w = random(C, 1), b = random(C, 1);
        MemorySegment out = zeros((long) N * C), mean = zeros(N), rstd = zeros(N), r = random((long) N * C, 1);
        DoubleSupplier f = () -> {
            LayerNorm.forward(out, mean, rstd, x, w, b, N, C);
            return weighted(out, r, (long) N * C);
        };
        f.getAsDouble();
        MemorySegment dx = zeros((long) N * C), dw = zeros(C), db = zeros(C);
        LayerNorm.backward(dx, dw, db, r, x, w, mean, rstd, N, C);
        check("layernorm dx", x, (long) N * C, dx, f);
        check("layernorm dw", w, C, dw, f);
        check("layernorm db", b, C, db, f);
    }

    @Test
    void gelu() {
        int n = 301;
        MemorySegment x = random(n, 2), out = zeros(n), r = random(n, 1);
        DoubleSupplier f = () -> {
            Gelu.forward(out, x, n);
            return weighted(out, r, n);
        };
        MemorySegment dx = zeros(n);
        Gelu.backward(dx, x, r, n);
        check("gelu dx", x, n, dx, f);
    }

    @Test
    void attention() {
        int B = 2, T = 7, C = 24, NH = 3;
        MemorySegment qkv = random((long) B * T * 3 * C, 1), out = zeros((long) B * T * C);
        MemorySegment att = zeros((long) B * NH * T * T), r = random((long) B * T * C, 1);
        DoubleSupplier f = () -> {
            Attention.forward(out, att, qkv, B, T, C, NH);
            return weighted(out, r, (long) B * T * C);
        };
        f.getAsDouble();
        MemorySegment dqkv = zeros((long) B * T * 3 * C);
        Attention.backward(dqkv, r, qkv, att, B, T, C, NH);
        check("attention dqkv", qkv, (long) B * T * 3 * C, dqkv, f);
    }

    @Test
    void crossEntropyWithPaddedVocabulary() {
        int N = 6, V = 67, Vp = 128;
        MemorySegment logits = random((long) N * Vp, 2), losses = zeros(N), stats = zeros(4L * N);
        int[] targets = {0, 5, 66, 12, 40, 3};
        DoubleSupplier f = () -> CrossEntropy.forward(losses, stats, logits, targets, N, V, Vp);
        f.getAsDouble(); // the stats of the unperturbed logits, for backward
        MemorySegment dlogits = zeros((long) N * Vp);
        MemorySegment.copy(logits, 0, dlogits, 0, logits.byteSize());
        CrossEntropy.backward(dlogits, stats, targets, 1f / N, N, V, Vp);
        check("cross-entropy dlogits", logits, (long) N * Vp, dlogits, f);
        for (int n = 0; n < N; n++) {
            for (int v = V; v < Vp; v++) assertThat(dlogits.getAtIndex(JAVA_FLOAT, (long) n * Vp + v)).isZero();
        }
    }

    @Test
    void embedding() {
        int B = 2, T = 5, C = 13, V = 9;
        int[] tokens = {1, 4, 4, 0, 8, 3, 1, 1, 7, 2};
        MemorySegment wte = random((long) V * C, 1), wpe = random((long) T * C, 1);
        MemorySegment out = zeros((long) B * T * C), r = random((long) B * T * C, 1);
        DoubleSupplier f = () -> {
            Embedding.forward(out, tokens, wte, wpe, B, T, C);
            return weighted(out, r, (long) B * T * C);
        };
        MemorySegment dwte = zeros((long) V * C), dwpe = zeros((long) T * C);
        Embedding.backward(dwte, dwpe, r, tokens, B, T, C);
        check("embedding dwte", wte, (long) V * C, dwte, f);
        check("embedding dwpe", wpe, (long) T * C, dwpe, f);
    }
}
