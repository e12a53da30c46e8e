package jgpt.tokenizer;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import jgpt.util.UserError;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * Text to token ids and back. Serializes to a small JSON object so a checkpoint (or a prepared
 * data directory's {@code tokenizer.json}) carries the exact tokenizer its token ids came from.
 */
public interface Tokenizer {

    /** {@code "char"} or {@code "gpt2"}: also the name stored in token files. */
    String name();

    int vocabSize();

    int[] encode(String text);

    String decode(int[] tokens);

    /** The end-of-text token id, or -1 when this tokenizer has none. */
    int eotToken();

    /** A fresh decoder for generating text one token at a time. */
    StreamDecoder streamDecoder();

    ObjectNode toJson();

    ObjectMapper JSON = new ObjectMapper();

    /** Checks a tokenizer name given by the user; returns it unchanged. */
    static String checkName(String name) {
        if (!CharTokenizer.NAME.equals(name) && !Gpt2Tokenizer.NAME.equals(name)) {
            throw new UserError("unknown tokenizer '" + name + "' (expected gpt2 or char)");
        }
        return name;
    }

    static Tokenizer fromJson(JsonNode json) {
        String name = json.path("name").asText("");
        return switch (checkName(name)) {
            case CharTokenizer.NAME -> CharTokenizer.fromJson(json);
            default -> Gpt2Tokenizer.get();
        };
    }

    default void save(Path path) {
        try {
            JSON.writerWithDefaultPrettyPrinter().writeValue(path.toFile(), toJson());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + path, e);
        }
    }

    static Tokenizer load(Path path) {
        try {
            return fromJson(JSON.readTree(Files.readString(path)));
        } catch (NoSuchFileException e) {
            throw new UserError("tokenizer file not found: " + path);
        } catch (JacksonException e) {
            throw new UserError(path + ": not valid JSON (" + e.getOriginalMessage() + ")");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + path, e);
        } catch (UserError e) {
            throw new UserError(path + ": " + e.getMessage());
        }
    }
}
