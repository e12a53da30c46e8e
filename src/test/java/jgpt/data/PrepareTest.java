package jgpt.data;

import jgpt.tokenizer.CharTokenizer;
import jgpt.tokenizer.Gpt2Tokenizer;
import jgpt.tokenizer.Tokenizer;
import jgpt.util.UserError;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.IntStream;
import java.util.zip.GZIPOutputStream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class PrepareTest {
    @TempDir
    Path dir;

    static final String DOC1 = "It is a truth universally acknowledged, that a single man in possession\n"
            + "of a good fortune, must be in want of a wife.\n\nHowever little known £10,000 a year...\n";
    static final String DOC2 = "Emma Woodhouse, handsome, clever, and rich — café 日本.\n";

    private Path plain(String name, String text) throws IOException {
        return Files.writeString(dir.resolve(name), text);
    }

    private Path gz(String name, String text) throws IOException {
        Path p = dir.resolve(name);
        try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(p))) {
            out.write(text.getBytes(StandardCharsets.UTF_8));
        }
        return p;
    }

    private static int[] readAll(Path p) {
        try (TokenFile f = TokenFile.open(p)) {
            int[] all = new int[(int) f.count()];
            f.read(0, all, 0, all.length);
            return all;
        }
    }

    private static int[] concat(int[]... parts) {
        return java.util.Arrays.stream(parts).flatMapToInt(IntStream::of).toArray();
    }

    @Test
    void gpt2PlainAndGzipWithEotBetweenDocumentsAndValAsTail() throws IOException {
        Gpt2Tokenizer gpt2 = Gpt2Tokenizer.get();
        Path out = dir.resolve("out");
        Prepare.Stats stats = Prepare.prepare(List.of(plain("a.txt", DOC1), gz("b.txt.gz", DOC2)), "gpt2", out, 0.25);

        int[] expected = concat(gpt2.encode(DOC1), new int[] {50256}, gpt2.encode(DOC2));
        int[] train = readAll(out.resolve("train.bin"));
        int[] val = readAll(out.resolve("val.bin"));
        assertThat(concat(train, val)).containsExactly(expected);
        assertThat(val.length).isEqualTo(Math.round(expected.length * 0.25));
        assertThat(stats.tokens()).isEqualTo(expected.length);
        assertThat(stats.trainTokens()).isEqualTo(train.length);
        assertThat(stats.valTokens()).isEqualTo(val.length);
        assertThat(stats.documents()).isEqualTo(2);
        try (TokenFile f = TokenFile.open(out.resolve("val.bin"))) {
            assertThat(f.tokenizerName()).isEqualTo("gpt2");
            assertThat(f.vocabSize()).isEqualTo(50257);
        }
        assertThat(Tokenizer.load(out.resolve("tokenizer.json"))).isSameAs(gpt2);
    }

    @Test
    void charVocabularyComesFromAllInputsAndHasNoEot() throws IOException {
        Path out = dir.resolve("out");
        Prepare.prepare(List.of(gz("a.txt.gz", DOC1), plain("b.txt", DOC2)), "char", out, 0.1);

        Tokenizer tok = Tokenizer.load(out.resolve("tokenizer.json"));
        assertThat(tok).isEqualTo(CharTokenizer.fromText(DOC1 + DOC2));
        int[] all = concat(readAll(out.resolve("train.bin")), readAll(out.resolve("val.bin")));
        assertThat(tok.decode(all)).isEqualTo(DOC1 + DOC2);
        assertThat(readAll(out.resolve("val.bin"))).hasSize(Math.round((DOC1 + DOC2).codePointCount(0,
                (DOC1 + DOC2).length()) * 0.1f));
    }

    @Test
    void tinyValFractionStillGivesOneValToken() throws IOException {
        Path out = dir.resolve("out");
        Prepare.Stats stats = Prepare.prepare(List.of(plain("a.txt", "abcdef")), "char", out, 0.01);
        assertThat(stats.valTokens()).isEqualTo(1);
        assertThat(readAll(out.resolve("val.bin"))).containsExactly(5); // 'f'
    }

    @Test
    void userErrors() throws IOException {
        Path out = dir.resolve("out");
        Path missing = dir.resolve("missing.txt");
        assertThatThrownBy(() -> Prepare.prepare(List.of(missing), "gpt2", out, 0.1))
                .isInstanceOf(UserError.class).hasMessage("input file not found: " + missing);

        Path empty = plain("empty.txt", "");
        assertThatThrownBy(() -> Prepare.prepare(List.of(empty), "gpt2", out, 0.1))
                .isInstanceOf(UserError.class).hasMessage("corpus is empty: no text in " + empty);
        assertThatThrownBy(() -> Prepare.prepare(List.of(empty, empty), "gpt2", out, 0.1))
                .isInstanceOf(UserError.class).hasMessage("corpus is empty: no text in " + empty + " and 1 more file(s)");
        assertThatThrownBy(() -> Prepare.prepare(List.of(empty), "char", out, 0.1))
                .isInstanceOf(UserError.class).hasMessage("corpus is empty: no text in " + empty);
        assertThat(out.resolve("train.bin")).doesNotExist();

        Path one = plain("one.txt", "Hello");
        assertThatThrownBy(() -> Prepare.prepare(List.of(one), "gpt2", out, 0.1))
                .isInstanceOf(UserError.class)
                .hasMessage("corpus " + one + " has only 1 token: too few for both a train and a val split");

        assertThatThrownBy(() -> Prepare.prepare(List.of(one), "bpe", out, 0.1))
                .isInstanceOf(UserError.class).hasMessage("unknown tokenizer 'bpe' (expected gpt2 or char)");
        assertThatThrownBy(() -> Prepare.prepare(List.of(one), "char", out, 1.0))
                .isInstanceOf(UserError.class).hasMessageContaining("val fraction");

        Path latin1 = Files.write(dir.resolve("latin1.txt"), new byte[] {'a', (byte) 0xA3, 'b'});
        assertThatThrownBy(() -> Prepare.prepare(List.of(latin1), "char", out, 0.1))
                .isInstanceOf(UserError.class).hasMessage(latin1 + ": not valid UTF-8 text");
    }
}
