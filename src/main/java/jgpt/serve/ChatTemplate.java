package jgpt.serve;

import java.util.List;

/**
 * The plain chat template for base models, which know no special chat tokens:
 * <pre>
 * System: {system message}
 * User: {user message}
 * Assistant: {assistant message}
 * User: {user message}
 * Assistant:</pre>
 * One line per message, in order, then {@code "Assistant:"} for the model to continue; generation
 * stops at {@link #STOP} ({@code "\nUser:"}), where a base model starts writing the user's next turn.
 */
final class ChatTemplate {
    static final String STOP = "\nUser:";

    record Message(String role, String content) {}

    private ChatTemplate() {}

    static String render(List<Message> messages) {
        StringBuilder b = new StringBuilder();
        for (Message m : messages) {
            b.append(switch (m.role()) {
                case "system", "developer" -> "System: ";
                case "user" -> "User: ";
                default -> "Assistant: ";
            }).append(m.content()).append('\n');
        }
        return b.append("Assistant:").toString();
    }
}
