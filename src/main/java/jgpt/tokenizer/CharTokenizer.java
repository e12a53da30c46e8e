package jgpt.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import jgpt.util.UserError;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.BitSet;

/**
 * One token per Unicode code point; the vocabulary is the sorted distinct code points of the
 * training corpus, so token ids are stable for a given corpus. No end-of-text token.
 */
public final class CharTokenizer implements Tokenizer {
    public static final String NAME = "char";

    private final int[] codePoints;

    public CharTokenizer(int[] sortedDistinctCodePoints) {
        for (int i = 1; i < sortedDistinctCodePoints.length; i++) {
            if (sortedDistinctCodePoints[i - 1] >= sortedDistinctCodePoints[i]) {
                throw new IllegalArgumentException("code points must be sorted and distinct");
            }
        }
        this.codePoints = sortedDistinctCodePoints.clone();
    }

    public static CharTokenizer fromText(CharSequence text) {
        return new Builder().add(text).build();
    }

    /** Collects the vocabulary from text streamed in chunks (a chunk may end mid surrogate pair). */
    public static final class Builder {
        private final BitSet seen = new BitSet();
        private char pendingHigh;

        public Builder add(CharSequence chunk) {
            int i = 0;
            if (pendingHigh != 0 && !chunk.isEmpty()) {
                seen.set(Character.isLowSurrogate(chunk.charAt(0))
                        ? Character.toCodePoint(pendingHigh, chunk.charAt(i++)) : pendingHigh);
                pendingHigh = 0;
            }
            for (; i < chunk.length(); i++) {
                char c = chunk.charAt(i);
                if (Character.isHighSurrogate(c) && i + 1 == chunk.length()) {
                    pendingHigh = c;
                } else if (Character.isHighSurrogate(c) && Character.isLowSurrogate(chunk.charAt(i + 1))) {
                    seen.set(Character.toCodePoint(c, chunk.charAt(++i)));
                } else {
                    seen.set(c);
                }
            }
            return this;
        }

        public CharTokenizer build() {
            BitSet all = (BitSet) seen.clone();
            if (pendingHigh != 0) {
                all.set(pendingHigh);
            }
            return new CharTokenizer(all.stream().toArray());
        }
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public int vocabSize() {
        return codePoints.length;
    }

    @Override
    public int[] encode(String text) {
        int[] tokens = new int[text.codePointCount(0, text.length())];
        int n = 0;
        for (int i = 0; i < text.length(); ) {
            int cp = text.codePointAt(i);
            int id = Arrays.binarySearch(codePoints, cp);
            if (id < 0) {
                throw new UserError("character " + describe(cp) + " is not in the char vocabulary");
            }
            tokens[n++] = id;
            i += Character.charCount(cp);
        }
        return tokens;
    }

    private static String describe(int cp) {
        String code = String.format("U+%04X", cp);
        return Character.isISOControl(cp) ? code : "'" + Character.toString(cp) + "' (" + code + ")";
    }

    @Override
    public String decode(int[] tokens) {
        StringBuilder sb = new StringBuilder(tokens.length);
        for (int t : tokens) {
            sb.appendCodePoint(codePoint(t));
        }
        return sb.toString();
    }

    private int codePoint(int token) {
        if (token < 0 || token >= codePoints.length) {
            throw new IllegalArgumentException("token " + token + " is outside the char vocabulary of "
                    + codePoints.length);
        }
        return codePoints[token];
    }

    @Override
    public int eotToken() {
        return -1;
    }

    @Override
    public StreamDecoder streamDecoder() {
        return new StreamDecoder(t -> Character.toString(codePoint(t)).getBytes(StandardCharsets.UTF_8));
    }

    @Override
    public ObjectNode toJson() {
        ObjectNode json = JSON.createObjectNode().put("name", NAME).put("vocabSize", vocabSize());
        ArrayNode cps = json.putArray("codePoints");
        for (int cp : codePoints) {
            cps.add(cp);
        }
        return json;
    }

    static CharTokenizer fromJson(JsonNode json) {
        JsonNode cps = json.path("codePoints");
        if (!cps.isArray() || cps.isEmpty()) {
            throw new UserError("char tokenizer has no 'codePoints' array");
        }
        int[] codePoints = new int[cps.size()];
        for (int i = 0; i < codePoints.length; i++) {
            codePoints[i] = cps.get(i).asInt(-1);
            if (codePoints[i] < 0 || codePoints[i] > Character.MAX_CODE_POINT
                    || (i > 0 && codePoints[i] <= codePoints[i - 1])) {
                throw new UserError("char tokenizer 'codePoints' must be sorted distinct code points");
            }
        }
        return new CharTokenizer(codePoints);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof CharTokenizer other && Arrays.equals(codePoints, other.codePoints);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(codePoints);
    }
}
