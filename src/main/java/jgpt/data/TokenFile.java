package jgpt.data;

import java.nio.file.Path;

/** PLACEHOLDER (replaced on merge by the data branch's token file). */
public final class TokenFile implements AutoCloseable {
    private TokenFile() {}

    public static TokenFile open(Path path) {
        throw new UnsupportedOperationException("placeholder");
    }

    public long count() {
        throw new UnsupportedOperationException("placeholder");
    }

    public int vocabSize() {
        throw new UnsupportedOperationException("placeholder");
    }

    public String tokenizerName() {
        throw new UnsupportedOperationException("placeholder");
    }

    @Override
    public void close() {}

    /** PLACEHOLDER of the data branch's token-file writer. */
    public static final class Writer implements AutoCloseable {
        public Writer(Path path, String tokenizerName, int vocabSize) {
            throw new UnsupportedOperationException("placeholder");
        }

        public void write(int[] tokens) {}

        public void finish() {}

        @Override
        public void close() {}
    }
}
