package jgpt.train;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import jgpt.util.UserError;

/** {@code RUN/metrics.jsonl}: one JSON object per logged step, appended and flushed as it goes. */
public final class MetricsLog implements AutoCloseable {
    public static final String FILE = "metrics.jsonl";
    static final ObjectMapper JSON = new ObjectMapper();

    private final BufferedWriter out;

    private MetricsLog(BufferedWriter out) {
        this.out = out;
    }

    /**
     * Opens the run's log for appending, first dropping records after {@code lastStep}: on resume
     * those came from steps the checkpoint does not include and will be run again.
     */
    public static MetricsLog open(Path runDir, long lastStep) {
        Path file = runDir.resolve(FILE);
        try {
            List<String> keep = new ArrayList<>();
            for (JsonNode r : read(file)) {
                if (r.path("step").asLong() <= lastStep) keep.add(r.toString());
            }
            Files.write(file, keep, StandardCharsets.UTF_8);
            return new MetricsLog(Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.APPEND));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
    }

    public void append(ObjectNode record) {
        try {
            out.write(record.toString());
            out.newLine();
            out.flush();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot append to " + FILE, e);
        }
    }

    /** All records of a log; none when it does not exist. A torn last line (a crash) is skipped. */
    public static List<JsonNode> read(Path file) {
        List<JsonNode> records = new ArrayList<>();
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            return records;
        } catch (IOException e) {
            throw new UserError("cannot read " + file + ": " + e.getMessage());
        }
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).isBlank()) continue;
            try {
                records.add(JSON.readTree(lines.get(i)));
            } catch (JacksonException e) {
                if (i < lines.size() - 1) throw new UserError(file + ":" + (i + 1) + ": not valid JSON");
            }
        }
        return records;
    }

    @Override
    public void close() {
        try {
            out.close();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot close " + FILE, e);
        }
    }
}
