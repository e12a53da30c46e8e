package jgpt.cli;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.stream.IntStream;
import jgpt.convert.HfFormat;
import jgpt.convert.Llama2cFormat;
import jgpt.model.LanguageModel;
import jgpt.tokenizer.CharTokenizer;
import jgpt.tokenizer.Gpt2Tokenizer;
import jgpt.tokenizer.Tokenizer;
import jgpt.train.Checkpoint;
import jgpt.train.TrainConfig;
import jgpt.util.UserError;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code jgpt import}: a HF model directory or a llama2.c {@code .bin} into a weights-only jgpt
 * checkpoint. Model tokenizers (sentencepiece, HF tokenizer.json) are not imported: the checkpoint
 * gets gpt2 when the vocabulary is GPT-2's 50257, otherwise a placeholder char tokenizer whose
 * token i is code point 32 + i, so ids round-trip through text but the text is not the model's.
 */
@Command(name = "import", mixinStandardHelpOptions = true,
        description = "Import a Hugging Face (GPT-2, Llama) or llama2.c model as a jgpt checkpoint.")
public final class ImportCommand implements Callable<Integer> {
    enum Format { hf, llama2c }

    @Option(names = "--format", required = true, description = "hf (directory with config.json + model.safetensors) or llama2c (.bin)")
    Format format;
    @Option(names = "--in", required = true, paramLabel = "PATH", description = "the model directory or file")
    Path in;
    @Option(names = "--out", required = true, paramLabel = "CKPT_DIR", description = "run directory to write ckpt.bin into")
    Path out;

    @Override
    public Integer call() {
        if (!Files.exists(in)) throw new UserError("not found: " + in);
        try (LanguageModel model = format == Format.hf ? HfFormat.read(in) : Llama2cFormat.read(in)) {
            Files.createDirectories(out);
            Tokenizer tok = defaultTokenizer(model.config().vocabSize());
            Checkpoint.save(out, new Checkpoint.State(model.config(), TrainConfig.forModel(model.config()), tok.toJson(), 0, 0, 0),
                    model.params(), null);
            System.err.printf("jgpt: imported %s (%s, %,d parameters, %s tokenizer) into %s%n", in, model.config().arch(),
                    model.numParams(), tok.name(), out.resolve(Checkpoint.FILE));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return 0;
    }

    static Tokenizer defaultTokenizer(int vocab) {
        if (vocab == Gpt2Tokenizer.VOCAB_SIZE) return Gpt2Tokenizer.get();
        return new CharTokenizer(IntStream.range(32, 32 + vocab).toArray());
    }
}
