package jgpt.serve;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * An error answered to the client in OpenAI's shape:
 * {@code {"error": {"message", "type", "param", "code"}}}. {@code param} names the offending request
 * field (null when none applies).
 */
final class ApiException extends RuntimeException {
    final int status;
    final String type;
    final String param;
    final String code;

    ApiException(int status, String type, String param, String code, String message) {
        super(message);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
    }

    /** A 400 invalid_request_error about one field. */
    static ApiException invalid(String param, String message) {
        return new ApiException(400, "invalid_request_error", param, null, message);
    }

    ObjectNode toJson() {
        ObjectNode root = JsonNodeFactory.instance.objectNode();
        ObjectNode e = root.putObject("error");
        e.put("message", getMessage());
        e.put("type", type);
        e.put("param", param);
        e.put("code", code);
        return root;
    }
}
