package jgpt.generate;

import java.util.List;
import jgpt.util.UserError;

/**
 * Finds stop strings in streamed text, where a stop string may straddle token boundaries. Feed
 * each decoded chunk to {@link #push}: it returns the text that is safe to show now and holds back
 * the longest tail that could still be the start of a stop string. On a stop, the stop string and
 * everything after it are dropped and every later call returns nothing. {@link #flush} releases
 * the held tail at the end of generation. One instance per sequence; not thread-safe.
 */
public final class StopSequences {

    /**
     * @param text    the text to emit now (possibly empty)
     * @param stopped whether a stop string has been hit; generation should end
     */
    public record Emission(String text, boolean stopped) {}

    private final List<String> stops;
    private final int longest;
    private String held = "";
    private boolean stopped;

    public StopSequences(List<String> stops) {
        for (String s : stops) {
            if (s.isEmpty()) throw new UserError("stop sequences must not be empty");
        }
        this.stops = List.copyOf(stops);
        this.longest = this.stops.stream().mapToInt(String::length).max().orElse(0);
    }

    public boolean stopped() {
        return stopped;
    }

    public Emission push(String chunk) {
        if (stopped) return new Emission("", true);
        String text = held + chunk;
        // the held tail never contains a whole stop string, so searching held + chunk finds each once
        int first = -1;
        for (String s : stops) {
            int at = text.indexOf(s);
            if (at >= 0 && (first < 0 || at < first)) first = at;
        }
        if (first >= 0) {
            stopped = true;
            held = "";
            return new Emission(text.substring(0, first), true);
        }
        int keep = partialStopSuffix(text);
        held = text.substring(text.length() - keep);
        return new Emission(text.substring(0, text.length() - keep), false);
    }

    /** Releases the held tail: generation ended without completing a stop string. */
    public String flush() {
        String out = held;
        held = "";
        return out;
    }

    /** Length of the longest suffix of {@code text} that is a proper prefix of some stop string. */
    private int partialStopSuffix(String text) {
        for (int len = Math.min(longest - 1, text.length()); len > 0; len--) {
            for (String s : stops) {
                if (len < s.length() && text.regionMatches(text.length() - len, s, 0, len)) return len;
            }
        }
        return 0;
    }
}
