package jgpt.tokenizer;

import jgpt.util.UserError;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class CharTokenizerTest {

    @Test
    void vocabularyIsSortedDistinctCodePointsAndRoundTrips() {
        String text = "hello, world! £5 𝄞";
        CharTokenizer tok = CharTokenizer.fromText(text);
        // distinct: h e l o , ' ' w r d ! £ 5 𝄞 = 13
        assertThat(tok.vocabSize()).isEqualTo(13);
        assertThat(tok.encode(" !")).containsExactly(0, 1); // space and '!' sort first
        assertThat(tok.decode(tok.encode(text))).isEqualTo(text);
        assertThat(tok.encode("𝄞")).hasSize(1); // one token per code point, not per char
        assertThat(tok.eotToken()).isEqualTo(-1);
    }

    @Test
    void builderJoinsSurrogatePairSplitAcrossChunks() {
        String text = "a𝄞b";
        CharTokenizer streamed = new CharTokenizer.Builder()
                .add(text.substring(0, 2)).add(text.substring(2)).build();
        assertThat(streamed).isEqualTo(CharTokenizer.fromText(text));
        assertThat(streamed.vocabSize()).isEqualTo(3);
    }

    @Test
    void unknownCharacterIsAUserErrorNamingIt() {
        CharTokenizer tok = CharTokenizer.fromText("abc");
        assertThatThrownBy(() -> tok.encode("aQ"))
                .isInstanceOf(UserError.class)
                .hasMessage("character 'Q' (U+0051) is not in the char vocabulary");
    }

    @Test
    void streamDecoderMatchesDecode() {
        String text = "£ café 日本 𝄞!";
        CharTokenizer tok = CharTokenizer.fromText(text);
        StreamDecoder dec = tok.streamDecoder();
        StringBuilder sb = new StringBuilder();
        for (int t : tok.encode(text)) {
            sb.append(dec.feed(t));
        }
        assertThat(sb.append(dec.finish()).toString()).isEqualTo(text);
    }

    @Test
    void jsonAndFileRoundTrip(@TempDir Path dir) {
        CharTokenizer tok = CharTokenizer.fromText("Emma £ Woodhouse");
        assertThat(Tokenizer.fromJson(tok.toJson())).isEqualTo(tok);
        Path file = dir.resolve("tokenizer.json");
        tok.save(file);
        Tokenizer loaded = Tokenizer.load(file);
        assertThat(loaded).isEqualTo(tok);
        assertThat(loaded.encode("Emma")).containsExactly(tok.encode("Emma"));
    }
}
