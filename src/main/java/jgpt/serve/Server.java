package jgpt.serve;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import jgpt.generate.Engine;
import jgpt.model.LanguageModel;
import jgpt.tokenizer.Tokenizer;

/**
 * An OpenAI-compatible HTTP server over one model, on the JDK's own {@link HttpServer} (no
 * dependency; SSE is a chunked response flushed per event). Each exchange runs on its own virtual
 * thread; all generation runs on the {@link Engine}'s thread.
 */
public final class Server implements AutoCloseable {

    /**
     * @param maxBatch     sequences decoded together
     * @param maxQueue     requests waiting for a slot before the server answers 503
     * @param maxBodyBytes larger request bodies are refused with 413
     * @param graceSeconds on close, how long in-flight requests may take to finish before they are cancelled
     */
    public record Options(String host, int port, String modelName, int maxBatch, int maxQueue, int maxBodyBytes,
                          int graceSeconds) {}

    private final Options options;
    private final Engine engine;
    private final Tokenizer tok;
    private final HttpServer http;
    private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
    private final CompletionHandler completions;
    private final CountDownLatch closed = new CountDownLatch(1);
    private final long created = System.currentTimeMillis() / 1000;
    private final byte[] playground;

    public Server(LanguageModel model, Tokenizer tok, Options options) throws IOException {
        this.options = options;
        this.tok = tok;
        this.engine = new Engine(model, tok, options.maxBatch(), options.maxQueue());
        this.completions = new CompletionHandler(engine, tok, options.modelName());
        try (InputStream in = Server.class.getResourceAsStream("playground.html")) {
            if (in == null) throw new IllegalStateException("playground.html missing from the jar");
            playground = in.readAllBytes();
        }
        http = HttpServer.create(new InetSocketAddress(options.host(), options.port()), 64);
        http.setExecutor(executor);
        http.createContext("/", this::dispatch);
        http.start();
    }

    /** The port actually bound (useful with port 0). */
    public int port() {
        return http.getAddress().getPort();
    }

    public Engine engine() {
        return engine;
    }

    private void dispatch(HttpExchange ex) {
        try {
            String path = ex.getRequestURI().getPath(), method = ex.getRequestMethod();
            switch (path) {
                case "/v1/completions", "/v1/chat/completions" -> {
                    requireMethod(method, "POST");
                    byte[] body = Http.readBody(ex, options.maxBodyBytes());
                    completions.handle(ex, Http.parseJson(body), path.endsWith("chat/completions"));
                }
                case "/v1/models" -> {
                    requireMethod(method, "GET");
                    ObjectNode root = JsonNodeFactory.instance.objectNode().put("object", "list");
                    root.putArray("data").addObject().put("id", options.modelName()).put("object", "model")
                            .put("created", created).put("owned_by", "jgpt");
                    Http.sendJson(ex, 200, root);
                }
                case "/health" -> {
                    requireMethod(method, "GET");
                    Http.sendJson(ex, 200, JsonNodeFactory.instance.objectNode().put("status", "ok")
                            .put("model", options.modelName()).put("active", engine.active()).put("queued", engine.queued())
                            .put("context_length", engine.blockSize()).put("vocab_size", tok.vocabSize()));
                }
                case "/", "/index.html" -> {
                    requireMethod(method, "GET");
                    Http.send(ex, 200, "text/html; charset=utf-8", playground);
                }
                default -> throw new ApiException(404, "invalid_request_error", null, "not_found", "no route " + method + " " + path);
            }
        } catch (ApiException e) {
            sendErrorIfPossible(ex, e);
        } catch (IOException e) {
            // the client went away; nothing to answer
        } catch (RuntimeException e) {
            sendErrorIfPossible(ex, new ApiException(500, "server_error", null, null, "internal error: " + e));
        } finally {
            ex.close();
        }
    }

    private static void requireMethod(String method, String wanted) {
        if (!method.equals(wanted)) throw new ApiException(405, "invalid_request_error", null, "method_not_allowed", "use " + wanted);
    }

    private static void sendErrorIfPossible(HttpExchange ex, ApiException e) {
        if (ex.getResponseCode() != -1) return; // headers already sent (a stream): nothing more to say
        try {
            Http.sendError(ex, e);
        } catch (IOException ignored) {
            // the client went away
        }
    }

    /** Blocks until {@link #close()} has finished. */
    public void awaitClose() throws InterruptedException {
        closed.await();
    }

    /**
     * Stops accepting connections, lets in-flight requests finish for up to the grace period,
     * cancels what is left, and frees the model's caches.
     */
    @Override
    public synchronized void close() {
        if (closed.getCount() == 0) return;
        http.stop(options.graceSeconds());
        engine.close();
        executor.shutdownNow();
        closed.countDown();
    }
}
