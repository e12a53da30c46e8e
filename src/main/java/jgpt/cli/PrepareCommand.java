package jgpt.cli;

import jgpt.data.Prepare;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.List;

/** {@code jgpt prepare}: tokenize text files into train.bin, val.bin and tokenizer.json. */
@Command(name = "prepare", mixinStandardHelpOptions = true,
        description = "Tokenize text files (plain or .gz, one document each) into DIR/train.bin, "
                + "DIR/val.bin (the last part of the token stream) and DIR/tokenizer.json.")
public final class PrepareCommand implements Runnable {

    @Option(names = "--input", required = true, arity = "1..*", paramLabel = "FILE",
            description = "Input text files; each is one document.")
    List<Path> inputs;

    @Option(names = "--tokenizer", required = true, paramLabel = "gpt2|char",
            description = "gpt2 (BPE, 50257 tokens) or char (the corpus' distinct characters).")
    String tokenizer;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output directory.")
    Path out;

    @Option(names = "--val-fraction", defaultValue = "0.1", paramLabel = "F",
            description = "Fraction of tokens (the tail) held out for validation (default: ${DEFAULT-VALUE}).")
    double valFraction;

    @Override
    public void run() {
        Prepare.prepare(inputs, tokenizer, out, valFraction);
    }
}
