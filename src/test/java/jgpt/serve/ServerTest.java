package jgpt.serve;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;
import jgpt.generate.KVCacheEquivalenceTestAccess;
import jgpt.model.GPT;
import jgpt.tokenizer.CharTokenizer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The HTTP API end to end, over real HTTP on 127.0.0.1 with an ephemeral port. */
class ServerTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final HttpClient CLIENT = HttpClient.newHttpClient();
    static GPT model;
    static Server server;
    static CharTokenizer tok = KVCacheEquivalenceTestAccess.TOKENIZER;

    record Response(int status, JsonNode body) {}

    @BeforeAll
    static void start() throws Exception {
        model = KVCacheEquivalenceTestAccess.model(64, 3);
        server = new Server(model, tok, new Server.Options("127.0.0.1", 0, "test-model", 4, 8, 4096, 1));
    }

    @AfterAll
    static void stop() {
        server.close();
        model.close();
    }

    static String base(Server s) {
        return "http://127.0.0.1:" + s.port();
    }

    static Response post(Server s, String path, String body) throws Exception {
        HttpResponse<String> r = CLIENT.send(HttpRequest.newBuilder(URI.create(base(s) + path))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
        return new Response(r.statusCode(), JSON.readTree(r.body()));
    }

    static JsonNode get(Server s, String path) throws Exception {
        HttpResponse<String> r = CLIENT.send(HttpRequest.newBuilder(URI.create(base(s) + path)).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(200);
        return JSON.readTree(r.body());
    }

    static void await(Server s, Predicate<JsonNode> health) throws Exception {
        long deadline = System.nanoTime() + 20_000_000_000L;
        while (!health.test(get(s, "/health"))) {
            if (System.nanoTime() > deadline) throw new AssertionError("timed out; health " + get(s, "/health"));
            Thread.sleep(20);
        }
    }

    /** Starts a streaming request on a raw socket (so the test can drop it) and reads until the first event. */
    static Socket openStream(Server s, int maxTokens) throws Exception {
        Socket sock = new Socket("127.0.0.1", s.port());
        byte[] body = ("{\"prompt\":\"Hello\",\"max_tokens\":" + maxTokens + ",\"stream\":true}").getBytes(StandardCharsets.UTF_8);
        OutputStream os = sock.getOutputStream();
        os.write(("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: "
                + body.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        os.write(body);
        os.flush();
        return sock;
    }

    static void readUntilData(Socket sock) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(sock.getInputStream(), StandardCharsets.UTF_8));
        for (String line; (line = in.readLine()) != null; ) if (line.contains("data: ")) return;
        throw new AssertionError("no event");
    }

    @Test
    void completionIsDeterministicPerSeedAndCountsUsage() throws Exception {
        String req = "{\"model\":\"test-model\",\"prompt\":\"Hello\",\"max_tokens\":20,\"temperature\":0.8,\"seed\":5,\"n\":2,\"logprobs\":2}";
        Response a = post(server, "/v1/completions", req), b = post(server, "/v1/completions", req);
        assertThat(a.status()).isEqualTo(200);
        JsonNode body = a.body();
        assertThat(body.get("object").asText()).isEqualTo("text_completion");
        assertThat(body.get("model").asText()).isEqualTo("test-model");
        assertThat(body.get("choices")).hasSize(2);
        JsonNode c0 = body.get("choices").get(0);
        assertThat(c0.get("finish_reason").asText()).isEqualTo("length");
        assertThat(c0.get("text").asText()).hasSize(20).isEqualTo(b.body().get("choices").get(0).get("text").asText());
        assertThat(c0.get("logprobs").get("tokens")).hasSize(20);
        assertThat(c0.get("logprobs").get("top_logprobs").get(0).size()).isBetween(1, 2);
        assertThat(body.get("usage").get("prompt_tokens").asInt()).isEqualTo(5);
        assertThat(body.get("usage").get("completion_tokens").asInt()).isEqualTo(40);
        assertThat(body.get("usage").get("total_tokens").asInt()).isEqualTo(45);
    }

    @Test
    void chatUsesTheTemplateAndExplainGivesEveryStage() throws Exception {
        Response r = post(server, "/v1/chat/completions", "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                + "{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":12,\"seed\":1,\"top_k\":5,\"explain\":true,\"explain_top\":3}");
        assertThat(r.status()).isEqualTo(200);
        JsonNode c = r.body().get("choices").get(0);
        assertThat(r.body().get("object").asText()).isEqualTo("chat.completion");
        assertThat(c.get("message").get("role").asText()).isEqualTo("assistant");
        assertThat(c.get("message").get("content").asText()).doesNotContain("\nUser:");
        assertThat(r.body().get("usage").get("prompt_tokens").asInt()).isEqualTo("System: Be brief.\nUser: Hi\nAssistant:".length());
        JsonNode e = c.get("explain").get(0);
        assertThat(e.get("candidates")).hasSize(3);
        for (String stage : List.of("model", "before_temperature", "after_temperature", "after_top_k", "after_top_p", "final")) {
            assertThat(e.get("candidates").get(0).has(stage)).as(stage).isTrue();
        }
    }

    @Test
    void streamingSendsChunksEndingInDone() throws Exception {
        for (String path : List.of("/v1/completions", "/v1/chat/completions")) {
            String body = path.contains("chat") ? "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]," : "{\"prompt\":\"Hello\",";
            HttpResponse<java.util.stream.Stream<String>> r = CLIENT.send(HttpRequest.newBuilder(URI.create(base(server) + path))
                    .POST(HttpRequest.BodyPublishers.ofString(body + "\"max_tokens\":15,\"seed\":3,\"temperature\":0,"
                            + "\"stream\":true,\"stream_options\":{\"include_usage\":true}}")).build(), HttpResponse.BodyHandlers.ofLines());
            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(r.headers().firstValue("Content-Type")).hasValue("text/event-stream");
            List<String> data = new ArrayList<>();
            r.body().filter(l -> !l.isEmpty()).forEach(l -> {
                assertThat(l).startsWith("data: ");
                data.add(l.substring(6));
            });
            assertThat(data.getLast()).isEqualTo("[DONE]");
            StringBuilder text = new StringBuilder();
            String finish = null;
            for (String d : data.subList(0, data.size() - 2)) {
                JsonNode c = JSON.readTree(d).get("choices").get(0);
                text.append(path.contains("chat") ? c.get("delta").path("content").asText("") : c.get("text").asText());
                if (!c.get("finish_reason").isNull()) finish = c.get("finish_reason").asText();
            }
            assertThat(JSON.readTree(data.get(data.size() - 2)).get("usage").get("completion_tokens").asInt()).isBetween(1, 15);
            assertThat(finish).isIn("stop", "length");
            String nonStream = body + "\"max_tokens\":15,\"seed\":3,\"temperature\":0}";
            JsonNode c = post(server, path, nonStream).body().get("choices").get(0);
            assertThat(text.toString()).isEqualTo(path.contains("chat") ? c.get("message").get("content").asText() : c.get("text").asText());
        }
    }

    @Test
    void invalidRequestsGet400NamingTheField() throws Exception {
        String[][] cases = {
                {"{\"prompt\":\"Hi\",\"temperature\":-1}", "temperature"},
                {"{\"prompt\":\"Hi\",\"temperature\":\"hot\"}", "temperature"},
                {"{\"prompt\":\"Hi\",\"top_p\":0}", "top_p"},
                {"{\"prompt\":\"Hi\",\"top_k\":1.5}", "top_k"},
                {"{\"prompt\":\"Hi\",\"min_p\":2}", "min_p"},
                {"{\"prompt\":\"Hi\",\"max_tokens\":0}", "max_tokens"},
                {"{\"prompt\":\"Hi\",\"max_tokens\":2000000000}", "max_tokens"},
                {"{\"prompt\":\"Hi\",\"n\":100}", "n"},
                {"{\"prompt\":\"Hi\",\"stop\":[\"\"]}", "stop"},
                {"{\"prompt\":\"Hi\",\"seed\":\"x\"}", "seed"},
                {"{\"prompt\":\"Hi\",\"logprobs\":9}", "logprobs"},
                {"{\"prompt\":\"Hi\",\"presence_penalty\":3}", "presence_penalty"},
                {"{\"prompt\":\"Hi\",\"frequency_penalty\":-3}", "frequency_penalty"},
                {"{\"prompt\":\"Hi\",\"repetition_penalty\":0}", "repetition_penalty"},
                {"{\"prompt\":\"Hi\",\"logit_bias\":{\"999999\":1}}", "logit_bias"},
                {"{\"prompt\":\"Hi\",\"stream\":1}", "stream"},
                {"{\"prompt\":42}", "prompt"},
                {"{\"prompt\":\"" + "a".repeat(65) + "\",\"max_tokens\":5}", "prompt"},
                {"{\"prompt\":\"\u00e9\u00e9\"}", "prompt"},
                {"{}", "prompt"},
        };
        for (String[] c : cases) {
            Response r = post(server, "/v1/completions", c[0]);
            assertThat(r.status()).as(c[0]).isEqualTo(400);
            JsonNode e = r.body().get("error");
            assertThat(e.get("type").asText()).isEqualTo("invalid_request_error");
            assertThat(e.get("param").asText()).as(c[0]).isEqualTo(c[1]);
            assertThat(e.get("message").asText()).as(c[0]).contains(c[1]);
            assertThat(e.has("code")).isTrue();
        }
        Response chat = post(server, "/v1/chat/completions", "{\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}");
        assertThat(chat.status()).isEqualTo(400);
        assertThat(chat.body().get("error").get("param").asText()).isEqualTo("messages[0].role");
        Response malformed = post(server, "/v1/completions", "{\"prompt\": ");
        assertThat(malformed.status()).isEqualTo(400);
        assertThat(malformed.body().get("error").get("message").asText()).contains("JSON");
        Response tooLarge = post(server, "/v1/completions", "{\"prompt\":\"" + "a".repeat(5000) + "\"}");
        assertThat(tooLarge.status()).isEqualTo(413);
        assertThat(post(server, "/v1/nothing", "{}").status()).isEqualTo(404);
    }

    @Test
    void modelsHealthAndPlayground() throws Exception {
        assertThat(get(server, "/v1/models").get("data").get(0).get("id").asText()).isEqualTo("test-model");
        assertThat(get(server, "/health").get("status").asText()).isEqualTo("ok");
        HttpResponse<String> page = CLIENT.send(HttpRequest.newBuilder(URI.create(base(server) + "/")).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(page.statusCode()).isEqualTo(200);
        assertThat(page.body()).contains("jgpt playground").contains("/v1/completions");
    }

    @Test
    void clientDisconnectStopsGeneration() throws Exception {
        try (Socket sock = openStream(server, GenerationRequest.MAX_TOKENS)) {
            readUntilData(sock);
            await(server, h -> h.get("active").asInt() == 1);
        }
        await(server, h -> h.get("active").asInt() == 0);
    }

    @Test
    void fullQueueGets503() throws Exception {
        try (GPT m = KVCacheEquivalenceTestAccess.model(64, 4);
             Server small = new Server(m, tok, new Server.Options("127.0.0.1", 0, "small", 1, 1, 4096, 1));
             Socket running = openStream(small, GenerationRequest.MAX_TOKENS)) {
            readUntilData(running);
            try (Socket queued = openStream(small, 5)) {
                await(small, h -> h.get("queued").asInt() == 1);
                Response r = post(small, "/v1/completions", "{\"prompt\":\"Hi\",\"max_tokens\":2}");
                assertThat(r.status()).isEqualTo(503);
                assertThat(r.body().get("error").get("message").asText()).contains("busy");
            }
        }
    }
}
