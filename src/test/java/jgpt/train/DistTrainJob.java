package jgpt.train;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import jgpt.data.TokenFile;
import jgpt.dist.Comm;
import jgpt.dist.Strategy;
import jgpt.model.GPT;
import jgpt.model.GPTConfig;
import jgpt.util.Rng;
import jgpt.util.UserError;

/**
 * One rank of the distributed training tests ({@link DistributedTrainingTest}), run under mpirun.
 * Several trainings share one job, so the JVMs start and warm up once.
 *
 * <pre>
 *   equivalence ROOT DATA   every strategy x {GPT-2, Llama} x {tied, accum 2} and {untied, accum 1}, 10 steps,
 *                           and FSDP again with the embedding's dense reduce-scatter;
 *                           FSDP resident-memory check; --max-state-bytes check
 *   reshard-save ROOT DATA CASE    FSDP with sharded checkpoints, steps 1..5
 *   reshard-resume ROOT DATA CASE  resume that run to step 10
 *   ddp|fsdp|zero2 ROOT DATA CASE  one training of CASE (e.g. tied-accum2)
 * </pre>
 */
public final class DistTrainJob {
    static final int GLOBAL_BATCH = 4;
    static final int STEPS = 10;
    static final int VOCAB = 11;
    /** GPT-2 and Llama (grouped-query attention: 2 heads sharing 1 key/value head), tied and untied. */
    static final List<String> CASES = List.of("tied-accum2", "untied-accum1", "llama-tied-accum2", "llama-untied-accum1");

    /** The test model and schedule; batch_size is per rank, so the global batch is the same for every world size. */
    static TrainConfig config(String kase, int world, int maxSteps) {
        boolean llama = kase.startsWith("llama-");
        boolean tied = kase.startsWith(llama ? "llama-tied" : "tied");
        int accum = kase.endsWith("accum2") ? 2 : 1;
        return TrainConfig.defaults().with(JsonNodeFactory.instance.objectNode()
                .put("arch", llama ? "llama" : "gpt2").put("n_kv_head", llama ? 1 : 0).put("ffn_hidden", llama ? 64 : 0)
                .put("n_layer", 2).put("n_head", 2).put("n_embd", 32).put("block_size", 16).put("tied", tied)
                .put("batch_size", GLOBAL_BATCH / world).put("grad_accum_steps", accum).put("max_steps", maxSteps)
                .put("lr", 1e-2).put("min_lr", 1e-3).put("warmup_steps", 2).put("lr_decay_steps", STEPS)
                .put("eval_interval", 5).put("eval_batches", 2).put("log_interval", 1)
                .put("checkpoint_interval", 0).put("threads", 1), "test");
    }

    /** Synthetic tokens with some structure to learn. */
    static void writeData(Path dir) throws Exception {
        Files.createDirectories(dir);
        writeTokens(dir.resolve("train.bin"), 6000, 1);
        writeTokens(dir.resolve("val.bin"), 1000, 2);
        Files.writeString(dir.resolve("tokenizer.json"), "{\"name\":\"char\",\"chars\":\"abcdefghijk\"}");
    }

    private static void writeTokens(Path file, int n, long seed) {
        Rng rng = new Rng(seed);
        int[] tokens = new int[n];
        for (int i = 0; i < n; i++) tokens[i] = (i % 3 == 0) ? rng.nextInt(VOCAB) : (tokens[i - 1] + 1) % VOCAB;
        try (TokenFile.Writer w = new TokenFile.Writer(file, "char", VOCAB)) {
            w.write(tokens);
            w.finish();
        }
    }

    static final PrintStream QUIET = new PrintStream(OutputStream.nullOutputStream());

    public static void main(String[] args) {
        // small DDP buckets (16 KB: about 7 per model), so several all-reduces overlap backward
        System.setProperty("jgpt.ddp.bucketBytes", "16384");
        Comm comm = Comm.create();
        comm.runOrAbort(() -> run(comm, args[0], Path.of(args[1]), Path.of(args[2]), args.length > 3 ? args[3] : null));
        comm.close();
    }

    private static void run(Comm comm, String mode, Path root, Path data, String extra) {
        int n = comm.size(), rank = comm.rank();
        switch (mode) {
            case "equivalence" -> {
                for (Strategy s : Strategy.values()) {
                    for (String kase : CASES) train(comm, s, kase, data, root.resolve("np" + n + "-" + s.flag() + "-" + kase));
                }
                // FSDP with the embedding's dense reduce-scatter (these tiny vocabularies exchange rows otherwise)
                System.setProperty("jgpt.dp.embeddingRows", "false");
                for (String kase : CASES) train(comm, Strategy.FSDP, kase, data, root.resolve("np" + n + "-fsdp-dense-" + kase));
                System.clearProperty("jgpt.dp.embeddingRows");
                residentMemory(comm);
                maxStateBytes(comm, root, data);
            }
            case "ddp", "fsdp", "zero2" -> { // one training: MODE ROOT DATA CASE
                Path out = root.resolve("np" + n + "-" + mode + "-" + extra);
                new Trainer(config(extra, n, STEPS), data, out, false, QUIET,
                        new Trainer.Distributed(comm, Strategy.parse(mode), 0, false)).run();
            }
            case "reshard-save" -> new Trainer(config(extra, n, 5), data, root.resolve("reshard-" + extra), false, QUIET,
                    new Trainer.Distributed(comm, Strategy.FSDP, 0, true)).run();
            case "reshard-resume" -> new Trainer(config(extra, n, STEPS), data, root.resolve("reshard-" + extra + "-" + n), true,
                    QUIET, new Trainer.Distributed(comm, Strategy.FSDP, 0, true)).run();
            default -> throw new IllegalArgumentException(mode);
        }
        System.out.println("rank " + rank + " of " + n + ": " + mode + " done");
    }

    private static void train(Comm comm, Strategy s, String kase, Path data, Path out) {
        new Trainer(config(kase, comm.size(), STEPS), data, out, false, QUIET,
                new Trainer.Distributed(comm, s, 0, false)).run();
        if (comm.rank() == 0) System.out.println("rank 0: trained " + out.getFileName());
    }

    /** FSDP's pages actually resident (mincore) after a step, vs. DDP's 16 bytes per parameter. */
    private static void residentMemory(Comm comm) {
        GPTConfig c = new GPTConfig(2, 2, 128, 16, VOCAB, true, true);
        try (GPT model = new GPT(c); AdamW opt = new AdamW(model.params(), model.grads(), 0.1);
             DataParallel dp = new DataParallel(comm, Strategy.FSDP, model, opt, 16)) {
            model.initWeights(new Rng(1));
            dp.distribute();
            int[] in = new int[16], tg = new int[16];
            for (int i = 0; i < 16; i++) {
                in[i] = (i + comm.rank()) % VOCAB;
                tg[i] = (i + 1 + comm.rank()) % VOCAB;
            }
            dp.zeroGrad();
            dp.beginMicroStep(true);
            model.forward(in, tg, 1, 16);
            model.backward(1f / comm.size());
            dp.finishBackward();
            dp.optimizerStep(1e-3f, 1, GradClip.coefficient(dp.gradNorm(), 1.0));
            long resident = dp.residentStateBytes();
            long ddp = 16 * model.numParams();
            long computed = dp.sharding().stateBytes(Strategy.FSDP);
            String line = String.format("rank %d: fsdp state bytes computed %d resident %d ddp %d", comm.rank(), computed, resident, ddp);
            for (int r = 0; r < comm.size(); r++) { // one rank at a time, so mpirun does not interleave the lines
                if (r == comm.rank()) {
                    System.out.println(line);
                    System.out.flush();
                }
                comm.barrier();
            }
        }
    }

    /** A limit FSDP fits under but DDP does not: FSDP trains, DDP is refused before any step. */
    private static void maxStateBytes(Comm comm, Path root, Path data) {
        int n = comm.size();
        TrainConfig cfg = config("tied-accum2", n, 1);
        GPTConfig model = cfg.model(VOCAB);
        jgpt.dist.Sharding sh = new jgpt.dist.Sharding(jgpt.model.ParamLayout.gpt2(model), model.nLayer(), n);
        long limit = (sh.stateBytes(Strategy.FSDP) + sh.stateBytes(Strategy.DDP)) / 2;
        new Trainer(cfg, data, root.resolve("limit-fsdp-np" + n), false, QUIET,
                new Trainer.Distributed(comm, Strategy.FSDP, limit, false)).run();
        System.out.println("rank " + comm.rank() + ": fsdp under max-state-bytes " + limit + " trained");
        try {
            new Trainer(cfg, data, root.resolve("limit-ddp-np" + n), false, QUIET,
                    new Trainer.Distributed(comm, Strategy.DDP, limit, false)).run();
            System.out.println("rank " + comm.rank() + ": ddp NOT refused");
        } catch (UserError e) {
            System.out.println("rank " + comm.rank() + ": ddp refused: " + e.getMessage());
        }
    }
}
