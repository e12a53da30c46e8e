package jgpt.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Command-line errors and plotting; none of these needs a model or a token file. */
class TrainCliTest {
    @TempDir Path dir;

    /** Runs jgpt; returns exit code and stderr. */
    private record Result(int code, String err) {}

    private static Result jgpt(String... args) {
        PrintStream saved = System.err;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            int code = Main.execute(args);
            return new Result(code, err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setErr(saved);
        }
    }

    @Test
    void benchTrainRunsALlamaPreset() throws Exception {
        Path cfg = dir.resolve("llama.json");
        Files.writeString(cfg, "{\"arch\": \"llama\", \"n_layer\": 1, \"n_head\": 2, \"n_kv_head\": 1, \"n_embd\": 32,"
                + " \"block_size\": 16, \"bias\": false, \"tied\": false, \"batch_size\": 2}");
        PrintStream saved = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        Result r;
        try {
            r = jgpt("bench", "train", "--config", cfg.toString(), "--vocab", "40", "--steps", "2", "--warmup", "1",
                    "--threads", "1", "--sgemm-size", "64");
        } finally {
            System.setOut(saved);
        }
        assertThat(r.code()).as(r.err()).isZero();
        // the last line is the JSON record, with a real loss (ln 40 = 3.69 at initialization)
        String[] lines = out.toString(StandardCharsets.UTF_8).strip().split("\n");
        com.fasterxml.jackson.databind.JsonNode json = new com.fasterxml.jackson.databind.ObjectMapper().readTree(lines[lines.length - 1]);
        assertThat(json.path("first_loss").asDouble()).isBetween(3.0, 4.5);
        assertThat(json.path("ms_per_step").asDouble()).isPositive();
        // --warmup 1 is a minimum: more steps while one still allocates (uncompiled code), at most 10
        assertThat(json.path("warmup").asInt()).isBetween(1, 10);
        assertThat(json.path("alloc_bytes_per_step").isNumber()).isTrue();
    }

    @Test
    void missingTrainBinIsAUserError() throws Exception {
        Path data = Files.createDirectory(dir.resolve("data"));
        Files.writeString(data.resolve("tokenizer.json"), "{\"name\":\"char\"}");
        Result r = jgpt("train", "--data", data.toString(), "--out", dir.resolve("run").toString());
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).startsWith("jgpt: ").contains(data.toString()).contains("train.bin");
    }

    @Test
    void unknownConfigFieldIsNamed() throws Exception {
        Path cfg = dir.resolve("c.json");
        Files.writeString(cfg, "{\"n_layer\": 2, \"learning_rate\": 1}");
        Result r = jgpt("train", "--config", cfg.toString(), "--data", dir.toString(), "--out", dir.resolve("run").toString());
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("c.json").contains("learning_rate");
    }

    @Test
    void resumeWithoutCheckpointIsAUserError() {
        Result r = jgpt("train", "--data", dir.toString(), "--out", dir.resolve("run").toString(), "--resume");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("ckpt.bin").contains("no checkpoint");
    }

    @Test
    void evalWithoutCheckpointIsAUserError() {
        Result r = jgpt("eval", "--checkpoint", dir.resolve("nope").toString(), "--data", dir.toString());
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("no checkpoint");
    }

    @Test
    void plotRedrawsTheChartFromMetrics() throws Exception {
        Files.writeString(dir.resolve("metrics.jsonl"), """
                {"step":1,"loss":4.2,"lr":1e-4,"grad_norm":3.0,"tokens_per_s":1000,"ms_per_step":10}
                {"step":2,"loss":3.9,"lr":2e-4,"grad_norm":2.5,"tokens_per_s":1000,"ms_per_step":10,"val_loss":4.0}
                {"step":3,"loss":3.5,"lr":3e-4,"grad_norm":2.0,"tokens_per_s":1000,"ms_per_step":10}
                """);
        assertThat(jgpt("plot", dir.toString()).code()).isZero();
        byte[] png = Files.readAllBytes(dir.resolve("loss.png"));
        assertThat(png).startsWith(0x89, 'P', 'N', 'G');
        assertThat(jgpt("plot", dir.resolve("empty").toString()).code()).isEqualTo(2);
    }
}
