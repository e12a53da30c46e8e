package jgpt.tokenizer;

import jgpt.util.UserError;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class Gpt2TokenizerTest {
    private final Gpt2Tokenizer tok = Gpt2Tokenizer.get();

    @Test
    void knownEncoding() {
        assertThat(tok.encode("Hello world")).containsExactly(15496, 995);
        assertThat(tok.vocabSize()).isEqualTo(50257);
        assertThat(tok.eotToken()).isEqualTo(50256);
        assertThat(tok.decode(new int[] {50256})).isEqualTo("<|endoftext|>");
    }

    @Test
    void literalEndOfTextInTextIsOrdinaryText() {
        int[] tokens = tok.encode("a<|endoftext|>b");
        assertThat(tokens).doesNotContain(50256);
        assertThat(tok.decode(tokens)).isEqualTo("a<|endoftext|>b");
    }

    @Test
    void nonAsciiRoundTrip() {
        String text = "£ café 日本 — “quoted” 𝄞";
        assertThat(tok.decode(tok.encode(text))).isEqualTo(text);
    }

    @Test
    void streamDecoderBuffersCharactersSplitAcrossTokens() {
        String text = "£ café 日本 𝄞 done";
        int[] tokens = tok.encode(text);
        // the premise: some token ends inside a multi-byte character, so its bytes alone are not UTF-8
        boolean someTokenSplitsAChar = false;
        for (int t : tokens) {
            someTokenSplitsAChar |= new String(tok.tokenBytes(t), StandardCharsets.UTF_8).contains("\uFFFD");
        }
        assertThat(someTokenSplitsAChar).isTrue();

        StreamDecoder dec = tok.streamDecoder();
        StringBuilder sb = new StringBuilder();
        for (int t : tokens) {
            String piece = dec.feed(t);
            assertThat(piece).doesNotContain("\uFFFD");
            sb.append(piece);
        }
        assertThat(sb.append(dec.finish()).toString()).isEqualTo(tok.decode(tokens)).isEqualTo(text);
    }

    @Test
    void streamDecoderFlushesAnIncompleteCharacterAsReplacement() {
        int[] tokens = tok.encode("日");
        assertThat(tokens.length).isGreaterThan(1);
        StreamDecoder dec = tok.streamDecoder();
        assertThat(dec.feed(tokens[0])).isEmpty();
        assertThat(dec.finish()).isEqualTo("\uFFFD");
    }

    @Test
    void jsonAndFileRoundTrip(@TempDir Path dir) {
        assertThat(Tokenizer.fromJson(tok.toJson())).isSameAs(tok);
        Path file = dir.resolve("tokenizer.json");
        tok.save(file);
        assertThat(Tokenizer.load(file).encode("Hello world")).containsExactly(15496, 995);
    }

    @Test
    void unknownNamesAreUserErrors(@TempDir Path dir) throws Exception {
        assertThatThrownBy(() -> Tokenizer.checkName("bpe"))
                .isInstanceOf(UserError.class)
                .hasMessage("unknown tokenizer 'bpe' (expected gpt2 or char)");
        Path file = dir.resolve("tokenizer.json");
        Files.writeString(file, "{\"name\": \"x\"}");
        assertThatThrownBy(() -> Tokenizer.load(file))
                .isInstanceOf(UserError.class)
                .hasMessage(file + ": unknown tokenizer 'x' (expected gpt2 or char)");
        assertThatThrownBy(() -> Tokenizer.load(dir.resolve("missing.json")))
                .isInstanceOf(UserError.class)
                .hasMessageContaining("tokenizer file not found");
    }
}
