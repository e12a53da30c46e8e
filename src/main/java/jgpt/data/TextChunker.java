package jgpt.data;

import java.io.IOException;
import java.io.Reader;

/**
 * Splits a character stream into chunks that a BPE tokenizer can encode independently with the
 * same result as encoding the whole text. The GPT-2 pre-tokenizer never joins a non-space char
 * with the whitespace after it, and its whitespace rules look ahead, so a cut is safe right
 * before a newline (or space) that follows a letter, digit or ASCII symbol: the preferred cut
 * is at the end of a paragraph (before a blank line), then at any line end.
 */
final class TextChunker {
    private final Reader in;
    private final char[] buf;
    private int len;
    private boolean eof;

    TextChunker(Reader in, int capacity) {
        this.in = in;
        this.buf = new char[capacity];
    }

    /** The next chunk, or null at the end of the stream. */
    String next() throws IOException {
        while (!eof && len < buf.length) {
            int n = in.read(buf, len, buf.length - len);
            if (n < 0) {
                eof = true;
            } else {
                len += n;
            }
        }
        if (len == 0) {
            return null;
        }
        int cut = eof ? len : cutPoint();
        String chunk = new String(buf, 0, cut);
        System.arraycopy(buf, cut, buf, 0, len - cut);
        len -= cut;
        return chunk;
    }

    private int cutPoint() {
        for (int i = len - 2; i > len / 2; i--) {
            if (buf[i] == '\n' && buf[i + 1] == '\n' && solid(buf[i - 1])) {
                return i;
            }
        }
        for (char sep : new char[] {'\n', ' '}) {
            for (int i = len - 1; i > 0; i--) {
                if (buf[i] == sep && solid(buf[i - 1])) {
                    return i;
                }
            }
        }
        // one enormous "word": tokenization at this cut may differ slightly; never split a surrogate pair
        return Character.isHighSurrogate(buf[len - 1]) ? len - 1 : len;
    }

    /** A char that no tokenizer regex treats as whitespace. */
    private static boolean solid(char c) {
        return (c > ' ' && c < 0x7f) || Character.isLetterOrDigit(c);
    }
}
