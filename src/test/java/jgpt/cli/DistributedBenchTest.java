package jgpt.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import jgpt.dist.Launcher;
import jgpt.model.ParamLayout;
import jgpt.train.TrainConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code jgpt bench train --nproc 2} end to end under a real mpirun, on a tiny shape: it prints one
 * row per round (including the no-communication baseline of independent processes), and its
 * summary is computed from those rows (the medians of the rounds' ratios), with FSDP's state per
 * rank about half of DDP's. Speed itself is measured by running the bench,
 * not here.
 */
class DistributedBenchTest {
    @TempDir Path dir;

    /** GPT-2 and Llama presets (the bench passes the preset's architecture to every rank). */
    @ParameterizedTest
    @ValueSource(strings = {"gpt2", "llama"})
    void fsdpBenchReportsRoundsScalingCommunicationAndStateBytes(String arch) throws Exception {
        assumeTrue(Launcher.findMpirun().isPresent(), "mpirun is not on PATH (apt-get install openmpi-bin)");
        Path cfg = dir.resolve("tiny.json");
        java.nio.file.Files.writeString(cfg, "{\"arch\": \"" + arch + "\", \"n_layer\": 2, \"n_head\": 2, \"n_embd\": 32,"
                + " \"block_size\": 16, \"batch_size\": 2" + ("llama".equals(arch) ? ", \"n_kv_head\": 1, \"ffn_hidden\": 64" : "") + "}");
        long params = ParamLayout.of(TrainConfig.load(cfg).model(40)).numel();
        PrintStream saved = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        int code;
        try {
            code = Main.execute("bench", "train", "--config", cfg.toString(), "--vocab", "40", "--nproc", "2",
                    "--strategy", "fsdp", "--threads", "1", "--steps", "4", "--rounds", "3");
        } finally {
            System.setOut(saved);
        }
        String text = out.toString(StandardCharsets.UTF_8);
        assertThat(code).as(text).isZero();

        // | round | 1 x 1 ms/step | 1 x 2 ms/step | 2 x 1 independent ms/step | 2 x 1 ms/step | comm ms/step
        // | scaling vs 1 x 1 | vs 1 x 2 | vs independent |
        List<Double> scalings = new ArrayList<>(), vsIndependent = new ArrayList<>();
        Matcher row = Pattern.compile("(?m)^\\| (\\d) \\|" + " ([\\d.]+) \\|".repeat(8) + "$").matcher(text);
        while (row.find()) {
            assertThat(Integer.parseInt(row.group(1))).isEqualTo(scalings.size() + 1);
            for (int g = 2; g <= 5; g++) assertThat(Double.parseDouble(row.group(g))).as("ms/step").isPositive();
            scalings.add(Double.parseDouble(row.group(7)));
            vsIndependent.add(Double.parseDouble(row.group(9)));
        }
        assertThat(scalings).as(text).hasSize(3);

        Matcher summary = Pattern.compile("scaling 2 ranks x 1 thread\\(s\\) vs 1 process x 1: ([\\d.]+);").matcher(text);
        assertThat(summary.find()).as(text).isTrue();
        double[] sorted = scalings.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        // the rows print ratios rounded to 2 decimals, the summary the median of the unrounded ones
        assertThat(Double.parseDouble(summary.group(1))).isCloseTo(sorted[1], org.assertj.core.data.Offset.offset(0.0051));
        Matcher ceiling = Pattern.compile("vs 2 independent processes \\(the machine's ceiling\\): ([\\d.]+)").matcher(text);
        assertThat(ceiling.find()).as(text).isTrue();
        double[] sortedVsIndependent = vsIndependent.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        assertThat(Double.parseDouble(ceiling.group(1))).isCloseTo(sortedVsIndependent[1], org.assertj.core.data.Offset.offset(0.0051));

        Matcher ddp = Pattern.compile("(?m)^\\| 1 x 1 \\| - \\| \\d+ \\| 1.00 \\| [\\d.]+ \\| 0 \\| ([\\d,]+) \\|$").matcher(text);
        Matcher fsdp = Pattern.compile("(?m)^\\| 2 x 1 \\| fsdp \\| \\d+ \\| [\\d.]+ \\| [\\d.]+ \\| [\\d.]+ \\| ([\\d,]+) \\|$").matcher(text);
        assertThat(ddp.find() && fsdp.find()).as(text).isTrue();
        long ddpBytes = Long.parseLong(ddp.group(1).replace(",", "")), fsdpBytes = Long.parseLong(fsdp.group(1).replace(",", ""));
        assertThat(ddpBytes).as("DDP: params, grads and two AdamW moments of this architecture").isEqualTo(16 * params);
        assertThat((double) fsdpBytes / ddpBytes).as(Arrays.toString(new long[] {ddpBytes, fsdpBytes})).isBetween(0.5, 0.55);
    }

    /** A bad option of the distributed bench is one line on stderr (it was a stack trace from a nested command line). */
    @Test
    void badOptionUnderNprocIsOneLineError() throws Exception {
        Path cfg = dir.resolve("tiny.json");
        java.nio.file.Files.writeString(cfg, "{\"n_layer\": 1, \"n_head\": 2, \"n_embd\": 32, \"block_size\": 16, \"batch_size\": 2}");
        PrintStream saved = System.err;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        int code;
        try {
            code = Main.execute("bench", "train", "--config", cfg.toString(), "--vocab", "40", "--nproc", "2", "--steps", "2");
        } finally {
            System.setErr(saved);
        }
        assertThat(code).isEqualTo(2);
        assertThat(err.toString(StandardCharsets.UTF_8)).isEqualTo("jgpt: --steps must be >= 3, got 2" + System.lineSeparator());
    }
}
