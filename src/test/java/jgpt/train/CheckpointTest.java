package jgpt.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import jgpt.model.FlatBuffer;
import jgpt.model.GPTConfig;
import jgpt.model.ParamLayout;
import jgpt.util.UserError;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointTest {
    private static final GPTConfig MODEL = new GPTConfig(2, 2, 8, 16, 30, true, false);
    private static final ParamLayout LAYOUT = ParamLayout.gpt2(MODEL);

    @TempDir Path run;

    private static Checkpoint.State state(long step) {
        return new Checkpoint.State(MODEL, TrainConfig.defaults(),
                JsonNodeFactory.instance.objectNode().put("name", "char").put("vocab", "abc"), step, -42L, 12345L);
    }

    private static void fill(FlatBuffer b, long seed) {
        java.util.Random r = new java.util.Random(seed);
        for (long i = 0; i < b.numel(); i++) b.set(i, (float) r.nextGaussian());
    }

    private void saveOne(long step) {
        try (FlatBuffer p = new FlatBuffer(LAYOUT); FlatBuffer g = new FlatBuffer(LAYOUT); AdamW opt = new AdamW(p, g, 0.1)) {
            fill(p, step);
            fill(g, step + 1);
            opt.step(1e-3f, 1);
            Checkpoint.save(run, state(step), p, opt);
        }
    }

    @Test
    void roundTripIsBitIdentical() {
        try (FlatBuffer p = new FlatBuffer(LAYOUT); FlatBuffer g = new FlatBuffer(LAYOUT); AdamW opt = new AdamW(p, g, 0.1)) {
            fill(p, 1);
            fill(g, 2);
            opt.step(1e-3f, 1);
            Checkpoint.save(run, state(7), p, opt);
            assertThat(Files.exists(run.resolve("ckpt.bin.tmp"))).isFalse();
            try (Checkpoint c = Checkpoint.load(run); FlatBuffer p2 = new FlatBuffer(LAYOUT);
                 FlatBuffer g2 = new FlatBuffer(LAYOUT); AdamW opt2 = new AdamW(p2, g2, 0.1)) {
                assertThat(c.state()).isEqualTo(state(7));
                assertThat(c.hasOptimizer()).isTrue();
                c.loadParams(p2);
                c.loadOptimizer(opt2);
                assertThat(p2.toArray()).isEqualTo(p.toArray());
                assertThat(opt2.m().toArray()).isEqualTo(opt.m().toArray());
                assertThat(opt2.v().toArray()).isEqualTo(opt.v().toArray());
            }
            long dataStart = run.resolve("ckpt.bin").toFile().length() - 3 * LAYOUT.numel() * 4;
            assertThat(dataStart % 64).isZero();
        }
    }

    @Test
    void weightsOnlyCheckpointCannotRestoreTheOptimizer() {
        try (FlatBuffer p = new FlatBuffer(LAYOUT); FlatBuffer g = new FlatBuffer(LAYOUT); AdamW opt = new AdamW(p, g, 0.1)) {
            fill(p, 3);
            Checkpoint.save(run, state(1), p, null);
            try (Checkpoint c = Checkpoint.load(run.resolve("ckpt.bin"))) {
                assertThat(c.hasOptimizer()).isFalse();
                assertThatThrownBy(() -> c.loadOptimizer(opt)).isInstanceOf(UserError.class).hasMessageContaining("optimizer");
            }
        }
    }

    @Test
    void interruptedWriteLeavesTheCheckpointIntact() throws Exception {
        saveOne(5);
        byte[] before = Files.readAllBytes(run.resolve("ckpt.bin"));
        // A crash mid-write leaves a partial tmp file: loading ignores it, the next save replaces it.
        Files.write(run.resolve("ckpt.bin.tmp"), new byte[] {1, 2, 3});
        try (Checkpoint c = Checkpoint.load(run)) {
            assertThat(c.state().step()).isEqualTo(5);
        }
        // A write that fails outright (here: the tmp path cannot be opened) does not touch ckpt.bin.
        Files.delete(run.resolve("ckpt.bin.tmp"));
        Files.createDirectory(run.resolve("ckpt.bin.tmp"));
        assertThatThrownBy(() -> saveOne(6)).hasMessageContaining("ckpt.bin");
        assertThat(Files.readAllBytes(run.resolve("ckpt.bin"))).isEqualTo(before);
        Files.delete(run.resolve("ckpt.bin.tmp"));
        saveOne(6);
        try (Checkpoint c = Checkpoint.load(run)) {
            assertThat(c.state().step()).isEqualTo(6);
        }
    }

    @Test
    void truncatedOrCorruptFilesAreNamed() throws Exception {
        saveOne(1);
        Path f = run.resolve("ckpt.bin");
        try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
            raf.setLength(raf.length() - 4);
        }
        assertThatThrownBy(() -> Checkpoint.load(run)).isInstanceOf(UserError.class)
                .hasMessageContaining(f.toString()).hasMessageContaining("truncated");

        saveOne(1);
        byte[] bytes = Files.readAllBytes(f);
        bytes[0] = 'X';
        Files.write(f, bytes);
        assertThatThrownBy(() -> Checkpoint.load(run)).isInstanceOf(UserError.class)
                .hasMessageContaining(f.toString()).hasMessageContaining("magic");

        saveOne(1);
        bytes = Files.readAllBytes(f);
        bytes[21] = '#'; // inside the JSON header
        Files.write(f, bytes);
        assertThatThrownBy(() -> Checkpoint.load(run)).isInstanceOf(UserError.class)
                .hasMessageContaining(f.toString()).hasMessageContaining("header");

        Files.write(f, new byte[5]);
        assertThatThrownBy(() -> Checkpoint.load(run)).isInstanceOf(UserError.class).hasMessageContaining(f.toString());
        Files.delete(f);
        assertThatThrownBy(() -> Checkpoint.load(run)).isInstanceOf(UserError.class)
                .hasMessageContaining("no checkpoint").hasMessageContaining(f.toString());
    }

    @Test
    void mismatchedConfigNamesTheField() {
        saveOne(1);
        try (Checkpoint c = Checkpoint.load(run)) {
            c.requireModel(MODEL);
            assertThatThrownBy(() -> c.requireModel(new GPTConfig(2, 2, 4, 16, 30, true, false)))
                    .isInstanceOf(UserError.class)
                    .hasMessage(run.resolve("ckpt.bin") + ": checkpoint has n_embd 8 but --n-embd is 4");
            assertThatThrownBy(() -> c.requireModel(new GPTConfig(2, 2, 8, 16, 65, true, false)))
                    .isInstanceOf(UserError.class).hasMessageContaining("vocab_size 30");
            assertThatThrownBy(() -> c.requireModel(new GPTConfig(2, 2, 8, 16, 30, false, false)))
                    .isInstanceOf(UserError.class).hasMessageContaining("--no-bias");
        }
    }
}
