package jgpt.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import jgpt.kernels.Parallel;
import jgpt.model.LanguageModel;
import jgpt.serve.Server;
import jgpt.train.Checkpoint;
import jgpt.util.UserError;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import sun.misc.Signal;

/** {@code jgpt serve}: the OpenAI-compatible HTTP server and the playground (see docs/SERVING.md). */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Serve a checkpoint over an OpenAI-compatible HTTP API, with a playground at /.")
public final class ServeCommand implements Callable<Integer> {
    @Option(names = "--checkpoint", required = true, description = "Run directory or ckpt.bin file.")
    Path checkpoint;

    @Option(names = "--host", defaultValue = "127.0.0.1", description = "Address to listen on (default: ${DEFAULT-VALUE}).")
    String host;

    @Option(names = "--port", defaultValue = "8000", description = "Port; 0 picks a free one (default: ${DEFAULT-VALUE}).")
    int port;

    @Option(names = "--model-name", description = "Model id in the API (default: the checkpoint directory's name).")
    String modelName;

    @Option(names = "--max-batch", defaultValue = "16", description = "Sequences decoded together, one KV cache each (default: ${DEFAULT-VALUE}).")
    int maxBatch;

    @Option(names = "--max-queue", defaultValue = "64", description = "Requests waiting for a slot before answering 503 (default: ${DEFAULT-VALUE}).")
    int maxQueue;

    @Option(names = "--max-body-bytes", defaultValue = "1048576", description = "Larger request bodies get 413 (default: ${DEFAULT-VALUE}).")
    int maxBodyBytes;

    @Option(names = "--shutdown-grace", defaultValue = "5", description = "Seconds in-flight requests may finish on SIGTERM (default: ${DEFAULT-VALUE}).")
    int graceSeconds;

    @Option(names = "--threads", description = "Worker threads (default: all cores).")
    Integer threads;

    @Override
    public Integer call() throws Exception {
        if (maxBatch < 1) throw new UserError("--max-batch must be >= 1, got " + maxBatch);
        if (maxQueue < 0) throw new UserError("--max-queue must be >= 0, got " + maxQueue);
        if (maxBodyBytes < 1024) throw new UserError("--max-body-bytes must be >= 1024, got " + maxBodyBytes);
        if (graceSeconds < 0) throw new UserError("--shutdown-grace must be >= 0, got " + graceSeconds);
        if (threads != null) Parallel.setThreads(threads);
        Path abs = checkpoint.toAbsolutePath().normalize();
        String name = modelName != null ? modelName
                : String.valueOf((abs.toFile().isDirectory() ? abs : abs.getParent()).getFileName());
        try (Checkpoint ckpt = Checkpoint.load(checkpoint); LanguageModel model = ckpt.newModel()) {
            Server server = new Server(model, ckpt.tokenizer(),
                    new Server.Options(host, port, name, maxBatch, maxQueue, maxBodyBytes, graceSeconds));
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                System.err.println("jgpt: shutting down");
                server.close();
            }, "jgpt-shutdown"));
            // SIGTERM is an orderly stop, not a failure: exit 0 (the hook above still runs)
            Signal.handle(new Signal("TERM"), s -> System.exit(0));
            System.out.println("jgpt: serving " + name + " at http://" + host + ":" + server.port() + "/ (playground at /, API at /v1)");
            System.out.flush();
            server.awaitClose();
        }
        return 0;
    }
}
