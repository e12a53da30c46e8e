package jgpt.cli;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

class PrepareCommandTest {
    @TempDir
    Path dir;
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();
    private PrintStream originalErr;

    @BeforeEach
    void captureStderr() {
        originalErr = System.err;
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    @AfterEach
    void restoreStderr() {
        System.setErr(originalErr);
    }

    private String stderr() {
        return err.toString(StandardCharsets.UTF_8);
    }

    private void assertOneLineError(int code, String message) {
        assertThat(code).isEqualTo(2);
        assertThat(stderr()).isEqualTo("jgpt: " + message + System.lineSeparator());
    }

    @Test
    void missingInputFile() {
        Path missing = dir.resolve("nope.txt");
        int code = Main.execute("prepare", "--input", missing.toString(), "--tokenizer", "gpt2",
                "--out", dir.resolve("out").toString());
        assertOneLineError(code, "input file not found: " + missing);
    }

    @Test
    void emptyCorpus() throws IOException {
        Path empty = Files.writeString(dir.resolve("empty.txt"), "");
        int code = Main.execute("prepare", "--input", empty.toString(), "--tokenizer", "char",
                "--out", dir.resolve("out").toString());
        assertOneLineError(code, "corpus is empty: no text in " + empty);
    }

    @Test
    void unknownTokenizer() throws IOException {
        Path text = Files.writeString(dir.resolve("a.txt"), "hello there");
        int code = Main.execute("prepare", "--input", text.toString(), "--tokenizer", "wordpiece",
                "--out", dir.resolve("out").toString());
        assertOneLineError(code, "unknown tokenizer 'wordpiece' (expected gpt2 or char)");
    }

    @Test
    void successWritesTheThreeFilesAndASummary() throws IOException {
        Path a = Files.writeString(dir.resolve("a.txt"), "hello there, general kenobi\n");
        Path b = Files.writeString(dir.resolve("b.txt"), "you are a bold one\n");
        Path out = dir.resolve("out");
        int code = Main.execute("prepare", "--input", a.toString(), b.toString(), "--tokenizer", "gpt2",
                "--out", out.toString(), "--val-fraction", "0.2");
        assertThat(code).isZero();
        assertThat(out.resolve("train.bin")).exists();
        assertThat(out.resolve("val.bin")).exists();
        assertThat(out.resolve("tokenizer.json")).exists();
        assertThat(stderr()).startsWith("prepare: 2 document(s)").contains("gpt2 tokens");
    }
}
