package jgpt.tokenizer;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.function.IntFunction;

/**
 * Turns a stream of tokens into text as it is generated. A byte-level BPE token can end in the
 * middle of a multi-byte UTF-8 character, so bytes are buffered until the character completes;
 * invalid bytes become U+FFFD, as in a whole-sequence decode.
 */
public final class StreamDecoder {
    private final IntFunction<byte[]> tokenBytes;
    private final CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPLACE)
            .onUnmappableCharacter(CodingErrorAction.REPLACE);
    private ByteBuffer pending = ByteBuffer.allocate(16);

    public StreamDecoder(IntFunction<byte[]> tokenBytes) {
        this.tokenBytes = tokenBytes;
    }

    /** Adds one token; returns the text completed by it (often empty mid-character). */
    public String feed(int token) {
        byte[] bytes = tokenBytes.apply(token);
        if (pending.remaining() < bytes.length) {
            ByteBuffer bigger = ByteBuffer.allocate(2 * (pending.position() + bytes.length));
            pending.flip();
            pending = bigger.put(pending);
        }
        pending.put(bytes);
        return drain(false);
    }

    /** Ends the stream: any incomplete trailing character comes out as U+FFFD. */
    public String finish() {
        String text = drain(true);
        utf8.reset();
        return text;
    }

    private String drain(boolean endOfInput) {
        pending.flip();
        CharBuffer out = CharBuffer.allocate(pending.remaining() + 1);
        utf8.decode(pending, out, endOfInput);
        if (endOfInput) {
            utf8.flush(out);
        }
        pending.compact();
        return out.flip().toString();
    }
}
