package jgpt.data;

import jgpt.tokenizer.CharTokenizer;
import jgpt.tokenizer.Gpt2Tokenizer;
import jgpt.tokenizer.Tokenizer;
import jgpt.util.UserError;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;

/**
 * Turns text files into {@code train.bin}, {@code val.bin} and {@code tokenizer.json}.
 * Inputs are streamed in chunks (they may be far larger than memory); each file is one document,
 * and with gpt2 an end-of-text token separates documents. Validation is the fixed tail of the
 * token stream, so it never overlaps training text.
 */
public final class Prepare {
    /** What a run produced; {@code inputBytes} counts bytes on disk (compressed for .gz). */
    public record Stats(int documents, long inputBytes, long tokens, long trainTokens, long valTokens,
                        int vocabSize, double seconds) {
    }

    static final int CHUNK_CHARS = 1 << 20;
    private static final long PROGRESS_EVERY_NANOS = 5_000_000_000L;

    private Prepare() {
    }

    public static Stats prepare(List<Path> inputs, String tokenizerName, Path outDir, double valFraction) {
        Tokenizer.checkName(tokenizerName);
        if (!(valFraction > 0 && valFraction < 1)) {
            throw new UserError("val fraction must be between 0 and 1 (exclusive), got " + valFraction);
        }
        if (inputs.isEmpty()) {
            throw new UserError("no input files");
        }
        long inputBytes = 0;
        for (Path p : inputs) {
            if (!Files.isRegularFile(p)) {
                throw new UserError("input file not found: " + p);
            }
            inputBytes += size(p);
        }
        long start = System.nanoTime();
        Tokenizer tokenizer = tokenizerName.equals(Gpt2Tokenizer.NAME)
                ? Gpt2Tokenizer.get() : collectChars(inputs, inputBytes);

        createDirectories(outDir);
        Path train = outDir.resolve("train.bin");
        Path val = outDir.resolve("val.bin");
        long textTokens = 0;
        Progress progress = new Progress("tokenizing", inputBytes);
        try (var w = new TokenFile.Writer(train, tokenizer.name(), tokenizer.vocabSize())) {
            for (int d = 0; d < inputs.size(); d++) {
                if (d > 0 && tokenizer.eotToken() >= 0) {
                    w.write(new int[] {tokenizer.eotToken()});
                }
                long[] docTokens = {0};
                forEachChunk(inputs.get(d), progress, chunk -> {
                    int[] tokens = tokenizer.encode(chunk);
                    w.write(tokens);
                    docTokens[0] += tokens.length;
                    progress.tokens = w.count();
                });
                textTokens += docTokens[0];
            }
            w.finish();
        }

        long total;
        long valCount;
        try (TokenFile all = TokenFile.open(train)) {
            total = all.count();
            if (textTokens == 0) {
                throw new UserError("corpus is empty: no text in " + describe(inputs));
            }
            if (total < 2) {
                throw new UserError("corpus " + describe(inputs) + " has only " + total
                        + " token: too few for both a train and a val split");
            }
            valCount = Math.clamp(Math.round(total * valFraction), 1, total - 1);
            copyTail(all, valCount, val);
        } catch (UserError e) {
            deleteIfExists(train);
            throw e;
        }
        TokenFile.truncate(train, total - valCount);
        tokenizer.save(outDir.resolve("tokenizer.json"));

        double seconds = (System.nanoTime() - start) / 1e9;
        Stats stats = new Stats(inputs.size(), inputBytes, total, total - valCount, valCount,
                tokenizer.vocabSize(), seconds);
        System.err.printf("prepare: %d document(s), %s -> %,d %s tokens (vocab %d): %s %,d + %s %,d in %.1f s (%s tokens/s)%n",
                stats.documents(), Progress.bytes(inputBytes), total, tokenizer.name(), tokenizer.vocabSize(),
                train, stats.trainTokens(), val, valCount, seconds, Progress.rate(total, seconds));
        return stats;
    }

    /** First pass for the char tokenizer: its vocabulary is every code point in the corpus. */
    private static CharTokenizer collectChars(List<Path> inputs, long inputBytes) {
        CharTokenizer.Builder builder = new CharTokenizer.Builder();
        Progress progress = new Progress("collecting chars", inputBytes);
        for (Path p : inputs) {
            forEachChunk(p, progress, builder::add);
        }
        CharTokenizer tok = builder.build();
        if (tok.vocabSize() == 0) {
            throw new UserError("corpus is empty: no text in " + describe(inputs));
        }
        return tok;
    }

    private static void copyTail(TokenFile all, long tailCount, Path out) {
        int[] buf = new int[1 << 20];
        try (var w = new TokenFile.Writer(out, all.tokenizerName(), all.vocabSize())) {
            for (long i = all.count() - tailCount; i < all.count(); ) {
                int n = (int) Math.min(buf.length, all.count() - i);
                all.read(i, buf, 0, n);
                w.write(buf, 0, n);
                i += n;
            }
            w.finish();
        }
    }

    private static void forEachChunk(Path path, Progress progress, Consumer<String> sink) {
        try (Reader reader = openText(path, progress)) {
            TextChunker chunker = new TextChunker(reader, CHUNK_CHARS);
            for (String chunk = chunker.next(); chunk != null; chunk = chunker.next()) {
                sink.accept(chunk);
                progress.maybePrint();
            }
        } catch (CharacterCodingException e) {
            throw new UserError(path + ": not valid UTF-8 text");
        } catch (ZipException e) {
            throw new UserError(path + ": not a valid gzip file (" + e.getMessage() + ")");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + path, e);
        }
    }

    /** UTF-8 text, gunzipped when the name ends in .gz; malformed bytes are reported, not replaced. */
    private static Reader openText(Path path, Progress progress) throws IOException {
        InputStream in = new FilterInputStream(Files.newInputStream(path)) {
            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                int n = super.read(b, off, len);
                progress.bytes(n);
                return n;
            }
        };
        if (path.getFileName().toString().endsWith(".gz")) {
            in = new GZIPInputStream(in, 1 << 16);
        }
        return new InputStreamReader(in, StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT));
    }

    private static String describe(List<Path> inputs) {
        return inputs.size() == 1 ? inputs.getFirst().toString()
                : inputs.getFirst() + " and " + (inputs.size() - 1) + " more file(s)";
    }

    private static long size(Path p) {
        try {
            return Files.size(p);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + p, e);
        }
    }

    private static void createDirectories(Path dir) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UserError("cannot create output directory " + dir + " (" + e.getMessage() + ")");
        }
    }

    private static void deleteIfExists(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete " + p, e);
        }
    }

    /** Progress lines on stderr, at most one per few seconds, so small inputs print none. */
    private static final class Progress {
        private final String label;
        private final long totalBytes;
        private final long start = System.nanoTime();
        private long lastPrint = start;
        private long bytesRead;
        private long tokens;

        Progress(String label, long totalBytes) {
            this.label = label;
            this.totalBytes = totalBytes;
        }

        void bytes(int n) {
            if (n > 0) {
                bytesRead += n;
            }
        }

        void maybePrint() {
            long now = System.nanoTime();
            if (now - lastPrint >= PROGRESS_EVERY_NANOS) {
                lastPrint = now;
                double s = (now - start) / 1e9;
                System.err.printf("prepare: %s: %s of %s read (%.0f%%), %,d tokens, %s tokens/s%n", label,
                        bytes(bytesRead), bytes(totalBytes), 100.0 * bytesRead / Math.max(1, totalBytes),
                        tokens, rate(tokens, s));
            }
        }

        static String bytes(long n) {
            return n < 1 << 20 ? String.format("%.1f KB", n / 1024.0) : String.format("%.1f MB", n / 1048576.0);
        }

        static String rate(long tokens, double seconds) {
            double r = tokens / Math.max(seconds, 1e-9);
            return r >= 1e6 ? String.format("%.2fM", r / 1e6) : String.format("%.0fk", r / 1e3);
        }
    }
}
