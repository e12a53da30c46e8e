package jgpt.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import jgpt.data.TokenFile;
import jgpt.dist.Comm;
import jgpt.dist.Launcher;
import jgpt.dist.Sharding;
import jgpt.dist.Strategy;
import jgpt.model.GPTConfig;
import jgpt.model.ParamLayout;
import jgpt.train.MetricsLog;
import jgpt.train.TrainConfig;
import jgpt.train.Trainer;
import jgpt.util.Rng;
import jgpt.util.UserError;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code jgpt train-bench --nproc N --strategy ddp|zero2|fsdp}: training throughput of N ranks
 * against one process with the same global batch, on synthetic tokens. Prints tokens/s, the
 * scaling, the time per step spent in collectives, and per-rank state bytes. ({@code jgpt bench
 * train --nproc} runs it with a preset's shape.)
 *
 * <p>Everything runs inside one mpirun job, in rounds: rank 0 alone trains one process × t threads
 * and one process × N·t threads (the other ranks sleep meanwhile, so the cores are free); then
 * every rank trains its own model on its share of the batch at the same time, with no
 * communication (what N ranks could reach at best on this machine: the ceiling that the cores,
 * memory and the other load set); then all ranks train together. The scaling is the ratio within
 * each round, reported with its median over the rounds: this machine's speed drifts by tens of
 * percent within minutes, so baselines measured minutes apart from the distributed run (as a
 * first version did) gave ratios from 1.3 to 2.2 for the same code. An untimed warm-up round lets
 * C2 compile everything in every rank first.
 */
@Command(name = "train-bench", mixinStandardHelpOptions = true,
        description = "Benchmark distributed training: N ranks vs 1 process, same global batch, synthetic data.")
public final class TrainBenchCommand implements Callable<Integer> {
    @Option(names = "--nproc", defaultValue = "2", description = "ranks (default ${DEFAULT-VALUE})") int nproc;
    @Option(names = "--strategy", defaultValue = "ddp", description = "ddp, zero2 or fsdp") String strategy;
    @Option(names = "--arch", defaultValue = "gpt2", description = "gpt2 or llama") String arch;
    @Option(names = "--n-kv-head", defaultValue = "0", description = "llama: key/value heads (0: n_head)") int nKvHead;
    @Option(names = "--ffn-hidden", defaultValue = "0", description = "llama: SwiGLU width (0: llama2.c's rule)") int ffnHidden;
    @Option(names = "--n-layer", defaultValue = "4") int nLayer;
    @Option(names = "--n-head", defaultValue = "4") int nHead;
    @Option(names = "--n-embd", defaultValue = "128") int nEmbd;
    @Option(names = "--seq-len", defaultValue = "128") int seqLen;
    @Option(names = "--vocab", defaultValue = "512") int vocab;
    @Option(names = "--batch-size", defaultValue = "8", description = "per rank") int batch;
    @Option(names = "--steps", defaultValue = "10", description = "timed steps per run (after 2 warm-up steps)") int steps;
    @Option(names = "--rounds", defaultValue = "3", description = "timed rounds of the three runs (default ${DEFAULT-VALUE})") int rounds;
    @Option(names = "--threads", defaultValue = "1", description = "compute threads per rank; the 1-process baseline gets N times as many")
    int threads;
    @Option(names = "--dir", description = "work directory (default: a temporary one)") Path dir;
    @Option(names = "--rank-run", hidden = true) boolean rankRun;

    @Override
    public Integer call() throws Exception {
        Strategy s = Strategy.parse(strategy);
        if (rounds < 1) throw new UserError("--rounds must be >= 1, got " + rounds);
        if (steps < 3) throw new UserError("--steps must be >= 3, got " + steps);
        if (rankRun) {
            Comm comm = Comm.create();
            try {
                comm.runOrAbort(() -> rankRounds(comm, s));
            } finally {
                comm.close();
            }
            return 0;
        }
        Path work = dir != null ? dir : Files.createTempDirectory("jgpt-train-bench");
        writeData(work.resolve("data"));
        System.err.printf("train-bench: %s, %d layers, %d dims, T %d, vocab %d, global batch %d x %d tokens, %s on %d ranks;"
                        + " %d rounds of 1 x %d, 1 x %d and %d x %d, %d steps each, after a warm-up round%n",
                arch, nLayer, nEmbd, seqLen, vocab, batch * nproc, seqLen, s.flag(), nproc, rounds, threads, threads * nproc, nproc, threads, steps);
        List<String> args = new ArrayList<>(List.of("train-bench", "--rank-run", "--dir", work.toString(),
                "--nproc", Integer.toString(nproc), "--strategy", s.flag(), "--arch", arch, "--n-kv-head", "" + nKvHead,
                "--ffn-hidden", "" + ffnHidden, "--n-layer", "" + nLayer, "--n-head", "" + nHead,
                "--n-embd", "" + nEmbd, "--seq-len", "" + seqLen, "--vocab", "" + vocab, "--batch-size", "" + batch,
                "--steps", "" + steps, "--rounds", "" + rounds, "--threads", "" + threads));
        int rc = Launcher.run(Launcher.command(nproc, Main.class.getName(), args));
        if (rc != 0) return rc;
        report(work, s);
        return 0;
    }

    /** In each rank: the warm-up round, then the timed rounds (see the class comment). */
    private void rankRounds(Comm comm, Strategy s) {
        Comm local = new jgpt.dist.LocalComm();
        for (int r = 0; r <= rounds; r++) {
            Path rd = roundDir(dir, r);
            int st = r == 0 ? Math.min(steps, 40) : steps;
            if (comm.rank() == 0) {
                train(local, s, rd.resolve("np1"), batch * nproc, threads, st);
                train(local, s, rd.resolve("np1-all"), batch * nproc, threads * nproc, st);
                touch(rd.resolve("solo.done"));
            } else {
                sleepUntilExists(rd.resolve("solo.done")); // not in a barrier: MPI waits by spinning on a core
            }
            comm.barrier();
            train(local, s, independentDir(rd, comm.rank()), batch, threads, st);
            comm.barrier();
            train(comm, s, rd.resolve("np" + nproc), batch, threads, st);
        }
    }

    /** Where rank r's run of the no-communication baseline writes its metrics. */
    private static Path independentDir(Path round, int r) {
        return round.resolve("independent").resolve("rank" + r);
    }

    private static Path roundDir(Path work, int r) {
        return work.resolve(r == 0 ? "warm-up" : "round-" + r);
    }

    private void report(Path work, Strategy s) {
        double[][] one = new double[rounds][], all = new double[rounds][], indep = new double[rounds][], many = new double[rounds][];
        System.out.printf("| round | 1 x %d ms/step | 1 x %d ms/step | %d x %d independent ms/step | %d x %d ms/step | comm ms/step"
                        + " | scaling vs 1 x %d | vs 1 x %d | vs independent |%n|---|---|---|---|---|---|---|---|---|%n",
                threads, threads * nproc, nproc, threads, nproc, threads, threads, threads * nproc);
        for (int r = 0; r < rounds; r++) {
            Path rd = roundDir(work, r + 1);
            one[r] = timing(rd.resolve("np1"));
            all[r] = timing(rd.resolve("np1-all"));
            indep[r] = independentTiming(rd);
            many[r] = timing(rd.resolve("np" + nproc));
            System.out.printf("| %d | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f | %.2f | %.2f |%n", r + 1, one[r][1], all[r][1], indep[r][1],
                    many[r][1], many[r][2], many[r][0] / one[r][0], many[r][0] / all[r][0], many[r][0] / indep[r][0]);
        }
        GPTConfig m = config(batch, threads, steps).model(vocab);
        Sharding sh = new Sharding(ParamLayout.of(m), nLayer, nproc);
        System.out.printf("%nmedians over the rounds:%n| ranks x threads | strategy | tokens/s | scaling | ms/step | comm ms/step | state bytes/rank |%n"
                + "|---|---|---|---|---|---|---|%n");
        System.out.printf("| 1 x %d | - | %.0f | 1.00 | %.1f | 0 | %,d |%n", threads, median(one, 0), median(one, 1), sh.stateBytes(Strategy.DDP));
        System.out.printf("| 1 x %d | - | %.0f | %.2f | %.1f | 0 | %,d |%n", threads * nproc, median(all, 0), ratio(all, one), median(all, 1),
                sh.stateBytes(Strategy.DDP));
        System.out.printf("| %d x %d | independent, no communication | %.0f | %.2f | %.1f | 0 | %,d |%n", nproc, threads, median(indep, 0),
                ratio(indep, one), median(indep, 1), sh.stateBytes(Strategy.DDP));
        System.out.printf("| %d x %d | %s | %.0f | %.2f | %.1f | %.1f | %,d |%n", nproc, threads, s.flag(), median(many, 0), ratio(many, one),
                median(many, 1), median(many, 2), sh.stateBytes(s));
        System.out.printf("scaling %d ranks x %d thread(s) vs 1 process x %d: %.2f; vs 1 process x %d threads: %.2f;"
                        + " vs %d independent processes (the machine's ceiling): %.2f (medians of the rounds' ratios)%n",
                nproc, threads, threads, ratio(many, one), threads * nproc, ratio(many, all), nproc, ratio(many, indep));
    }

    /**
     * The no-communication baseline at the slowest rank's pace (ranks that synchronize every step
     * cannot go faster): N times its tokens/s, and its ms/step.
     */
    private double[] independentTiming(Path round) {
        double tokens = Double.MAX_VALUE, ms = 0;
        for (int r = 0; r < nproc; r++) {
            double[] t = timing(independentDir(round, r));
            tokens = Math.min(tokens, t[0]);
            ms = Math.max(ms, t[1]);
        }
        return new double[] {tokens * nproc, ms, 0};
    }

    /** Median over the rounds of one column. */
    private static double median(double[][] rs, int col) {
        double[] v = new double[rs.length];
        for (int i = 0; i < v.length; i++) v[i] = rs[i][col];
        return median(v);
    }

    /** Median over the rounds of the within-round tokens/s ratio a / b. */
    private static double ratio(double[][] a, double[][] b) {
        double[] v = new double[a.length];
        for (int i = 0; i < v.length; i++) v[i] = a[i][0] / b[i][0];
        return median(v);
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        java.util.Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    private static void touch(Path p) {
        try {
            Files.write(p, new byte[0]);
        } catch (java.io.IOException e) {
            throw new UserError("cannot write " + p + ": " + e.getMessage());
        }
    }

    private static void sleepUntilExists(Path p) {
        try {
            while (!Files.exists(p)) Thread.sleep(5);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted waiting for " + p, e);
        }
    }

    /** The benchmark's training run: batch b per process, thr threads, timedSteps after 2 untimed ones. */
    private TrainConfig config(int b, int thr, int timedSteps) {
        return TrainConfig.defaults().with(JsonNodeFactory.instance.objectNode().put("arch", arch).put("n_kv_head", nKvHead)
                .put("ffn_hidden", ffnHidden).put("n_layer", nLayer).put("n_head", nHead).put("n_embd", nEmbd).put("block_size", seqLen)
                .put("batch_size", b).put("grad_accum_steps", 1).put("max_steps", timedSteps + 2).put("warmup_steps", 0)
                .put("eval_interval", 0).put("log_interval", 1).put("checkpoint_interval", 0).put("threads", thr), "train-bench");
    }

    private void train(Comm comm, Strategy s, Path out, int b, int thr, int timedSteps) {
        TrainConfig cfg = config(b, thr, timedSteps);
        try {
            if (comm.rank() == 0 && Files.exists(out)) {
                try (var w = Files.walk(out)) {
                    for (Path p : w.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(p);
                }
            }
        } catch (java.io.IOException e) {
            throw new UserError("cannot clear " + out + ": " + e.getMessage());
        }
        comm.barrier();
        new Trainer(cfg, dir.resolve("data"), out,
                false, new PrintStream(OutputStream.nullOutputStream()), new Trainer.Distributed(comm, s, 0, false)).run();
    }

    /**
     * Median tokens/s, ms/step and comm ms/step over the last two thirds of a run's steps (its first
     * steps also touch its fresh buffers for the first time).
     */
    private double[] timing(Path run) {
        List<JsonNode> all = MetricsLog.read(run.resolve(MetricsLog.FILE)).stream().filter(r -> r.has("ms_per_step")).toList();
        List<JsonNode> rs = all.subList(all.size() / 3, all.size());
        if (rs.isEmpty()) throw new UserError(run + ": no timed steps in metrics");
        return new double[] {median(rs, "tokens_per_s"), median(rs, "ms_per_step"), median(rs, "comm_ms_per_step")};
    }

    private static double median(List<JsonNode> rs, String f) {
        return median(rs.stream().mapToDouble(r -> r.path(f).asDouble(0)).toArray());
    }

    private void writeData(Path d) throws Exception {
        Files.createDirectories(d);
        long need = (long) batch * nproc * seqLen * (steps + 4) + 1;
        Rng rng = new Rng(7);
        for (String f : new String[] {"train.bin", "val.bin"}) {
            int[] t = new int[(int) Math.max(need, 10_000)];
            for (int i = 0; i < t.length; i++) t[i] = rng.nextInt(vocab);
            try (TokenFile.Writer w = new TokenFile.Writer(d.resolve(f), "char", vocab)) {
                w.write(t);
                w.finish();
            }
        }
        char[] chars = new char[vocab];
        for (int i = 0; i < vocab; i++) chars[i] = (char) (0x100 + i);
        Files.writeString(d.resolve("tokenizer.json"), JsonNodeFactory.instance.objectNode()
                .put("name", "char").put("chars", new String(chars)).toString());
    }
}
