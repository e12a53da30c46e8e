package jgpt.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The quickstart through the real command line (tiny model): prepare, train, eval, sample, and bad input. */
class EndToEndCliTest {
    @TempDir static Path dir;
    static Path data, run;

    record Result(int code, String out, String err) {}

    static Result jgpt(String... args) {
        PrintStream savedOut = System.out, savedErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            int code = Main.execute(args);
            return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(savedOut);
            System.setErr(savedErr);
        }
    }

    @BeforeAll
    static void trainTinyModel() throws Exception {
        Path corpus = dir.resolve("corpus.txt");
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 300; i++) sb.append("It is a truth universally acknowledged, number ").append(i).append(".\n");
        Files.writeString(corpus, sb);
        data = dir.resolve("data");
        run = dir.resolve("run");
        assertThat(jgpt("prepare", "--input", corpus.toString(), "--tokenizer", "char", "--out", data.toString()).code()).isZero();
        Result r = jgpt("train", "--data", data.toString(), "--out", run.toString(), "--n-layer", "1", "--n-head", "2",
                "--n-embd", "32", "--block-size", "16", "--batch-size", "4", "--max-steps", "6", "--eval-interval", "3",
                "--eval-batches", "2", "--warmup-steps", "1", "--checkpoint-interval", "3");
        assertThat(r.code()).as(r.err()).isZero();
        for (String f : List.of("ckpt.bin", "metrics.jsonl", "loss.png", "tokenizer.json")) assertThat(run.resolve(f)).exists();
    }

    @Test
    void metricsHaveTheRequiredFields() throws Exception {
        List<String> lines = Files.readAllLines(run.resolve("metrics.jsonl"));
        assertThat(lines).isNotEmpty();
        ObjectMapper json = new ObjectMapper();
        boolean sawVal = false;
        for (String line : lines) {
            JsonNode n = json.readTree(line);
            for (String f : List.of("step", "loss", "lr", "grad_norm", "tokens_per_s")) assertThat(n.has(f)).as(f + " in " + line).isTrue();
            sawVal |= n.has("val_loss");
        }
        assertThat(sawVal).isTrue();
    }

    @Test
    void evalJsonIsTheLastLine() throws Exception {
        Result r = jgpt("eval", "--checkpoint", run.toString(), "--data", data.toString(), "--json");
        assertThat(r.code()).as(r.err()).isZero();
        String[] lines = r.out().strip().split("\n");
        JsonNode n = new ObjectMapper().readTree(lines[lines.length - 1]);
        assertThat(n.get("loss").asDouble()).isBetween(0.0, 10.0);
        assertThat(n.get("perplexity").asDouble()).isCloseTo(Math.exp(n.get("loss").asDouble()), org.assertj.core.data.Offset.offset(1e-3));
    }

    @Test
    void sampleStartsWithThePromptAndIsReproducibleWithASeed() {
        String[] args = {"sample", "--checkpoint", run.toString(), "--prompt", "It is", "--max-new-tokens", "30",
                "--temperature", "1.0", "--top-k", "10", "--top-p", "0.9", "--seed", "42"};
        Result a = jgpt(args), b = jgpt(args);
        assertThat(a.code()).as(a.err()).isZero();
        assertThat(a.out()).startsWith("It is").isEqualTo(b.out());
        assertThat(a.out().strip().length()).isGreaterThan("It is".length());
        // Progress and timings go to stderr, so stdout pipes cleanly.
        assertThat(a.err()).contains("tokens/s");
        Result c = jgpt("sample", "--checkpoint", run.toString(), "--prompt", "It is", "--max-new-tokens", "30",
                "--temperature", "1.0", "--seed", "43");
        assertThat(c.out()).isNotEqualTo(a.out());
    }

    @Test
    void greedyIsTheSameForTemperatureZeroAndTopKOne() {
        Result t0 = jgpt("sample", "--checkpoint", run.toString(), "--prompt", "It", "--max-new-tokens", "20", "--temperature", "0", "--seed", "1");
        Result k1 = jgpt("sample", "--checkpoint", run.toString(), "--prompt", "It", "--max-new-tokens", "20", "--top-k", "1", "--seed", "2");
        assertThat(t0.code()).isZero();
        assertThat(t0.out()).isEqualTo(k1.out());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "--top-p|0|top_p", "--top-p|1.5|top_p", "--temperature|-1|temperature", "--top-k|-1|top_k"})
    void badSamplingFlagsGiveOneLineErrors(String flag, String value, String field) {
        Result r = jgpt("sample", "--checkpoint", run.toString(), "--prompt", "It", flag, value);
        assertThat(r.code()).isNotZero();
        assertThat(r.err().strip()).startsWith("jgpt: ").doesNotContain("\n").containsIgnoringCase(field.replace("_", ""));
    }

    @Test
    void resumingWithAnotherConfigNamesTheField() {
        Result r = jgpt("train", "--data", data.toString(), "--out", run.toString(), "--resume", "--n-embd", "64", "--max-steps", "8");
        assertThat(r.code()).isNotZero();
        assertThat(r.err().strip()).startsWith("jgpt: ").contains("n_embd").doesNotContain("\n");
    }

    @Test
    void missingCheckpointIsAOneLineError() {
        Result r = jgpt("sample", "--checkpoint", dir.resolve("nope").toString());
        assertThat(r.code()).isNotZero();
        assertThat(r.err().strip()).startsWith("jgpt: ").contains("nope").doesNotContain("\n");
    }

    @Test
    void evalWithQ8WeightsStaysCloseToF32ForALlama() throws Exception {
        Path llama = dir.resolve("llama");
        Result t = jgpt("train", "--arch", "llama", "--n-kv-head", "1", "--data", data.toString(), "--out", llama.toString(),
                "--n-layer", "1", "--n-head", "2", "--n-embd", "32", "--block-size", "16", "--batch-size", "4",
                "--max-steps", "6", "--eval-batches", "2", "--warmup-steps", "1");
        assertThat(t.code()).as(t.err()).isZero();
        ObjectMapper json = new ObjectMapper();
        Result f32 = jgpt("eval", "--checkpoint", llama.toString(), "--data", data.toString(), "--json");
        Result q8 = jgpt("eval", "--checkpoint", llama.toString(), "--data", data.toString(), "--json", "--quant", "q8");
        assertThat(q8.code()).as(q8.err()).isZero();
        double a = json.readTree(f32.out().strip().substring(f32.out().strip().lastIndexOf('\n') + 1)).get("loss").asDouble();
        double b = json.readTree(q8.out().strip().substring(q8.out().strip().lastIndexOf('\n') + 1)).get("loss").asDouble();
        // Q8_0 keeps ~7 bits per weight: the loss moves, but by well under 1%.
        assertThat(b).isNotEqualTo(a);
        assertThat(Math.abs(b - a) / a).isLessThan(0.01);
        Result gpt2 = jgpt("eval", "--checkpoint", run.toString(), "--data", data.toString(), "--quant", "q8");
        assertThat(gpt2.code()).isNotZero();
        assertThat(gpt2.err().strip()).startsWith("jgpt: ").contains("llama");
    }
}
