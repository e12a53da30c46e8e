package jgpt.data;

import jgpt.tokenizer.Gpt2Tokenizer;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;

import static org.assertj.core.api.Assertions.assertThat;

class TextChunkerTest {
    private final Gpt2Tokenizer gpt2 = Gpt2Tokenizer.get();

    private static List<String> chunks(String text, int capacity) throws IOException {
        TextChunker chunker = new TextChunker(new StringReader(text), capacity);
        List<String> out = new ArrayList<>();
        for (String c = chunker.next(); c != null; c = chunker.next()) {
            assertThat(c.length()).isLessThanOrEqualTo(capacity);
            out.add(c);
        }
        return out;
    }

    private int[] encodeChunked(List<String> chunks) {
        return chunks.stream().flatMapToInt(c -> java.util.stream.IntStream.of(gpt2.encode(c))).toArray();
    }

    @Test
    void chunkedBpeEqualsWholeTextBpeOnAusten() throws IOException {
        String text;
        try (InputStream in = new GZIPInputStream(Files.newInputStream(Path.of("data/austen.txt.gz")))) {
            text = new String(in.readNBytes(120_000), StandardCharsets.UTF_8);
        }
        text = text.substring(0, text.lastIndexOf('\n')); // no partial UTF-8 char at the end
        List<String> chunks = chunks(text, 2048);
        assertThat(chunks.size()).isGreaterThan(50);
        assertThat(String.join("", chunks)).isEqualTo(text);
        assertThat(encodeChunked(chunks)).isEqualTo(gpt2.encode(text));
    }

    @Test
    void cutsAtParagraphEndsAndFallsBackToSpaces() throws IOException {
        String paragraphs = "First para line one.\nline two.\n\n\n   Second para!\n\n  Third\n";
        for (int capacity = 12; capacity < 40; capacity++) {
            List<String> chunks = chunks(paragraphs, capacity);
            assertThat(String.join("", chunks)).isEqualTo(paragraphs);
            assertThat(encodeChunked(chunks)).as("capacity %d", capacity).containsExactly(gpt2.encode(paragraphs));
        }
        String oneLine = "a  b   cc dd, ee 42 ££ ".repeat(50);
        List<String> chunks = chunks(oneLine, 30);
        assertThat(String.join("", chunks)).isEqualTo(oneLine);
        assertThat(encodeChunked(chunks)).containsExactly(gpt2.encode(oneLine));
    }

    @Test
    void neverSplitsASurrogatePair() throws IOException {
        String text = "𝄞".repeat(20); // no safe cut at all: falls back to the buffer end
        List<String> chunks = chunks(text, 7);
        assertThat(chunks).allSatisfy(c -> assertThat(Character.isHighSurrogate(c.charAt(c.length() - 1))).isFalse());
        assertThat(String.join("", chunks)).isEqualTo(text);
    }
}
