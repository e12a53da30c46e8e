package jgpt.cli;

import java.util.Locale;
import jgpt.generate.Explanation;
import jgpt.tokenizer.Tokenizer;

/** Renders a sampling {@link Explanation} as a small text table (for {@code jgpt sample --explain}). */
final class ExplainTable {
    private ExplainTable() {}

    /**
     * @param sample the sample number, or 0 when there is only one
     * @param index  the token's position among the generated tokens, from 1
     */
    static String format(Tokenizer tok, int sample, int index, Explanation e) {
        StringBuilder b = new StringBuilder();
        b.append(sample > 0 ? "[sample " + sample + "] " : "").append("token ").append(index).append(": drew ")
                .append(quote(tok, e.token())).append(String.format(Locale.ROOT, " (p %.4f)%n", Math.exp(e.logProb())));
        b.append(String.format(Locale.ROOT, "  %-12s %9s %9s %9s %9s %9s%n", "candidate", "before T", "after T", "top-k", "top-p", "final"));
        for (Explanation.Candidate c : e.candidates()) {
            b.append(String.format(Locale.ROOT, "%s %-12s %9.4f %9.4f %9.4f %9.4f %9.4f%n", c.token() == e.token() ? "*" : " ",
                    quote(tok, c.token()), c.pBeforeTemperature(), c.pAfterTemperature(), c.pAfterTopK(), c.pAfterTopP(), c.p()));
        }
        return b.toString();
    }

    /** A token's text, quoted, with control characters escaped so the table stays aligned. */
    static String quote(Tokenizer tok, int id) {
        String s = tok.decode(new int[] {id}).replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r");
        return "'" + s + "'";
    }
}
