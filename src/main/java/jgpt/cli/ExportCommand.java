package jgpt.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import jgpt.convert.HfFormat;
import jgpt.model.LanguageModel;
import jgpt.train.Checkpoint;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code jgpt export}: a checkpoint's weights as a Hugging Face model directory. */
@Command(name = "export", mixinStandardHelpOptions = true,
        description = "Export a checkpoint as a Hugging Face model directory (config.json + model.safetensors, f32).")
public final class ExportCommand implements Callable<Integer> {
    enum Format { hf }

    @Option(names = "--format", defaultValue = "hf", description = "hf (default)")
    Format format;
    @Option(names = "--checkpoint", required = true, paramLabel = "CKPT", description = "run directory or ckpt.bin")
    Path checkpoint;
    @Option(names = "--out", required = true, paramLabel = "DIR", description = "directory to write")
    Path out;

    @Override
    public Integer call() {
        try (Checkpoint ck = Checkpoint.load(checkpoint); LanguageModel model = ck.newModel()) {
            HfFormat.write(model, out);
            System.err.printf("jgpt: exported %s (%s) to %s%n", ck.file(), model.config().arch(), out);
        }
        return 0;
    }
}
