package jgpt.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/** A minimal Chrome DevTools protocol client over the JDK's WebSocket, for one page on loopback. */
final class Cdp implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final WebSocket ws;
    private final AtomicInteger ids = new AtomicInteger();
    private final Map<Integer, CompletableFuture<JsonNode>> pending = new ConcurrentHashMap<>();

    /** Connects to the first page target of a browser started with --remote-debugging-port. */
    Cdp(int debugPort) throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        JsonNode targets = JSON.readTree(http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + debugPort + "/json/list")).build(),
                HttpResponse.BodyHandlers.ofString()).body());
        String url = null;
        for (JsonNode t : targets) if ("page".equals(t.path("type").asText())) url = t.get("webSocketDebuggerUrl").asText();
        if (url == null) throw new IllegalStateException("no page target: " + targets);
        ws = http.newWebSocketBuilder().buildAsync(URI.create(url), new WebSocket.Listener() {
            final StringBuilder buf = new StringBuilder();

            @Override
            public CompletionStage<?> onText(WebSocket w, CharSequence data, boolean last) {
                buf.append(data);
                if (last) {
                    try {
                        JsonNode msg = JSON.readTree(buf.toString());
                        CompletableFuture<JsonNode> f = msg.has("id") ? pending.remove(msg.get("id").asInt()) : null;
                        if (f != null) {
                            if (msg.has("error")) f.completeExceptionally(new IllegalStateException(msg.get("error").toString()));
                            else f.complete(msg.get("result"));
                        }
                    } catch (Exception e) {
                        pending.values().forEach(f -> f.completeExceptionally(e));
                    }
                    buf.setLength(0);
                }
                w.request(1);
                return null;
            }
        }).get(10, TimeUnit.SECONDS);
    }

    JsonNode send(String method, ObjectNode params) throws Exception {
        int id = ids.incrementAndGet();
        CompletableFuture<JsonNode> f = new CompletableFuture<>();
        pending.put(id, f);
        ObjectNode msg = JSON.createObjectNode().put("id", id).put("method", method);
        msg.set("params", params == null ? JSON.createObjectNode() : params);
        ws.sendText(msg.toString(), true).get(10, TimeUnit.SECONDS);
        return f.get(30, TimeUnit.SECONDS);
    }

    /** Evaluates a JavaScript expression in the page and returns its value. */
    JsonNode eval(String expression) throws Exception {
        return send("Runtime.evaluate", JSON.createObjectNode().put("expression", expression).put("returnByValue", true))
                .path("result").path("value");
    }

    static ObjectNode params() {
        return JSON.createObjectNode();
    }

    @Override
    public void close() {
        ws.abort();
    }
}
