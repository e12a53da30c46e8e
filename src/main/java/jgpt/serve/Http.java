package jgpt.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/** Small helpers over {@link HttpExchange}: bounded bodies, JSON answers, OpenAI-shaped errors. */
final class Http {
    static final ObjectMapper JSON = new ObjectMapper();

    private Http() {}

    /** Reads the body, refusing (413) one longer than {@code limit} bytes before reading it all. */
    static byte[] readBody(HttpExchange ex, int limit) throws IOException {
        String declared = ex.getRequestHeaders().getFirst("Content-Length");
        ApiException tooLarge = new ApiException(413, "invalid_request_error", null, "request_too_large",
                "the request body is larger than " + limit + " bytes");
        if (declared != null) {
            try {
                if (Long.parseLong(declared.trim()) > limit) throw tooLarge;
            } catch (NumberFormatException e) {
                throw ApiException.invalid(null, "bad Content-Length");
            }
        }
        try (InputStream in = ex.getRequestBody()) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] buf = new byte[8192];
            int r;
            while ((r = in.read(buf)) > 0) {
                out.write(buf, 0, r);
                if (out.size() > limit) throw tooLarge;
            }
            return out.toByteArray();
        }
    }

    static JsonNode parseJson(byte[] body) {
        try {
            return JSON.readTree(body);
        } catch (IOException e) {
            throw ApiException.invalid(null, "could not parse the JSON body: " + e.getMessage().lines().findFirst().orElse(""));
        }
    }

    static void send(HttpExchange ex, int status, String contentType, byte[] body) throws IOException {
        ex.getResponseHeaders().set("Content-Type", contentType);
        ex.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
        try (OutputStream os = ex.getResponseBody()) {
            os.write(body);
        }
    }

    static void sendJson(HttpExchange ex, int status, JsonNode body) throws IOException {
        send(ex, status, "application/json", JSON.writeValueAsBytes(body));
    }

    static void sendError(HttpExchange ex, ApiException e) throws IOException {
        if (e.status == 503) ex.getResponseHeaders().set("Retry-After", "1");
        sendJson(ex, e.status, e.toJson());
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
