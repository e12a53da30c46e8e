package jgpt.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import jgpt.util.UserError;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainConfigTest {
    @TempDir Path dir;

    @Test
    void presetsLoadAndFlagsOverrideThem() {
        TrainConfig gpt2 = TrainConfig.load(Path.of("configs/gpt2-124m.json"));
        assertThat(gpt2.nLayer()).isEqualTo(12);
        assertThat(gpt2.nEmbd()).isEqualTo(768);
        assertThat(gpt2.T()).isEqualTo(1024);
        assertThat(gpt2.tied()).isTrue();

        TrainConfig austen = TrainConfig.load(Path.of("configs/austen-char.json"));
        ObjectNode flags = JsonNodeFactory.instance.objectNode().put("n_layer", 2).put("lr", 3e-4).put("tied", false);
        TrainConfig c = austen.with(flags, "command line");
        assertThat(c.nLayer()).isEqualTo(2);
        assertThat(c.lr()).isEqualTo(3e-4);
        assertThat(c.tied()).isFalse();
        assertThat(c.nEmbd()).isEqualTo(austen.nEmbd());
        assertThat(c.weightDecay()).isEqualTo(0.1);
        assertThat(c.schedule().decaySteps()).isEqualTo(c.maxSteps());
    }

    @Test
    void jsonRoundTrip() {
        TrainConfig c = TrainConfig.defaults().with(JsonNodeFactory.instance.objectNode().put("data_dir", "d").put("seed", 7), "x");
        assertThat(TrainConfig.fromJson(c.toJson(), "ckpt")).isEqualTo(c);
        assertThat(c.toJson().has("grad_accum_steps")).isTrue();
    }

    @Test
    void badFilesAndFieldsAreNamed() throws Exception {
        Path unknown = dir.resolve("u.json");
        Files.writeString(unknown, "{\"n_layers\": 3}");
        assertThatThrownBy(() -> TrainConfig.load(unknown)).isInstanceOf(UserError.class)
                .hasMessageContaining("u.json").hasMessageContaining("unknown field 'n_layers'");
        Path typed = dir.resolve("t.json");
        Files.writeString(typed, "{\"n_layer\": \"many\"}");
        assertThatThrownBy(() -> TrainConfig.load(typed)).isInstanceOf(UserError.class)
                .hasMessageContaining("t.json").hasMessageContaining("n_layer");
        Path invalid = dir.resolve("i.json");
        Files.writeString(invalid, "{\"batch_size\": 0}");
        assertThatThrownBy(() -> TrainConfig.load(invalid)).isInstanceOf(UserError.class)
                .hasMessageContaining("i.json").hasMessageContaining("batch_size = 0");
        Path broken = dir.resolve("b.json");
        Files.writeString(broken, "{\"n_layer\": ");
        assertThatThrownBy(() -> TrainConfig.load(broken)).isInstanceOf(UserError.class).hasMessageContaining("b.json");
        assertThatThrownBy(() -> TrainConfig.load(dir.resolve("missing.json"))).isInstanceOf(UserError.class)
                .hasMessageContaining("missing.json");
    }
}
