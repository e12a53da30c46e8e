package jgpt.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;

/** PLACEHOLDER (replaced on merge by the data branch's tokenizer). */
public interface Tokenizer {
    String name();

    int vocabSize();

    int[] encode(String text);

    String decode(int[] tokens);

    ObjectNode toJson();

    static Tokenizer fromJson(JsonNode json) {
        throw new UnsupportedOperationException("placeholder");
    }

    static Tokenizer load(Path path) {
        throw new UnsupportedOperationException("placeholder");
    }
}
