package jgpt.tokenizer;

import com.fasterxml.jackson.databind.node.ObjectNode;
import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingType;
import com.knuddels.jtokkit.api.IntArrayList;

import java.nio.charset.StandardCharsets;

/**
 * GPT-2's byte-level BPE ({@code r50k_base}, bundled in JTokkit so it works offline).
 * Text is always encoded as ordinary text: a literal "&lt;|endoftext|&gt;" in the input becomes
 * ordinary tokens, never the special id; callers add {@link #eotToken()} themselves.
 */
public final class Gpt2Tokenizer implements Tokenizer {
    public static final String NAME = "gpt2";
    public static final int VOCAB_SIZE = 50257;
    public static final int EOT = 50256;

    private static final class Holder {
        // lazy: loading the merge table takes ~100 ms, and a char-only run never needs it
        static final Gpt2Tokenizer INSTANCE = new Gpt2Tokenizer(
                Encodings.newLazyEncodingRegistry().getEncoding(EncodingType.R50K_BASE));
    }

    private final Encoding encoding;

    private Gpt2Tokenizer(Encoding encoding) {
        this.encoding = encoding;
    }

    public static Gpt2Tokenizer get() {
        return Holder.INSTANCE;
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public int vocabSize() {
        return VOCAB_SIZE;
    }

    @Override
    public int[] encode(String text) {
        return encoding.encodeOrdinary(text).toArray();
    }

    @Override
    public String decode(int[] tokens) {
        IntArrayList list = new IntArrayList(tokens.length);
        for (int t : tokens) {
            list.add(checked(t));
        }
        return new String(encoding.decodeBytes(list), StandardCharsets.UTF_8);
    }

    /** The raw bytes of one token: not necessarily a whole UTF-8 character. */
    public byte[] tokenBytes(int token) {
        IntArrayList one = new IntArrayList(1);
        one.add(checked(token));
        return encoding.decodeBytes(one);
    }

    private static int checked(int token) {
        if (token < 0 || token >= VOCAB_SIZE) {
            throw new IllegalArgumentException("token " + token + " is outside the gpt2 vocabulary of "
                    + VOCAB_SIZE);
        }
        return token;
    }

    @Override
    public int eotToken() {
        return EOT;
    }

    @Override
    public StreamDecoder streamDecoder() {
        return new StreamDecoder(this::tokenBytes);
    }

    @Override
    public ObjectNode toJson() {
        return JSON.createObjectNode().put("name", NAME).put("encoding", "r50k_base")
                .put("vocabSize", VOCAB_SIZE);
    }
}
