package jgpt.cli;

import java.awt.Color;
import java.awt.Font;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import jgpt.dist.Sharding;
import jgpt.dist.Strategy;
import jgpt.generate.TokenDecoder;
import jgpt.generate.Explanation;
import jgpt.generate.KVCache;
import jgpt.generate.Sampler;
import jgpt.generate.SamplingParams;
import jgpt.model.LanguageModel;
import jgpt.model.GPTConfig;
import jgpt.model.ParamLayout;
import jgpt.tokenizer.Gpt2Tokenizer;
import jgpt.tokenizer.Tokenizer;
import jgpt.train.Checkpoint;
import jgpt.train.TrainConfig;
import jgpt.util.Rng;
import jgpt.util.UserError;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.internal.chartpart.IChart;
import org.knowm.xchart.style.Styler;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code jgpt viz}: the pictures and tables of {@code docs/GUIDE.md}, drawn by jgpt itself. The
 * sampling charts take their numbers from {@link Sampler#sampleExplained}, so they show exactly
 * what the sampler does; the memory table is computed from {@link ParamLayout} with the trainer's
 * own {@link Sharding}, and the memory chart can show what training runs measured.
 */
@Command(name = "viz", mixinStandardHelpOptions = true,
        description = "Pictures and tables that show how jgpt works (used by docs/GUIDE.md).",
        subcommands = {
                VizCommand.Tokens.class,
                VizCommand.Params.class,
                VizCommand.NextToken.class,
                VizCommand.Filters.class,
                VizCommand.Memory.class,
        })
public final class VizCommand implements Runnable {

    @Override
    public void run() {
        new CommandLine(this).usage(System.err);
    }

    static PrintStream stdout() {
        return new PrintStream(System.out, true, StandardCharsets.UTF_8);
    }

    /** A token's text as a readable, quoted label: 'e', ' the', '\n'. */
    static String label(Tokenizer tok, int id) {
        String s = tok.decode(new int[] {id});
        StringBuilder b = new StringBuilder("'");
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '\n' -> b.append("\\n");
                case '\t' -> b.append("\\t");
                case '\r' -> b.append("\\r");
                case '\'' -> b.append("\\'");
                default -> b.append(c < 32 ? String.format("\\x%02x", (int) c) : String.valueOf(c));
            }
        }
        return b.append('\'').toString();
    }

    /** The tokenizer of a data directory, a run directory or a tokenizer.json; or "gpt2". */
    static Tokenizer tokenizer(String spec) {
        if (spec.equals(Gpt2Tokenizer.NAME)) return Gpt2Tokenizer.get();
        Path p = Path.of(spec);
        if (Files.isDirectory(p)) p = p.resolve("tokenizer.json");
        if (!Files.isRegularFile(p)) throw new UserError("no tokenizer at " + p + " (give gpt2, a data or run directory, or a tokenizer.json)");
        return Tokenizer.load(p);
    }

    static void save(List<? extends IChart> charts, Path out) {
        try {
            Path parent = out.toAbsolutePath().getParent();
            if (parent != null) Files.createDirectories(parent);
            try (OutputStream os = Files.newOutputStream(out)) {
                if (charts.size() == 1) BitmapEncoder.saveBitmap(charts.getFirst(), os, BitmapEncoder.BitmapFormat.PNG);
                else BitmapEncoder.saveBitmap(charts, charts.size(), 1, os, BitmapEncoder.BitmapFormat.PNG);
            }
        } catch (IOException e) {
            throw new UserError("cannot write " + out + ": " + e.getMessage());
        }
    }

    static CategoryChart barChart(String title, String xTitle, String yTitle, int width, int height) {
        System.setProperty("java.awt.headless", "true");
        CategoryChart chart = new CategoryChartBuilder().width(width).height(height).title(title)
                .xAxisTitle(xTitle).yAxisTitle(yTitle).build();
        var s = chart.getStyler();
        s.setLegendPosition(Styler.LegendPosition.InsideNE);
        s.setChartBackgroundColor(Color.WHITE);
        s.setPlotGridVerticalLinesVisible(false);
        s.setAxisTickLabelsFont(new Font(Font.MONOSPACED, Font.PLAIN, 12));
        s.setXAxisLabelRotation(90);
        s.setXAxisTickMarkSpacingHint(10); // every candidate gets its label
        s.setYAxisDecimalPattern("0.00");
        return chart;
    }

    /** Shared by the sampling charts: a checkpoint, a prompt, the logits after it. */
    abstract static class FromCheckpoint {
        @Option(names = "--checkpoint", required = true, description = "Run directory or ckpt.bin file.")
        Path checkpoint;

        @Option(names = "--prompt", required = true, description = "Text whose next token is shown.")
        String prompt;

        @Option(names = "--top", defaultValue = "20", description = "Candidates to show (default: ${DEFAULT-VALUE}).")
        int top;

        @Option(names = "--out", description = "PNG to write (default: only print the table).")
        Path out;

        Tokenizer tok;

        /** Runs the model over the prompt (cropped to block_size) and returns the next-token logits. */
        float[] logits() {
            if (top < 1) throw new UserError("--top must be >= 1, got " + top);
            try (Checkpoint ckpt = Checkpoint.load(checkpoint); LanguageModel model = ckpt.newModel();
                 TokenDecoder dec = TokenDecoder.of(model); KVCache cache = dec.newCache()) {
                tok = ckpt.tokenizer();
                int[] ids = tok.encode(prompt);
                if (ids.length == 0) throw new UserError("--prompt encodes to no tokens");
                int n = Math.min(ids.length, model.config().blockSize());
                return dec.prefill(cache, ids, ids.length - n, n).clone();
            }
        }

        static Explanation explain(float[] logits, SamplingParams params, int top) {
            return new Sampler(logits.length, params).sampleExplained(logits, new Rng(params.seed()), top);
        }
    }

    @Command(name = "tokens", mixinStandardHelpOptions = true,
            description = "Print how a tokenizer splits a text: one line per token, id and text.")
    static final class Tokens implements Callable<Integer> {
        @Option(names = "--tokenizer", required = true, paramLabel = "gpt2|DIR|FILE",
                description = "gpt2, or a data/run directory (its tokenizer.json), or a tokenizer.json file.")
        String tokenizer;

        @Option(names = "--text", required = true, description = "Text to tokenize.")
        String text;

        @Override
        public Integer call() {
            Tokenizer t = tokenizer(tokenizer);
            int[] ids = t.encode(text);
            PrintStream out = stdout();
            out.printf("%s tokenizer, vocabulary %,d: %d characters -> %d tokens%n", t.name(), t.vocabSize(),
                    text.codePointCount(0, text.length()), ids.length);
            for (int id : ids) out.printf("%6d  %s%n", id, label(t, id));
            return 0;
        }
    }

    @Command(name = "params", mixinStandardHelpOptions = true,
            description = "Print a model's parameter layout: every tensor's name, shape and offset in the flat buffer.")
    static final class Params implements Callable<Integer> {
        @Option(names = "--config", required = true, description = "Preset, e.g. configs/austen-char.json.")
        Path config;

        @Option(names = "--vocab", required = true, description = "Vocabulary size (81 for Austen at char level, 50257 for gpt2).")
        int vocab;

        @Option(names = "--no-tie", description = "Untied LM head (its own lm_head.weight).")
        boolean noTie;

        @Option(names = "--blocks", defaultValue = "1", description = "Transformer blocks to list (default: ${DEFAULT-VALUE}; the others are alike).")
        int blocks;

        @Override
        public Integer call() {
            GPTConfig c = TrainConfig.load(config).model(vocab);
            if (noTie) c = new GPTConfig(c.nLayer(), c.nHead(), c.nEmbd(), c.blockSize(), c.vocabSize(), c.bias(), false);
            ParamLayout layout = ParamLayout.of(c);
            PrintStream o = stdout();
            o.printf("%s, vocab %d (padded to %d), %s: %,d parameters%n", config, c.vocabSize(), c.paddedVocab(),
                    c.tied() ? "tied (the LM head is wte)" : "untied", layout.numel());
            o.printf("%-26s %-12s %12s %12s%n", "tensor", "shape", "numel", "offset");
            for (var t : layout.tensors()) {
                String n = t.name();
                if (n.startsWith("h.") && Integer.parseInt(n.substring(2, n.indexOf('.', 2))) >= blocks) continue;
                o.printf("%-26s %-12s %,12d %,12d%n", n, java.util.Arrays.toString(t.shape()), t.numel(), t.offset());
            }
            if (blocks < c.nLayer()) o.printf("(blocks h.%d .. h.%d not listed: the same tensors)%n", blocks, c.nLayer() - 1);
            return 0;
        }
    }

    @Command(name = "next-token", mixinStandardHelpOptions = true,
            description = "The model's next-token distribution after a prompt, at several temperatures (bar chart).")
    static final class NextToken extends FromCheckpoint implements Callable<Integer> {
        @Option(names = "--temperatures", defaultValue = "0.5,1,2", split = ",",
                description = "Temperatures to compare (default: ${DEFAULT-VALUE}).")
        List<Double> temperatures;

        @Override
        public Integer call() {
            float[] logits = logits();
            List<Explanation> ex = new ArrayList<>();
            for (double t : temperatures) {
                if (!(t > 0)) throw new UserError("--temperatures must be > 0 (0 is greedy: a single bar), got " + t);
                ex.add(explain(logits, SamplingParams.defaults().withTemperature(t), top));
            }
            // Every temperature ranks the tokens the same way (by logit), so the candidates line up.
            List<String> labels = new ArrayList<>();
            for (Explanation.Candidate c : ex.getFirst().candidates()) labels.add(label(tok, c.token()));
            PrintStream out = stdout();
            out.printf("%-10s %s%n", "token", String.join(" ", temperatures.stream().map(t -> String.format("%9s", "T=" + t)).toList()));
            for (int r = 0; r < labels.size(); r++) {
                StringBuilder line = new StringBuilder(String.format("%-10s", labels.get(r)));
                for (Explanation e : ex) line.append(String.format(" %9.4f", e.candidates().get(r).pAfterTemperature()));
                out.println(line);
            }
            if (this.out != null) {
                CategoryChart chart = barChart("Next token after \"" + abbreviate(prompt) + "\": softmax(logits / T)",
                        "candidate (most likely first)", "probability", 1000, 520);
                for (int i = 0; i < temperatures.size(); i++) {
                    List<Double> p = new ArrayList<>();
                    for (Explanation.Candidate c : ex.get(i).candidates()) p.add(c.pAfterTemperature());
                    chart.addSeries("T = " + temperatures.get(i), labels, p);
                }
                chart.getStyler().setSeriesColors(new Color[] {
                        new Color(0x1f77b4), new Color(0xff7f0e), new Color(0x2ca02c), new Color(0xd62728), new Color(0x9467bd)});
                save(List.of(chart), this.out);
                System.err.println("jgpt: wrote " + this.out);
            }
            return 0;
        }
    }

    @Command(name = "filters", mixinStandardHelpOptions = true,
            description = "What top-k and then top-p keep of the next-token distribution (bar charts).")
    static final class Filters extends FromCheckpoint implements Callable<Integer> {
        @Option(names = "--temperature", defaultValue = "1.0", description = "Temperature (default: ${DEFAULT-VALUE}).")
        double temperature;

        @Option(names = "--top-k", defaultValue = "10", description = "k; 0 is off (default: ${DEFAULT-VALUE}).")
        int topK;

        @Option(names = "--top-p", defaultValue = "0.9", description = "p in (0, 1]; 1 is off (default: ${DEFAULT-VALUE}).")
        double topP;

        @Override
        public Integer call() {
            if (!(temperature > 0)) throw new UserError("--temperature must be > 0 here, got " + temperature);
            float[] logits = logits();
            SamplingParams sp = SamplingParams.defaults().withTemperature(temperature).withTopK(topK).withTopP(topP).validate();
            Explanation ex = explain(logits, sp, top);
            List<String> labels = new ArrayList<>();
            List<Double> kept = new ArrayList<>(), byP = new ArrayList<>(), byK = new ArrayList<>(), fin = new ArrayList<>();
            int nK = 0, nP = 0;
            double massK = 0, massP = 0;
            PrintStream out = stdout();
            out.printf("%-10s %10s %10s %10s %10s%n", "token", "softmax/T", "after k", "after p", "drawn from");
            for (Explanation.Candidate c : ex.candidates()) {
                labels.add(label(tok, c.token()));
                boolean inK = c.pAfterTopK() > 0, inP = c.pAfterTopP() > 0;
                double q = c.pAfterTemperature();
                kept.add(inP ? q : 0.0);
                byP.add(inK && !inP ? q : 0.0);
                byK.add(!inK ? q : 0.0);
                fin.add(c.p());
                if (inK) { nK++; massK += q; }
                if (inP) { nP++; massP += q; }
                out.printf("%-10s %10.4f %10.4f %10.4f %10.4f%n", labels.getLast(), q, c.pAfterTopK(), c.pAfterTopP(), c.p());
            }
            String kText = topK > 0 ? "top-k " + topK + " keeps " + nK + " (mass " + fmt(massK) + ")" : "top-k off";
            String pText = topP < 1 ? "top-p " + topP + " of that keeps " + nP + " (mass " + fmt(massP) + ")" : "top-p off";
            out.println(kText + "; " + pText + (nK == ex.candidates().size() ? " (counts within the top " + top + " shown)" : ""));
            if (this.out != null) {
                CategoryChart a = barChart("softmax(logits / " + temperature + "): " + kText + ", then " + pText,
                        "candidate (most likely first)", "probability", 1000, 460);
                a.getStyler().setStacked(true);
                a.getStyler().setSeriesColors(new Color[] {new Color(0x2ca02c), new Color(0xff7f0e), new Color(0xb0b0b0)});
                a.addSeries("kept", labels, kept);
                a.addSeries("dropped by top-p (after top-k)", labels, byP);
                a.addSeries("dropped by top-k", labels, byK);
                CategoryChart b = barChart("What the token is drawn from: the kept tokens, renormalized to sum to 1",
                        "candidate (most likely first)", "probability", 1000, 460);
                b.getStyler().setSeriesColors(new Color[] {new Color(0x2ca02c)});
                b.addSeries("final distribution", labels, fin);
                save(List.of(a, b), this.out);
                System.err.println("jgpt: wrote " + this.out);
            }
            return 0;
        }
    }

    @Command(name = "memory", mixinStandardHelpOptions = true,
            description = "Per-rank memory of DDP, ZeRO-2 and FSDP: a table computed from the parameter layout, and a bar chart "
                    + "of it, or, with --measured, of the bytes jgpt train runs reported at start.")
    static final class Memory implements Callable<Integer> {
        @Option(names = "--config", required = true, description = "Preset, e.g. configs/gpt2-124m.json.")
        Path config;

        @Option(names = "--vocab", defaultValue = "50257", description = "Vocabulary size (default: GPT-2's ${DEFAULT-VALUE}).")
        int vocab;

        @Option(names = "--ranks", defaultValue = "1,2,4", split = ",", description = "Numbers of ranks (default: ${DEFAULT-VALUE}).")
        List<Integer> ranks;

        @Option(names = "--measured", arity = "1..*", paramLabel = "LOG",
                description = "Logs of jgpt train --nproc runs: chart the per-rank state each computed and the bytes rank 0 "
                        + "measured resident (mincore) instead of the computed table.")
        List<Path> measured;

        @Option(names = "--out", description = "PNG to write (default: only print the table).")
        Path out;

        /** What a jgpt train log says at start: strategy and ranks, computed state bytes, resident bytes on rank 0. */
        record Measured(String label, long computed, long resident) {}

        static final Pattern STATE = Pattern.compile("state per rank \\((\\d+) ranks, (\\w+)\\): ([\\d,]+) bytes");
        static final Pattern RESIDENT = Pattern.compile("resident state bytes on rank 0 \\(mincore\\): ([\\d,]+)");

        static Measured parse(Path log) {
            String text;
            try {
                text = Files.readString(log, StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new UserError("cannot read " + log + ": " + e.getMessage());
            }
            Matcher st = STATE.matcher(text), res = RESIDENT.matcher(text);
            if (!st.find() || !res.find()) {
                throw new UserError(log + ": no 'state per rank' and 'resident state bytes' lines (the log of jgpt train --nproc N, N >= 2, on Linux)");
            }
            return new Measured(st.group(2) + ", " + st.group(1) + " ranks",
                    Long.parseLong(st.group(3).replace(",", "")), Long.parseLong(res.group(1).replace(",", "")));
        }

        @Override
        public Integer call() {
            GPTConfig mc = TrainConfig.load(config).model(vocab);
            ParamLayout layout = ParamLayout.of(mc);
            long P = layout.numel();
            long block = layout.blockEnd(0) - layout.blockStart(0);
            PrintStream o = stdout();
            double mib = 1 << 20;
            o.printf("%s: %,d parameters (%,d floats per transformer block), fp32%n", config, P, block);
            o.println("bytes per rank = 4 * (params + grads + m + v); DDP keeps all four whole, ZeRO-2 shards grads, m, v; FSDP all four");
            o.printf("%-6s %5s %12s %12s %12s %12s %12s%n", "", "ranks", "params", "grads", "adam m", "adam v", "total");
            List<String> cats = new ArrayList<>();
            double[][] parts = new double[4][];
            for (int k = 0; k < 4; k++) parts[k] = new double[3 * ranks.size()];
            int col = 0;
            for (Strategy mode : List.of(Strategy.DDP, Strategy.ZERO2, Strategy.FSDP)) {
                for (int n : ranks) {
                    if (n < 1) throw new UserError("--ranks must be >= 1, got " + n);
                    // the same split as the trainer: each unit padded to a multiple of n, rank r owns piece r
                    Sharding sh = new Sharding(layout, mc.nLayer(), n);
                    long owned = 0;
                    for (int r = 0; r < n; r++) owned = Math.max(owned, sh.ownedFloats(r));
                    long[] floats = switch (mode) {
                        case DDP -> new long[] {P, P, P, P};
                        case ZERO2 -> new long[] {P, owned, owned, owned};
                        case FSDP -> new long[] {owned, owned, owned, owned};
                    };
                    for (int k = 0; k < 4; k++) parts[k][col] = floats[k] * 4 / mib;
                    cats.add(mode.name() + " N=" + n);
                    o.printf("%-6s %5d %9.1f MiB %9.1f MiB %9.1f MiB %9.1f MiB %9.1f MiB%n", mode.flag(), n,
                            parts[0][col], parts[1][col], parts[2][col], parts[3][col], sh.stateBytes(mode) / mib);
                    col++;
                }
            }
            o.printf("not included: activations, and the transient buffers of the sharded strategies (FSDP: gathered units, %,.1f MiB per block)%n",
                    block * 4.0 / mib);
            List<Measured> ms = new ArrayList<>();
            if (measured != null) {
                o.printf("%n%-18s %16s %18s%n", "measured run", "computed", "resident, rank 0");
                for (Path log : measured) {
                    Measured m = parse(log);
                    ms.add(m);
                    o.printf("%-18s %,16d %,18d   %s%n", m.label(), m.computed(), m.resident(), log);
                }
            }
            if (out != null) {
                CategoryChart chart;
                if (ms.isEmpty()) {
                    chart = barChart("Per-rank memory, " + config.getFileName() + " (" + String.format("%,d", P)
                            + " params, fp32): computed from the layout, not measured", "", "MiB per rank", 1100, 520);
                    chart.getStyler().setStacked(true);
                    chart.getStyler().setSeriesColors(new Color[] {
                            new Color(0x1f77b4), new Color(0xff7f0e), new Color(0x2ca02c), new Color(0x98df8a)});
                    String[] names = {"params", "grads", "AdamW m", "AdamW v"};
                    for (int k = 0; k < 4; k++) {
                        List<Double> v = new ArrayList<>();
                        for (double x : parts[k]) v.add(x);
                        chart.addSeries(names[k], cats, v);
                    }
                } else {
                    chart = barChart("Per-rank params + grads + AdamW m, v: " + config.getFileName() + ", " + String.format("%,d", P)
                            + " params, fp32", "", "MiB per rank (jgpt train, at start)", 900, 480);
                    chart.getStyler().setSeriesColors(new Color[] {new Color(0x1f77b4), new Color(0xff7f0e)});
                    List<String> labels = ms.stream().map(Measured::label).toList();
                    chart.addSeries("computed (Sharding.stateBytes)", labels, ms.stream().map(m -> m.computed() / mib).toList());
                    chart.addSeries("measured resident on rank 0 (mincore)", labels, ms.stream().map(m -> m.resident() / mib).toList());
                }
                chart.getStyler().setXAxisLabelRotation(0);
                chart.getStyler().setYAxisDecimalPattern("#,##0.0");
                chart.getStyler().setLegendPosition(Styler.LegendPosition.InsideNE);
                save(List.of(chart), out);
                System.err.println("jgpt: wrote " + out);
            }
            return 0;
        }
    }

    static String fmt(double x) {
        return String.format("%.2f", x);
    }

    static String abbreviate(String s) {
        String one = s.replace("\n", "\\n");
        return one.length() <= 30 ? one : "..." + one.substring(one.length() - 27);
    }
}
