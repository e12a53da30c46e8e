package jgpt.data;

import jgpt.util.UserError;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.stream.IntStream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class DataLoaderTest {
    @TempDir
    Path dir;

    /** A file whose token i is i, so every batch shows where it was read from. */
    private TokenFile ramp(int n) {
        Path p = dir.resolve("ramp" + n + ".bin");
        try (var w = new TokenFile.Writer(p, "char", 65536)) {
            w.write(IntStream.range(0, n).toArray());
            w.finish();
        }
        return TokenFile.open(p);
    }

    @Test
    void targetsAreInputsShiftedByOne() {
        try (TokenFile f = ramp(100)) {
            DataLoader dl = new DataLoader(f, 2, 4, 0, 1);
            int[] x = new int[8], y = new int[8];
            dl.next(x, y);
            assertThat(x).containsExactly(0, 1, 2, 3, 4, 5, 6, 7);
            assertThat(y).containsExactly(1, 2, 3, 4, 5, 6, 7, 8);
            dl.next(x, y);
            assertThat(x[0]).isEqualTo(8);
            assertThat(dl.position()).isEqualTo(16);
        }
    }

    @Test
    void twoRanksAreDisjointAndTogetherEqualOneRankWithDoubleBatch() {
        try (TokenFile f = ramp(1000)) {
            DataLoader r0 = new DataLoader(f, 2, 8, 0, 2);
            DataLoader r1 = new DataLoader(f, 2, 8, 1, 2);
            DataLoader single = new DataLoader(f, 4, 8, 0, 1);
            int[] x0 = new int[16], y0 = new int[16], x1 = new int[16], y1 = new int[16];
            int[] x = new int[32], y = new int[32];
            for (int step = 0; step < 70; step++) { // 31 steps per epoch: crosses two wraps
                r0.next(x0, y0);
                r1.next(x1, y1);
                single.next(x, y);
                assertThat(IntStream.of(x0).boxed().toList()).doesNotContainAnyElementsOf(IntStream.of(x1).boxed().toList());
                assertThat(IntStream.concat(IntStream.of(x0), IntStream.of(x1)).toArray()).containsExactly(x);
                assertThat(IntStream.concat(IntStream.of(y0), IntStream.of(y1)).toArray()).containsExactly(y);
                assertThat(r0.position()).isEqualTo(r1.position()).isEqualTo(single.position());
            }
            assertThat(single.epoch()).isEqualTo(2);
        }
    }

    @Test
    void wrapsToStartWhenTheNextStepWouldRunPastTheEnd() {
        try (TokenFile f = ramp(50)) {
            DataLoader dl = new DataLoader(f, 2, 4, 0, 1);
            int[] x = new int[8], y = new int[8];
            for (int i = 0; i < 6; i++) { // starts 0, 8, ..., 40; a start at 48 would need token 56
                dl.next(x, y);
                assertThat(x[0]).isEqualTo(8 * i);
                assertThat(dl.epoch()).isEqualTo(i < 5 ? 0 : 1);
            }
            assertThat(y[7]).isEqualTo(48);
            dl.next(x, y);
            assertThat(x[0]).isEqualTo(0);
        }
    }

    @Test
    void positionSaveAndRestoreReplaysTheSameBatches() {
        try (TokenFile f = ramp(300)) {
            DataLoader dl = new DataLoader(f, 3, 5, 1, 2);
            int[] x = new int[15], y = new int[15];
            for (int i = 0; i < 7; i++) {
                dl.next(x, y);
            }
            long saved = dl.position();
            int[][] first = new int[6][];
            for (int i = 0; i < 6; i++) {
                dl.next(x, y);
                first[i] = x.clone();
            }
            DataLoader resumed = new DataLoader(f, 3, 5, 1, 2);
            resumed.setPosition(saved);
            for (int i = 0; i < 6; i++) {
                resumed.next(x, y);
                assertThat(x).containsExactly(first[i]);
            }
            dl.reset();
            dl.next(x, y);
            assertThat(x[0]).isEqualTo(15); // rank 1 starts one B*T window in
            assertThatThrownBy(() -> dl.setPosition(290)).isInstanceOf(UserError.class);
        }
    }

    @Test
    void tooSmallFileIsAUserError() {
        try (TokenFile f = ramp(32)) {
            assertThatThrownBy(() -> new DataLoader(f, 4, 4, 0, 2))
                    .isInstanceOf(UserError.class)
                    .hasMessage(f.path() + " holds 32 tokens but B*T*ranks+1 = 4*4*2+1 = 33 are needed for one batch");
            assertThat(new DataLoader(f, 4, 4, 0, 1)).isNotNull();
        }
    }

    @Test
    void evalBatchesCoverTheFileInNonOverlappingWindows() {
        try (TokenFile f = ramp(50)) {
            DataLoader dl = new DataLoader(f, 2, 4, 0, 1);
            assertThat(dl.evalBatches()).isEqualTo(6);
            int[] x = new int[8], y = new int[8];
            dl.evalBatch(5, x, y);
            assertThat(x[0]).isEqualTo(40);
            assertThat(y[7]).isEqualTo(48);
            assertThat(dl.position()).isZero();
        }
    }
}
