package jgpt.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import jgpt.generate.KVCacheEquivalenceTestAccess;
import jgpt.model.GPT;
import jgpt.train.Checkpoint;
import jgpt.train.TrainConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class GenerateBenchCommandTest {
    @TempDir Path dir;

    @Test
    void printsPrefillDecodeAndFirstTokenTimes() {
        try (GPT model = KVCacheEquivalenceTestAccess.model(32, 1)) {
            Checkpoint.save(dir, new Checkpoint.State(model.config(), TrainConfig.defaults(),
                    KVCacheEquivalenceTestAccess.TOKENIZER.toJson(), 0, 0, 0), model.params(), null);
        }
        StringWriter out = new StringWriter();
        CommandLine cl = new CommandLine(new GenerateBenchCommand()).setOut(new PrintWriter(out));
        assertThat(cl.execute("--checkpoint", dir.toString(), "--streams", "1,4", "--new-tokens", "40")).isZero();
        assertThat(out.toString()).contains("prefill: ").contains("time to first token: ")
                .contains("decode, 1 stream: ").contains("decode, 4 streams: ");
        System.out.print(out);
    }
}
