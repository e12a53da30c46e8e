package jgpt.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import jgpt.train.LossPlot;
import jgpt.train.MetricsLog;
import jgpt.util.UserError;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** {@code jgpt plot RUN}: redraws RUN/loss.png from RUN/metrics.jsonl. */
@Command(name = "plot", mixinStandardHelpOptions = true, description = "Redraw RUN/loss.png from RUN/metrics.jsonl.")
public final class PlotCommand implements Runnable {
    @Parameters(paramLabel = "RUN", description = "run directory")
    Path run;

    @Override
    public void run() {
        if (!Files.isRegularFile(run.resolve(MetricsLog.FILE))) throw new UserError(run + ": no " + MetricsLog.FILE + " to plot");
        if (!LossPlot.write(run)) throw new UserError(run.resolve(MetricsLog.FILE) + ": no logged steps yet");
        System.out.println(run.resolve(LossPlot.FILE));
    }
}
