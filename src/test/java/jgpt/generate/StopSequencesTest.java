package jgpt.generate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import jgpt.generate.StopSequences.Emission;
import jgpt.util.UserError;
import org.junit.jupiter.api.Test;

class StopSequencesTest {

    @Test
    void stopSplitAcrossThreeChunksIsNotEmittedAndTheRestIsDropped() {
        StopSequences s = new StopSequences(List.of("<|end|>"));
        assertThat(s.push("Hello <|")).isEqualTo(new Emission("Hello ", false));
        assertThat(s.push("en")).isEqualTo(new Emission("", false));
        assertThat(s.push("d|> and more")).isEqualTo(new Emission("", true));
        assertThat(s.stopped()).isTrue();
        assertThat(s.push("ignored")).isEqualTo(new Emission("", true));
        assertThat(s.flush()).isEmpty();
    }

    @Test
    void falseStartIsReleasedOnceItCannotBeAStop() {
        StopSequences s = new StopSequences(List.of("\n\nUser:"));
        assertThat(s.push("one\n")).isEqualTo(new Emission("one", false));
        assertThat(s.push("\nUs")).isEqualTo(new Emission("", false));
        assertThat(s.push("ually")).isEqualTo(new Emission("\n\nUsually", false));
        assertThat(s.stopped()).isFalse();
    }

    @Test
    void flushReleasesTheHeldTail() {
        StopSequences s = new StopSequences(List.of("STOP"));
        assertThat(s.push("the end ST")).isEqualTo(new Emission("the end ", false));
        assertThat(s.flush()).isEqualTo("ST");
        assertThat(s.flush()).isEmpty();
    }

    @Test
    void earliestOfSeveralStopsWinsAndTextBeforeItIsEmitted() {
        StopSequences s = new StopSequences(List.of("xyz", "b"));
        assertThat(s.push("axy")).isEqualTo(new Emission("a", false));
        assertThat(s.push("zb")).isEqualTo(new Emission("", true));
        StopSequences t = new StopSequences(List.of("xyz", "b"));
        assertThat(t.push("aabxyz")).isEqualTo(new Emission("aa", true));
    }

    @Test
    void withoutStopsEverythingPassesThrough() {
        StopSequences s = new StopSequences(List.of());
        assertThat(s.push("abc")).isEqualTo(new Emission("abc", false));
        assertThat(s.flush()).isEmpty();
    }

    @Test
    void emptyStopStringIsRejected() {
        assertThatThrownBy(() -> new StopSequences(List.of("")))
                .isInstanceOf(UserError.class).hasMessage("stop sequences must not be empty");
    }
}
