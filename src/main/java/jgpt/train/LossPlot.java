package jgpt.train;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.markers.SeriesMarkers;

/** {@code RUN/loss.png}: train and validation loss against step, drawn from {@code metrics.jsonl}. */
public final class LossPlot {
    public static final String FILE = "loss.png";

    private LossPlot() {}

    /** Redraws the run's chart; returns false (drawing nothing) when no step has been logged yet. */
    public static boolean write(Path runDir) {
        System.setProperty("java.awt.headless", "true");
        List<Double> steps = new ArrayList<>(), loss = new ArrayList<>(), valSteps = new ArrayList<>(), val = new ArrayList<>();
        for (JsonNode r : MetricsLog.read(runDir.resolve(MetricsLog.FILE))) {
            if (r.has("loss")) {
                steps.add(r.get("step").asDouble());
                loss.add(r.get("loss").asDouble());
            }
            if (r.has("val_loss")) {
                valSteps.add(r.get("step").asDouble());
                val.add(r.get("val_loss").asDouble());
            }
        }
        if (steps.isEmpty()) return false;
        XYChart chart = new XYChartBuilder().width(900).height(500).title("Loss: " + runDir.getFileName())
                .xAxisTitle("step").yAxisTitle("cross-entropy loss").build();
        chart.getStyler().setDefaultSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Line);
        chart.addSeries("train", steps, loss).setMarker(SeriesMarkers.NONE);
        if (!val.isEmpty()) chart.addSeries("val", valSteps, val).setMarker(SeriesMarkers.CIRCLE);
        // Written aside then renamed, so a viewer never sees half a PNG.
        Path tmp = runDir.resolve(FILE + ".tmp");
        try (OutputStream out = Files.newOutputStream(tmp)) {
            BitmapEncoder.saveBitmap(chart, out, BitmapEncoder.BitmapFormat.PNG);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + tmp, e);
        }
        try {
            Files.move(tmp, runDir.resolve(FILE), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + runDir.resolve(FILE), e);
        }
        return true;
    }
}
