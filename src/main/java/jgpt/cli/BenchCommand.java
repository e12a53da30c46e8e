package jgpt.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code jgpt bench}: parent of the benchmark subcommands. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Measure kernel and model speed.",
        subcommands = {
                SgemmBench.class,
                GenerateBenchCommand.class,
                TrainBench.class,
                DecodeBench.class,
        })
public final class BenchCommand implements Runnable {
    @Override
    public void run() {
        new CommandLine(this).usage(System.err);
    }
}
