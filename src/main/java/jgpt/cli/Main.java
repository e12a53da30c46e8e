package jgpt.cli;

import jgpt.util.UserError;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Entry point of the {@code jgpt} command line: one subcommand per job. */
@Command(name = "jgpt", mixinStandardHelpOptions = true, version = "jgpt 0.1.0",
        description = "LLM pretraining and inference in Java.",
        subcommands = {
                CommandLine.HelpCommand.class,
                PrepareCommand.class,
                TrainCommand.class,
                TrainBenchCommand.class,
                SampleCommand.class,
                DemoCommand.class,
                ServeCommand.class,
                EvalCommand.class,
                PlotCommand.class,
                BenchCommand.class,
                ImportCommand.class,
                ExportCommand.class,
                QuantizeCommand.class,
                VizCommand.class,
        })
public final class Main implements Runnable {

    @Override
    public void run() {
        new CommandLine(this).usage(System.err);
    }

    public static void main(String[] args) {
        System.exit(execute(args));
    }

    /** Runs a command line and returns its exit code; user errors become one line on stderr. */
    public static int execute(String... args) {
        CommandLine cl = new CommandLine(new Main());
        cl.setExecutionExceptionHandler((ex, cmd, parseResult) -> {
            if (ex instanceof UserError) {
                cmd.getErr().println("jgpt: " + ex.getMessage());
                return 2;
            }
            throw ex;
        });
        return cl.execute(args);
    }
}
