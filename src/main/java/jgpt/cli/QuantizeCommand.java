package jgpt.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import jgpt.generate.Q8Checkpoint;
import jgpt.train.Checkpoint;
import jgpt.util.UserError;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code jgpt quantize}: a Llama checkpoint's weights as a Q8_0 checkpoint that {@code jgpt sample} decodes directly. */
@Command(name = "quantize", mixinStandardHelpOptions = true,
        description = "Write a Q8_0 checkpoint (int8 linear weights, blocks of 32 with an f32 scale) for jgpt sample (Llama only).")
public final class QuantizeCommand implements Callable<Integer> {
    @Option(names = "--checkpoint", required = true, paramLabel = "CKPT", description = "run directory or ckpt.bin")
    Path checkpoint;
    @Option(names = "--out", required = true, paramLabel = "DIR", description = "directory to write " + Q8Checkpoint.FILE + " into")
    Path out;

    @Override
    public Integer call() {
        if (Files.exists(out.resolve(Checkpoint.FILE))) {
            throw new UserError(out + " holds a training checkpoint (" + Checkpoint.FILE + "): choose another --out");
        }
        try (Checkpoint ck = Checkpoint.load(checkpoint)) {
            Path file = Q8Checkpoint.write(ck, out);
            System.err.printf("jgpt: quantized %s to %s (%,d bytes, was %,d)%n", ck.file(), file,
                    fileSize(file), fileSize(ck.file()));
        }
        return 0;
    }

    private static long fileSize(Path p) {
        try {
            return Files.size(p);
        } catch (java.io.IOException e) {
            return -1;
        }
    }
}
