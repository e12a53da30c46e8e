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
 * scaling, the time per step spent in collectives, and per-rank state bytes. (Meant to become
 * {@code jgpt bench train} under a {@code bench} parent command.)
 */
@Command(name = "train-bench", mixinStandardHelpOptions = true,
        description = "Benchmark distributed training: N ranks vs 1 process, same global batch, synthetic data.")
public final class TrainBenchCommand implements Callable<Integer> {
    @Option(names = "--nproc", defaultValue = "2", description = "ranks (default ${DEFAULT-VALUE})") int nproc;
    @Option(names = "--strategy", defaultValue = "ddp", description = "ddp, zero2 or fsdp") String strategy;
    @Option(names = "--n-layer", defaultValue = "4") int nLayer;
    @Option(names = "--n-head", defaultValue = "4") int nHead;
    @Option(names = "--n-embd", defaultValue = "128") int nEmbd;
    @Option(names = "--seq-len", defaultValue = "128") int seqLen;
    @Option(names = "--vocab", defaultValue = "512") int vocab;
    @Option(names = "--batch-size", defaultValue = "8", description = "per rank") int batch;
    @Option(names = "--steps", defaultValue = "10", description = "timed steps (after 2 warm-up steps)") int steps;
    @Option(names = "--threads", defaultValue = "1", description = "compute threads per rank; the 1-process baseline gets N times as many")
    int threads;
    @Option(names = "--dir", description = "work directory (default: a temporary one)") Path dir;
    @Option(names = "--rank-run", hidden = true) boolean rankRun;

    @Override
    public Integer call() throws Exception {
        Strategy s = Strategy.parse(strategy);
        if (rankRun) {
            Comm comm = Comm.create();
            try {
                comm.runOrAbort(() -> train(comm, s, dir.resolve("np" + nproc), batch, threads, steps));
            } finally {
                comm.close();
            }
            return 0;
        }
        Path work = dir != null ? dir : Files.createTempDirectory("jgpt-train-bench");
        writeData(work.resolve("data"));
        System.err.printf("train-bench: %d layers, %d dims, T %d, vocab %d, global batch %d x %d tokens, %s on %d ranks%n",
                nLayer, nEmbd, seqLen, vocab, batch * nproc, seqLen, s.flag(), nproc);
        Comm local = new jgpt.dist.LocalComm();
        // Two baselines with the same global batch: one process with one rank's threads (the
        // scaling the issue asks for) and one process with all N ranks' threads (what threads give).
        // JIT warm-up, not timed, so the baselines run warm: 40 steps are past C2's compiles (~20% of 300 steps)
        train(local, s, work.resolve("warm-up"), batch * nproc, threads, Math.min(steps, 40));
        train(local, s, work.resolve("np1"), batch * nproc, threads, steps);
        train(local, s, work.resolve("np1-all"), batch * nproc, threads * nproc, steps);
        List<String> args = new ArrayList<>(List.of("train-bench", "--rank-run", "--dir", work.toString(),
                "--nproc", Integer.toString(nproc), "--strategy", s.flag(), "--n-layer", "" + nLayer, "--n-head", "" + nHead,
                "--n-embd", "" + nEmbd, "--seq-len", "" + seqLen, "--vocab", "" + vocab, "--batch-size", "" + batch,
                "--steps", "" + steps, "--threads", "" + threads));
        int rc = Launcher.run(Launcher.command(nproc, Main.class.getName(), args));
        if (rc != 0) return rc;
        double[] one = timing(work.resolve("np1")), all = timing(work.resolve("np1-all")), many = timing(work.resolve("np" + nproc));
        GPTConfig m = new GPTConfig(nLayer, nHead, nEmbd, seqLen, vocab, true, true);
        Sharding sh = new Sharding(ParamLayout.gpt2(m), nLayer, nproc);
        System.out.printf("| ranks x threads | strategy | tokens/s | scaling | ms/step | comm ms/step | state bytes/rank |%n|---|---|---|---|---|---|---|%n");
        System.out.printf("| 1 x %d | - | %.0f | 1.00 | %.1f | 0 | %,d |%n", threads, one[0], one[1], sh.stateBytes(Strategy.DDP));
        System.out.printf("| 1 x %d | - | %.0f | %.2f | %.1f | 0 | %,d |%n", threads * nproc, all[0], all[0] / one[0], all[1],
                sh.stateBytes(Strategy.DDP));
        System.out.printf("| %d x %d | %s | %.0f | %.2f | %.1f | %.1f | %,d |%n", nproc, threads, s.flag(), many[0], many[0] / one[0],
                many[1], many[2], sh.stateBytes(s));
        System.out.printf("scaling %d ranks x %d thread(s) vs 1 process x %d: %.2f; vs 1 process x %d threads: %.2f%n",
                nproc, threads, threads, many[0] / one[0], threads * nproc, many[0] / all[0]);
        return 0;
    }

    private void train(Comm comm, Strategy s, Path out, int b, int thr, int timedSteps) {
        TrainConfig cfg = TrainConfig.defaults().with(JsonNodeFactory.instance.objectNode()
                .put("n_layer", nLayer).put("n_head", nHead).put("n_embd", nEmbd).put("block_size", seqLen)
                .put("batch_size", b).put("grad_accum_steps", 1).put("max_steps", timedSteps + 2).put("warmup_steps", 0)
                .put("eval_interval", 0).put("log_interval", 1).put("checkpoint_interval", 0).put("threads", thr), "train-bench");
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
        new Trainer(cfg, out.getParent().resolve("data"), out,
                false, new PrintStream(OutputStream.nullOutputStream()), new Trainer.Distributed(comm, s, 0, false)).run();
    }

    /**
     * Median tokens/s, ms/step and comm ms/step over the last two thirds of the steps: each rank
     * is a fresh JVM whose first steps run while C2 is still compiling (~1.7x slower per step).
     */
    private double[] timing(Path run) {
        List<JsonNode> all = MetricsLog.read(run.resolve(MetricsLog.FILE)).stream().filter(r -> r.has("ms_per_step")).toList();
        List<JsonNode> rs = all.subList(all.size() / 3, all.size());
        if (rs.isEmpty()) throw new UserError(run + ": no timed steps in metrics");
        return new double[] {median(rs, "tokens_per_s"), median(rs, "ms_per_step"), median(rs, "comm_ms_per_step")};
    }

    private static double median(List<JsonNode> rs, String f) {
        double[] v = rs.stream().mapToDouble(r -> r.path(f).asDouble(0)).sorted().toArray();
        return v[v.length / 2];
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
