package jgpt.train;

/** One human-readable progress line of the training log, with a bar made of characters. */
final class Progress {
    private static final int WIDTH = 20;

    private Progress() {}

    static String line(int step, int max, double loss, Double val, double lr, double norm,
                       double msPerStep, double tokensPerS, long etaS) {
        int filled = (int) ((long) WIDTH * step / max);
        String bar = "#".repeat(filled) + ".".repeat(WIDTH - filled);
        int digits = String.valueOf(max).length();
        return String.format("step %" + digits + "d/%d [%s] %5.1f%% | loss %.4f%s | lr %.2e | norm %.3f | %.0f ms/step | %s tok/s | ETA %s",
                step, max, bar, 100.0 * step / max, loss, val == null ? "" : String.format(" | val %.4f", val),
                lr, norm, msPerStep, human(tokensPerS), duration(etaS));
    }

    static String human(double x) {
        if (x >= 1e6) return String.format("%.2fM", x / 1e6);
        if (x >= 1e3) return String.format("%.1fk", x / 1e3);
        return String.format("%.0f", x);
    }

    static String duration(long s) {
        if (s >= 3600) return String.format("%dh%02dm", s / 3600, s % 3600 / 60);
        if (s >= 60) return String.format("%dm%02ds", s / 60, s % 60);
        return s + "s";
    }
}
