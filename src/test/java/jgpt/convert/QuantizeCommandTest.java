package jgpt.convert;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import jgpt.cli.Main;
import jgpt.generate.Q8Checkpoint;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** jgpt quantize writes a Q8_0 checkpoint that jgpt sample decodes like --quant q8 at load; bad files fail in one line. */
class QuantizeCommandTest {
    @TempDir Path dir;
    Path ck, q8;

    @BeforeEach
    void importAndQuantize() {
        ck = dir.resolve("run");
        q8 = dir.resolve("q8");
        assertThat(Main.execute("import", "--format", "llama2c", "--in",
                ImportReferenceTest.dir("llama_tiny").resolve("model.bin").toString(), "--out", ck.toString())).isZero();
        assertThat(Main.execute("quantize", "--checkpoint", ck.toString(), "--out", q8.toString())).isZero();
        assertThat(q8.resolve(Q8Checkpoint.FILE)).isRegularFile();
        assertThat(q8.resolve(Q8Checkpoint.FILE + ".tmp")).doesNotExist();
    }

    /** Exit code, stdout, stderr of one command line. */
    private static String[] run(String... args) {
        PrintStream out = System.out, err = System.err;
        ByteArrayOutputStream o = new ByteArrayOutputStream(), e = new ByteArrayOutputStream();
        System.setOut(new PrintStream(o, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(e, true, StandardCharsets.UTF_8));
        try {
            int code = Main.execute(args);
            return new String[] {String.valueOf(code), o.toString(StandardCharsets.UTF_8), e.toString(StandardCharsets.UTF_8)};
        } finally {
            System.setOut(out);
            System.setErr(err);
        }
    }

    @Test
    void quantizedFileSamplesTheSameTokensAsQuantizingAtLoad() {
        for (String temp : new String[] {"0", "0.9"}) {
            String[] common = {"--prompt", "ab", "--max-new-tokens", "20", "--temperature", temp, "--seed", "7"};
            String[] atLoad = run(concat(new String[] {"sample", "--checkpoint", ck.toString(), "--quant", "q8"}, common));
            String[] fromFile = run(concat(new String[] {"sample", "--checkpoint", q8.toString()}, common));
            String[] fromFileQ = run(concat(new String[] {"sample", "--checkpoint", q8.resolve(Q8Checkpoint.FILE).toString(), "--quant", "q8"}, common));
            assertThat(atLoad[0]).as(atLoad[2]).isEqualTo("0");
            assertThat(fromFile[0]).as(fromFile[2]).isEqualTo("0");
            assertThat(fromFile[1]).as("temperature " + temp).isEqualTo(atLoad[1]).hasSizeGreaterThan(10);
            assertThat(fromFileQ[1]).isEqualTo(atLoad[1]);
        }
    }

    @Test
    void corruptFilesFailWithOneLine() throws Exception {
        Path file = q8.resolve(Q8Checkpoint.FILE);
        byte[] good = Files.readAllBytes(file);
        byte[] badMagic = good.clone();
        badMagic[0] = 'X';
        byte[] badHeader = good.clone();
        badHeader[30] = '#';
        byte[] badScale = good.clone();
        Arrays.fill(badScale, good.length - 4, good.length, (byte) 0xFF); // last scale: NaN
        byte[][] cases = {badMagic, Arrays.copyOf(good, good.length - 100), badHeader, badScale};
        String[] expect = {"not a jgpt", "truncated or corrupt", "corrupt Q8_0 checkpoint header", "has scale NaN"};
        for (int i = 0; i < cases.length; i++) {
            Path f = dir.resolve("bad" + i + ".bin");
            Files.write(f, cases[i], StandardOpenOption.CREATE_NEW);
            // a file with a broken magic is not recognized as Q8 and falls to the f32 loader: still one line
            String[] r = run("sample", "--checkpoint", f.toString(), "--max-new-tokens", "2");
            assertThat(r[0]).as("case %d: %s", i, r[2]).isEqualTo("2");
            assertThat(r[2].strip()).as("case %d", i).doesNotContain("\n").startsWith("jgpt: ").contains(i == 0 ? "not a jgpt" : expect[i]);
        }
        assertThat(run("quantize", "--checkpoint", ck.toString(), "--out", ck.toString())[2]).contains("choose another --out");
        Path gpt2 = dir.resolve("gpt2");
        assertThat(Main.execute("import", "--format", "hf", "--in", ImportReferenceTest.dir("gpt2_hf_tiny").toString(),
                "--out", gpt2.toString())).isZero();
        String[] r = run("quantize", "--checkpoint", gpt2.toString(), "--out", dir.resolve("gpt2-q8").toString());
        assertThat(r[0]).isEqualTo("2");
        assertThat(r[2].strip()).doesNotContain("\n").contains("llama models only");
    }

    private static String[] concat(String[] a, String[] b) {
        String[] r = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
