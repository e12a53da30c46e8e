package jgpt.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadLocalRandom;
import jgpt.generate.Engine;
import jgpt.generate.Explanation;
import jgpt.tokenizer.Tokenizer;

/**
 * {@code POST /v1/completions} and {@code POST /v1/chat/completions}: submits the n choices to the
 * {@link Engine} and answers one JSON object, or with {@code stream} one SSE chunk per token as it
 * is generated, ending with {@code data: [DONE]}. The engine thread only queues events; this
 * handler's own thread writes them, so a slow client never stalls the batch. A failed write (the
 * client went away) cancels the request's generation.
 */
final class CompletionHandler {
    private static final JsonNodeFactory J = JsonNodeFactory.instance;

    private sealed interface Event permits TokenEvent, DoneEvent {
        int choice();
    }

    private record TokenEvent(int choice, int token, String text, Explanation explanation) implements Event {}

    private record DoneEvent(int choice, String tail, Engine.Result result) implements Event {}

    /** What one choice has produced so far (non-streaming). */
    private static final class Choice {
        final StringBuilder text = new StringBuilder();
        final List<TokenEvent> tokens = new ArrayList<>();
        Engine.Result result;
    }

    private final Engine engine;
    private final Tokenizer tok;
    private final String modelName;

    CompletionHandler(Engine engine, Tokenizer tok, String modelName) {
        this.engine = engine;
        this.tok = tok;
        this.modelName = modelName;
    }

    void handle(HttpExchange ex, JsonNode body, boolean chat) throws IOException {
        GenerationRequest req = GenerationRequest.parse(body, chat, tok, engine.blockSize());
        LinkedBlockingQueue<Event> events = new LinkedBlockingQueue<>();
        List<Engine.Request> requests = new ArrayList<>();
        for (int i = 0; i < req.n(); i++) {
            int choice = i;
            requests.add(new Engine.Request(req.prompt(), req.maxTokens(), req.params().withSeed(req.params().seed() + i),
                    req.stops(), req.engineExplainTop(), new Engine.Listener() {
                        @Override
                        public void onToken(int token, String text, Explanation e) {
                            events.add(new TokenEvent(choice, token, text, e));
                        }

                        @Override
                        public void onDone(String tail, Engine.Result r) {
                            events.add(new DoneEvent(choice, tail, r));
                        }
                    }));
        }
        List<Engine.Handle> handles;
        try {
            handles = engine.submitAll(requests);
        } catch (Engine.QueueFullException e) {
            throw new ApiException(503, "server_error", null, "server_overloaded", "the server is busy: " + e.getMessage() + "; retry later");
        }
        String id = (chat ? "chatcmpl-" : "cmpl-") + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextLong());
        long created = System.currentTimeMillis() / 1000;
        try {
            if (req.stream()) stream(ex, req, events, id, created);
            else respond(ex, req, events, id, created);
        } catch (IOException | RuntimeException e) {
            handles.forEach(Engine.Handle::cancel);
            throw e;
        } catch (InterruptedException e) {
            handles.forEach(Engine.Handle::cancel);
            Thread.currentThread().interrupt();
        }
    }

    private void respond(HttpExchange ex, GenerationRequest req, LinkedBlockingQueue<Event> events, String id, long created)
            throws IOException, InterruptedException {
        Choice[] choices = new Choice[req.n()];
        for (int i = 0; i < choices.length; i++) choices[i] = new Choice();
        for (int done = 0; done < choices.length; ) {
            Event e = events.take();
            Choice c = choices[e.choice()];
            switch (e) {
                case TokenEvent t -> {
                    c.text.append(t.text());
                    c.tokens.add(t);
                }
                case DoneEvent d -> {
                    c.text.append(d.tail());
                    c.result = d.result();
                    done++;
                }
            }
        }
        ObjectNode root = header(req, id, created, false);
        ArrayNode arr = root.putArray("choices");
        int completionTokens = 0;
        for (int i = 0; i < choices.length; i++) {
            Choice c = choices[i];
            failIfError(c.result);
            completionTokens += c.result.tokens().length;
            ObjectNode o = arr.addObject().put("index", i);
            if (req.chat()) {
                o.putObject("message").put("role", "assistant").put("content", c.text.toString());
            } else {
                o.put("text", req.echo() ? req.promptText() + c.text : c.text.toString());
            }
            o.set("logprobs", req.logprobs() < 0 ? J.nullNode() : logprobs(req, c.tokens, req.echo() ? req.promptText().length() : 0));
            o.put("finish_reason", finishReason(c.result.finish()));
            if (req.explainTop() > 0) o.set("explain", explain(c.tokens));
        }
        root.set("usage", usage(req, completionTokens));
        Http.sendJson(ex, 200, root);
    }

    private void stream(HttpExchange ex, GenerationRequest req, LinkedBlockingQueue<Event> events, String id, long created)
            throws IOException, InterruptedException {
        ex.getResponseHeaders().set("Content-Type", "text/event-stream");
        ex.getResponseHeaders().set("Cache-Control", "no-cache");
        ex.sendResponseHeaders(200, 0);
        try (OutputStream os = ex.getResponseBody()) {
            if (req.chat()) {
                for (int i = 0; i < req.n(); i++) {
                    ObjectNode c = chunk(req, id, created, i);
                    ((ObjectNode) c.get("choices").get(0)).putObject("delta").put("role", "assistant").put("content", "");
                    send(os, c);
                }
            }
            int completionTokens = 0;
            int[] offsets = new int[req.n()];
            for (int done = 0; done < req.n(); ) {
                Event e = events.take();
                ObjectNode c = chunk(req, id, created, e.choice());
                ObjectNode choice = (ObjectNode) c.get("choices").get(0);
                switch (e) {
                    case TokenEvent t -> {
                        // a token whose text is held back (stop prefix, partial character) is sent only when it carries data
                        if (t.text().isEmpty() && req.logprobs() < 0 && req.explainTop() == 0) continue;
                        putText(req, choice, t.text());
                        if (req.logprobs() >= 0) choice.set("logprobs", logprobs(req, List.of(t), offsets[t.choice()]));
                        if (req.explainTop() > 0) choice.set("explain", explain(List.of(t)));
                        offsets[t.choice()] += t.text().length();
                    }
                    case DoneEvent d -> {
                        done++;
                        if (d.result().finish() == Engine.Finish.ERROR || d.result().finish() == Engine.Finish.CANCELLED) {
                            ApiException err = new ApiException(500, "server_error", null, null,
                                    d.result().finish() == Engine.Finish.ERROR ? "generation failed: " + d.result().error()
                                            : "generation was cancelled (the server is shutting down)");
                            send(os, err.toJson());
                            continue;
                        }
                        completionTokens += d.result().tokens().length;
                        putText(req, choice, d.tail());
                        choice.put("finish_reason", finishReason(d.result().finish()));
                    }
                }
                send(os, c);
            }
            if (req.includeUsage()) {
                ObjectNode u = header(req, id, created, true);
                u.putArray("choices");
                u.set("usage", usage(req, completionTokens));
                send(os, u);
            }
            os.write(Http.utf8("data: [DONE]\n\n"));
            os.flush();
        }
    }

    private static void send(OutputStream os, JsonNode event) throws IOException {
        os.write(Http.utf8("data: " + Http.JSON.writeValueAsString(event) + "\n\n"));
        os.flush();
    }

    private ObjectNode header(GenerationRequest req, String id, long created, boolean chunk) {
        ObjectNode root = J.objectNode();
        root.put("id", id);
        root.put("object", req.chat() ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion");
        root.put("created", created);
        root.put("model", modelName);
        return root;
    }

    private ObjectNode chunk(GenerationRequest req, String id, long created, int index) {
        ObjectNode c = header(req, id, created, true);
        ObjectNode choice = c.putArray("choices").addObject().put("index", index);
        if (req.chat()) choice.putObject("delta");
        else choice.put("text", "");
        choice.putNull("logprobs");
        choice.putNull("finish_reason");
        return c;
    }

    private static void putText(GenerationRequest req, ObjectNode choice, String text) {
        if (!req.chat()) choice.put("text", text);
        else if (!text.isEmpty()) ((ObjectNode) choice.get("delta")).put("content", text);
    }

    private static ObjectNode usage(GenerationRequest req, int completionTokens) {
        return J.objectNode().put("prompt_tokens", req.prompt().length).put("completion_tokens", completionTokens)
                .put("total_tokens", req.prompt().length + completionTokens);
    }

    private static String finishReason(Engine.Finish f) {
        return f == Engine.Finish.STOP ? "stop" : "length";
    }

    private static void failIfError(Engine.Result r) {
        if (r.finish() == Engine.Finish.ERROR) throw new ApiException(500, "server_error", null, null, "generation failed: " + r.error());
        if (r.finish() == Engine.Finish.CANCELLED) {
            throw new ApiException(503, "server_error", null, null, "generation was cancelled (the server is shutting down)");
        }
    }

    private String text(int token) {
        return tok.decode(new int[] {token});
    }

    /**
     * Log-probabilities in the endpoint's OpenAI shape. They are the model's own, softmax of the raw
     * logits, whatever the sampling settings; the alternatives are the explained top candidates.
     */
    private JsonNode logprobs(GenerationRequest req, List<TokenEvent> tokens, int offset) {
        if (req.chat()) {
            ObjectNode lp = J.objectNode();
            ArrayNode content = lp.putArray("content");
            for (TokenEvent t : tokens) {
                ObjectNode o = content.addObject();
                tokenLogprob(o, t.token(), t.explanation().modelLogProb());
                ArrayNode top = o.putArray("top_logprobs");
                for (Explanation.Candidate c : top(t.explanation(), req.logprobs())) tokenLogprob(top.addObject(), c.token(), c.modelLogProb());
            }
            return lp;
        }
        ObjectNode lp = J.objectNode();
        ArrayNode toks = lp.putArray("tokens"), tlp = lp.putArray("token_logprobs"), tops = lp.putArray("top_logprobs"),
                offs = lp.putArray("text_offset");
        for (TokenEvent t : tokens) {
            toks.add(text(t.token()));
            tlp.add(t.explanation().modelLogProb());
            ObjectNode top = tops.addObject();
            for (Explanation.Candidate c : top(t.explanation(), req.logprobs())) top.put(text(c.token()), c.modelLogProb());
            offs.add(offset);
            offset += t.text().length();
        }
        return lp;
    }

    private static List<Explanation.Candidate> top(Explanation e, int n) {
        return e.candidates().subList(0, Math.min(n, e.candidates().size()));
    }

    private void tokenLogprob(ObjectNode o, int token, double logprob) {
        String s = text(token);
        o.put("token", s).put("logprob", logprob);
        ArrayNode bytes = o.putArray("bytes");
        for (byte b : Http.utf8(s)) bytes.add(b & 0xFF);
    }

    /** The {@code explain} extension: per token, the candidates' probability after each sampling stage. */
    private ArrayNode explain(List<TokenEvent> tokens) {
        ArrayNode arr = J.arrayNode();
        for (TokenEvent t : tokens) {
            Explanation e = t.explanation();
            ObjectNode o = arr.addObject().put("token", e.token()).put("text", text(e.token())).put("logprob", e.logProb());
            ArrayNode cs = o.putArray("candidates");
            for (Explanation.Candidate c : e.candidates()) {
                cs.addObject().put("token", c.token()).put("text", text(c.token())).put("logit", c.logit())
                        .put("model", c.pModel()).put("before_temperature", c.pBeforeTemperature())
                        .put("after_temperature", c.pAfterTemperature()).put("after_top_k", c.pAfterTopK())
                        .put("after_top_p", c.pAfterTopP()).put("final", c.p());
            }
        }
        return arr;
    }
}
