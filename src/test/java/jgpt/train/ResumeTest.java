package jgpt.train;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import java.io.PrintStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import jgpt.data.TokenFile;
import jgpt.model.FlatBuffer;
import jgpt.model.ParamLayout;
import jgpt.util.Rng;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * Training 6 steps in one go and 3 + resume + 3 must give identical per-step losses and bit-identical
 * final parameters, for each architecture.
 */
class ResumeTest {
    private static final int VOCAB = 11;

    @TempDir Path dir;

    private static void writeTokens(Path file, int n, long seed) {
        Rng rng = new Rng(seed);
        int[] tokens = new int[n];
        for (int i = 0; i < n; i++) tokens[i] = (i % 3 == 0) ? rng.nextInt(VOCAB) : (tokens[i - 1] + 1) % VOCAB;
        try (TokenFile.Writer w = new TokenFile.Writer(file, "char", VOCAB)) {
            w.write(tokens);
            w.finish();
        }
    }

    private TrainConfig config(String arch, int maxSteps) {
        var o = JsonNodeFactory.instance.objectNode().put("arch", arch);
        if (arch.equals("llama")) o.put("n_kv_head", 1);
        return TrainConfig.defaults().with(o
                .put("n_layer", 1).put("n_head", 2).put("n_embd", 16).put("block_size", 8)
                .put("batch_size", 2).put("grad_accum_steps", 2).put("max_steps", maxSteps)
                .put("lr", 1e-2).put("min_lr", 1e-3).put("warmup_steps", 2).put("lr_decay_steps", 6)
                .put("eval_interval", 2).put("eval_batches", 2).put("log_interval", 1)
                .put("checkpoint_interval", 0).put("threads", 1), "test");
    }

    private static final PrintStream QUIET = new PrintStream(OutputStream.nullOutputStream());

    private static double[] losses(Path run) {
        List<JsonNode> records = MetricsLog.read(run.resolve(MetricsLog.FILE));
        return records.stream().mapToDouble(r -> r.get("loss").asDouble()).toArray();
    }

    @ParameterizedTest
    @ValueSource(strings = {"gpt2", "llama"})
    void resumedRunMatchesUninterruptedRun(String arch) throws Exception {
        Path data = Files.createDirectory(dir.resolve("data"));
        writeTokens(data.resolve("train.bin"), 500, 1);
        writeTokens(data.resolve("val.bin"), 100, 2);
        Files.writeString(data.resolve("tokenizer.json"), "{\"name\":\"char\",\"chars\":\"abcdefghijk\"}");

        Path whole = dir.resolve("whole");
        new Trainer(config(arch, 6), data, whole, false, QUIET).run();

        Path split = dir.resolve("split");
        new Trainer(config(arch, 3), data, split, false, QUIET).run();
        new Trainer(config(arch, 6), data, split, true, QUIET).run();

        double[] expected = losses(whole);
        assertThat(expected).hasSize(6);
        assertThat(losses(split)).containsExactly(expected);
        assertThat(Files.exists(split.resolve("loss.png"))).isTrue();
        assertThat(Files.exists(split.resolve("tokenizer.json"))).isTrue();
        try (Checkpoint a = Checkpoint.load(whole); Checkpoint b = Checkpoint.load(split)) {
            assertThat(b.state().step()).isEqualTo(6);
            assertThat(b.state().dataPosition()).isEqualTo(a.state().dataPosition());
            try (FlatBuffer pa = new FlatBuffer(ParamLayout.of(a.config()));
                 FlatBuffer pb = new FlatBuffer(ParamLayout.of(b.config()))) {
                a.loadParams(pa);
                b.loadParams(pb);
                assertThat(pb.toArray()).isEqualTo(pa.toArray());
            }
        }
    }
}
