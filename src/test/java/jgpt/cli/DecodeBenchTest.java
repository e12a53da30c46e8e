package jgpt.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class DecodeBenchTest {
    /** A tiny Llama shape: the command measures bandwidth, decodes f32 and Q8_0, and relates them. */
    @Test
    void printsBandwidthRooflineAndQ8Ratio() {
        StringWriter out = new StringWriter();
        CommandLine cl = new CommandLine(new DecodeBench()).setOut(new PrintWriter(out));
        assertThat(cl.execute("--layers", "2", "--dim", "64", "--heads", "4", "--kv-heads", "2", "--hidden", "96",
                "--vocab", "128", "--steps", "8", "--rounds", "3", "--segment", "3", "--probe-mib", "16", "--threads", "1")).isZero();
        String text = out.toString();
        System.out.print(text);
        Matcher bw = Pattern.compile("read bandwidth: ([0-9.]+) GB/s").matcher(text);
        assertThat(bw.find()).as(text).isTrue();
        assertThat(Double.parseDouble(bw.group(1))).isPositive();
        // weights per token: 2 layers x (64x128 qkv + 64x64 o + 64x192 gate|up + 96x64 down) + 128x64 head
        long weights = 2L * (128 * 64 + 64 * 64 + 192 * 64 + 64 * 96) + 128 * 64;
        assertThat(text).contains(String.format(java.util.Locale.ROOT, "reads %.2f MB/token", weights * 4 / 1e6))
                .containsPattern("f32 +[0-9.]+ \\([0-9.]+\\) tokens/s.*roofline [0-9.]+ tokens/s at the best sweep: [0-9]+% \\([0-9]+%\\);"
                        + " against the mean sweep during each round: [0-9]+% \\([0-9]+%\\)")
                .containsPattern("Q8_0 +[0-9.]+ \\([0-9.]+\\) tokens/s.*: [0-9]+% \\([0-9]+%\\); [0-9.]+x \\([0-9.]+x\\) f32");
    }

    @Test
    void rejectsBadOptions() {
        StringWriter err = new StringWriter();
        CommandLine cl = new CommandLine(new DecodeBench()).setErr(new PrintWriter(err));
        assertThat(cl.execute("--steps", "0")).isNotZero();
        assertThat(err.toString()).contains("--steps, --rounds and --segment must be >= 1");
    }
}
