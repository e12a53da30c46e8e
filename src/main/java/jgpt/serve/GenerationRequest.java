package jgpt.serve;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import jgpt.generate.SamplingParams;
import jgpt.tokenizer.Tokenizer;
import jgpt.util.UserError;

/**
 * A validated body of {@code POST /v1/completions} or {@code POST /v1/chat/completions}. Every
 * check names the field it is about, so a bad request becomes a 400 whose {@code param} says which.
 * Unknown fields are ignored, as OpenAI clients send some this server has no use for.
 *
 * @param prompt      the prompt's token ids (the chat template already applied)
 * @param promptText  the prompt as text (for {@code echo})
 * @param n           choices; choice i samples with seed + i
 * @param logprobs    top log-probabilities per token (0 = only the token's own), or -1 for none
 * @param explainTop  candidates to explain per token, or 0 for no explanation
 */
record GenerationRequest(boolean chat, int[] prompt, String promptText, int maxTokens, SamplingParams params, int n,
                         List<String> stops, boolean stream, boolean includeUsage, int logprobs, int explainTop,
                         boolean echo) {
    static final int MAX_N = 16;
    static final int MAX_STOPS = 4;
    /** Bounds the per-request memory (token history, queued events) a client can ask for. */
    static final int MAX_TOKENS = 65536;

    static GenerationRequest parse(JsonNode body, boolean chat, Tokenizer tok, int blockSize) {
        if (body == null || !body.isObject()) throw ApiException.invalid(null, "the request body must be a JSON object");
        Fields f = new Fields(body);
        f.string("model", null);
        String text = chat ? chatPrompt(body) : f.string("prompt", null);
        int[] prompt = chat ? encode(tok, text, "messages") : completionPrompt(body, tok);
        if (!chat && text == null) text = tok.decode(prompt);
        if (prompt.length > blockSize) {
            throw new ApiException(400, "invalid_request_error", chat ? "messages" : "prompt", "context_length_exceeded",
                    "the prompt is " + prompt.length + " tokens; this model's context is " + blockSize + " tokens");
        }
        int maxTokens = chat
                ? f.integer("max_completion_tokens", f.integer("max_tokens", 256, 1, MAX_TOKENS), 1, MAX_TOKENS)
                : f.integer("max_tokens", 16, 1, MAX_TOKENS);
        long seed = body.has("seed") && !body.get("seed").isNull()
                ? f.longValue("seed") : ThreadLocalRandom.current().nextLong();
        SamplingParams params = new SamplingParams(
                f.number("temperature", 1.0, 0, 2),
                f.integer("top_k", 0, 0, Integer.MAX_VALUE),
                f.numberOpenLow("top_p", 1.0, 0, 1),
                f.number("min_p", 0.0, 0, 1),
                f.numberOpenLow("repetition_penalty", 1.0, 0, 100),
                f.number("presence_penalty", 0.0, -2, 2),
                f.number("frequency_penalty", 0.0, -2, 2),
                logitBias(body, tok.vocabSize()),
                seed);
        int n = f.integer("n", 1, 1, MAX_N);
        List<String> stops = new ArrayList<>(stops(body));
        if (chat) stops.add(ChatTemplate.STOP);
        boolean stream = f.bool("stream", false);
        boolean includeUsage = false;
        JsonNode so = body.get("stream_options");
        if (so != null && !so.isNull()) {
            if (!so.isObject()) throw ApiException.invalid("stream_options", "stream_options must be an object");
            includeUsage = new Fields(so).bool("include_usage", false);
        }
        int logprobs;
        if (chat) {
            boolean want = f.bool("logprobs", false);
            int top = f.integer("top_logprobs", 0, 0, 20);
            logprobs = want ? top : -1;
        } else {
            logprobs = f.integer("logprobs", -1, 0, 5);
        }
        int explainTop = f.bool("explain", false) ? f.integer("explain_top", 10, 1, 50) : 0;
        boolean echo = !chat && f.bool("echo", false);
        if (echo && stream) throw ApiException.invalid("echo", "echo is not supported with stream");
        return new GenerationRequest(chat, prompt, text, maxTokens, params, n, stops, stream, includeUsage, logprobs,
                explainTop, echo);
    }

    /** Candidates the engine must explain per token: enough for both explain and logprobs. */
    int engineExplainTop() {
        return Math.max(explainTop, logprobs < 0 ? 0 : Math.max(1, logprobs));
    }

    private static String chatPrompt(JsonNode body) {
        JsonNode ms = body.get("messages");
        if (ms == null || !ms.isArray() || ms.isEmpty()) throw ApiException.invalid("messages", "messages must be a non-empty array");
        List<ChatTemplate.Message> out = new ArrayList<>();
        for (int i = 0; i < ms.size(); i++) {
            JsonNode m = ms.get(i);
            String at = "messages[" + i + "]";
            if (!m.isObject()) throw ApiException.invalid(at, at + " must be an object");
            JsonNode role = m.get("role");
            if (role == null || !role.isTextual() || !List.of("system", "developer", "user", "assistant").contains(role.asText())) {
                throw ApiException.invalid(at + ".role", at + ".role must be one of system, developer, user, assistant");
            }
            out.add(new ChatTemplate.Message(role.asText(), content(m.get("content"), at + ".content")));
        }
        return ChatTemplate.render(out);
    }

    /** A message's content: a string, or an array of {"type": "text", "text": ...} parts. */
    private static String content(JsonNode c, String param) {
        if (c != null && c.isTextual()) return c.asText();
        if (c != null && c.isArray()) {
            StringBuilder b = new StringBuilder();
            for (JsonNode part : c) {
                if (!part.isObject() || !"text".equals(part.path("type").asText()) || !part.path("text").isTextual()) {
                    throw ApiException.invalid(param, param + " parts must be {\"type\": \"text\", \"text\": string}");
                }
                b.append(part.get("text").asText());
            }
            return b.toString();
        }
        throw ApiException.invalid(param, param + " must be a string");
    }

    private static int[] completionPrompt(JsonNode body, Tokenizer tok) {
        JsonNode p = body.get("prompt");
        if (p == null || p.isNull()) throw ApiException.invalid("prompt", "prompt is required");
        if (p.isTextual()) {
            if (!p.asText().isEmpty()) return encode(tok, p.asText(), "prompt");
            if (tok.eotToken() >= 0) return new int[] {tok.eotToken()};
            throw ApiException.invalid("prompt", "prompt must not be empty (this tokenizer has no end-of-text token to start from)");
        }
        if (p.isArray() && !p.isEmpty()) {
            int[] ids = new int[p.size()];
            for (int i = 0; i < ids.length; i++) {
                JsonNode t = p.get(i);
                if (!t.isIntegralNumber() || t.asLong() < 0 || t.asLong() >= tok.vocabSize()) {
                    throw ApiException.invalid("prompt", "prompt must be a string or a non-empty array of token ids in [0, "
                            + tok.vocabSize() + ")");
                }
                ids[i] = t.asInt();
            }
            return ids;
        }
        throw ApiException.invalid("prompt", "prompt must be a string or a non-empty array of token ids");
    }

    private static int[] encode(Tokenizer tok, String text, String param) {
        try {
            return tok.encode(text);
        } catch (UserError e) {
            throw ApiException.invalid(param, param + " cannot be encoded: " + e.getMessage());
        }
    }

    private static List<String> stops(JsonNode body) {
        JsonNode s = body.get("stop");
        if (s == null || s.isNull()) return List.of();
        List<String> out = new ArrayList<>();
        if (s.isTextual()) {
            out.add(s.asText());
        } else if (s.isArray() && s.size() <= MAX_STOPS) {
            for (JsonNode e : s) {
                if (!e.isTextual()) throw ApiException.invalid("stop", "stop must be a string or an array of strings");
                out.add(e.asText());
            }
        } else {
            throw ApiException.invalid("stop", "stop must be a string or an array of at most " + MAX_STOPS + " strings");
        }
        if (out.stream().anyMatch(String::isEmpty)) throw ApiException.invalid("stop", "stop strings must not be empty");
        return out;
    }

    private static Map<Integer, Float> logitBias(JsonNode body, int vocab) {
        JsonNode b = body.get("logit_bias");
        if (b == null || b.isNull()) return Map.of();
        if (!b.isObject()) throw ApiException.invalid("logit_bias", "logit_bias must be an object of token id to bias");
        Map<Integer, Float> out = new HashMap<>();
        for (var e : b.properties()) {
            int id;
            try {
                id = Integer.parseInt(e.getKey());
            } catch (NumberFormatException x) {
                throw ApiException.invalid("logit_bias", "logit_bias keys must be token ids, got \"" + e.getKey() + "\"");
            }
            if (id < 0 || id >= vocab) throw ApiException.invalid("logit_bias", "logit_bias token " + id + " is outside the vocabulary of " + vocab);
            JsonNode v = e.getValue();
            if (!v.isNumber() || v.asDouble() < -100 || v.asDouble() > 100) {
                throw ApiException.invalid("logit_bias", "logit_bias values must be numbers in [-100, 100]");
            }
            out.put(id, (float) v.asDouble());
        }
        return out;
    }

    /** Typed, range-checked access to optional fields; null counts as absent. */
    private record Fields(JsonNode node) {
        private JsonNode get(String name) {
            JsonNode v = node.get(name);
            return v == null || v.isNull() ? null : v;
        }

        String string(String name, String dflt) {
            JsonNode v = get(name);
            if (v == null) return dflt;
            if (!v.isTextual()) throw ApiException.invalid(name, name + " must be a string");
            return v.asText();
        }

        boolean bool(String name, boolean dflt) {
            JsonNode v = get(name);
            if (v == null) return dflt;
            if (!v.isBoolean()) throw ApiException.invalid(name, name + " must be a boolean");
            return v.asBoolean();
        }

        double number(String name, double dflt, double min, double max) {
            double x = num(name, dflt);
            if (!(x >= min && x <= max)) throw ApiException.invalid(name, name + " must be in [" + min + ", " + max + "], got " + x);
            return x;
        }

        double numberOpenLow(String name, double dflt, double min, double max) {
            double x = num(name, dflt);
            if (!(x > min && x <= max)) throw ApiException.invalid(name, name + " must be in (" + min + ", " + max + "], got " + x);
            return x;
        }

        private double num(String name, double dflt) {
            JsonNode v = get(name);
            if (v == null) return dflt;
            if (!v.isNumber()) throw ApiException.invalid(name, name + " must be a number");
            return v.asDouble();
        }

        int integer(String name, int dflt, int min, int max) {
            JsonNode v = get(name);
            if (v == null) return dflt;
            if (!v.isIntegralNumber() || !v.canConvertToInt()) throw ApiException.invalid(name, name + " must be an integer");
            int x = v.asInt();
            if (x < min || x > max) {
                throw ApiException.invalid(name, name + " must be " + (max == Integer.MAX_VALUE ? ">= " + min
                        : "in [" + min + ", " + max + "]") + ", got " + x);
            }
            return x;
        }

        long longValue(String name) {
            JsonNode v = get(name);
            if (!v.isIntegralNumber() || !v.canConvertToLong()) throw ApiException.invalid(name, name + " must be an integer");
            return v.asLong();
        }
    }
}
