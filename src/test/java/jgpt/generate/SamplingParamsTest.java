package jgpt.generate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import jgpt.util.UserError;
import org.junit.jupiter.api.Test;

class SamplingParamsTest {

    private static final SamplingParams D = SamplingParams.defaults();

    @Test
    void defaultsAreValidAndAllOff() {
        assertThat(D.validate()).isSameAs(D);
        assertThat(D.temperature()).isEqualTo(1.0);
        assertThat(D.topK()).isZero();
        assertThat(D.topP()).isEqualTo(1.0);
        assertThat(D.minP()).isZero();
        assertThat(D.repetitionPenalty()).isEqualTo(1.0);
        assertThat(D.logitBias()).isEmpty();
    }

    @Test
    void withersChangeOneField() {
        SamplingParams p = D.withTopK(40).withTopP(0.9).withSeed(7);
        assertThat(p).isEqualTo(new SamplingParams(1.0, 40, 0.9, 0, 1.0, 0, 0, Map.of(), 7));
        assertThat(p.newRng().state()).isEqualTo(7);
    }

    @Test
    void errorsNameTheFieldAndValue() {
        assertInvalid(D.withTemperature(-1), "temperature must be >= 0, got -1.0");
        assertInvalid(D.withTemperature(Double.NaN), "temperature must be >= 0, got NaN");
        assertInvalid(D.withTemperature(Double.POSITIVE_INFINITY), "temperature must be finite, got Infinity");
        assertInvalid(D.withTopK(-1), "topK must be >= 0 (0 = off), got -1");
        assertInvalid(D.withTopP(0), "topP must be in (0, 1] (1 = off), got 0.0");
        assertInvalid(D.withTopP(1.5), "topP must be in (0, 1] (1 = off), got 1.5");
        assertInvalid(D.withMinP(-0.1), "minP must be in [0, 1] (0 = off), got -0.1");
        assertInvalid(D.withMinP(1.1), "minP must be in [0, 1] (0 = off), got 1.1");
        assertInvalid(D.withRepetitionPenalty(0), "repetitionPenalty must be finite and > 0 (1 = off), got 0.0");
        assertInvalid(D.withPresencePenalty(2.5), "presencePenalty must be in [-2, 2], got 2.5");
        assertInvalid(D.withFrequencyPenalty(-3), "frequencyPenalty must be in [-2, 2], got -3.0");
        assertInvalid(D.withLogitBias(Map.of(5, 150f)), "logitBias[5] must be in [-100, 100], got 150.0");
        assertInvalid(D.withLogitBias(Map.of(-2, 1f)), "logitBias token id must be >= 0, got -2");
    }

    @Test
    void boundaryValuesAreValid() {
        D.withTemperature(0).withTopP(1).withMinP(1).withPresencePenalty(-2).withFrequencyPenalty(2)
                .withLogitBias(Map.of(0, -100f, 1, 100f)).validate();
    }

    @Test
    void samplerRejectsBiasOutsideVocabulary() {
        assertThatThrownBy(() -> new Sampler(10, D.withLogitBias(Map.of(10, 1f))))
                .isInstanceOf(UserError.class)
                .hasMessage("logitBias token 10 is outside the vocabulary of 10 tokens");
    }

    private static void assertInvalid(SamplingParams p, String message) {
        assertThatThrownBy(p::validate).isInstanceOf(UserError.class).hasMessage(message);
    }
}
